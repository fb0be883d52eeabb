"""/healthz is liveness, /readyz is readiness (issue 14 item 2).

/healthz does no I/O at all: 200 while the process can answer HTTP. A load balancer or orchestrator that
restarted the web whenever the database hiccupped would turn a database outage into a web outage.

/readyz checks what the web needs to take work: the database (a round trip), the secrets store when it
is a remote Vault (its unauthenticated sys/health), and Temporal (its gRPC health check). The checks run
side by side, each bounded by `readiness_timeout_s` (0.8 s by default), so the answer comes within about
a second; JSON names each check; any failure is a 503 with Retry-After."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import requests
import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify

from crm.extensions import db
from crm.secrets import VaultSecrets
from crm.temporal_gateway import gateway

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
RETRY_AFTER_S = 5
# Vault's sys/health: 200 active, 429 unsealed standby, 472/473 DR/performance standby: all can serve.
VAULT_READY = {200, 429, 472, 473}
_pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="readyz")


@bp.get("/healthz")
def healthz():
    """Liveness: no database, no Temporal, no Vault."""
    return jsonify(status="ok")


def _check_database(app: Flask, timeout_s: float) -> None:
    with app.app_context():
        engine = db.engine
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
            conn.execute(sa.text("SELECT 1"))


def _check_vault(app: Flask, timeout_s: float) -> None:
    url = app.extensions["leadchain.secrets"].url.rstrip("/")
    response = requests.get(f"{url}/v1/sys/health", timeout=timeout_s)
    if response.status_code not in VAULT_READY:
        raise RuntimeError(f"Vault answered {response.status_code}")


def _check_temporal(app: Flask, timeout_s: float) -> None:
    gateway(app).check(timeout_s)


CHECKS: dict[str, Callable[[Flask, float], None]] = {
    "database": _check_database,
    "vault": _check_vault,
    "temporal": _check_temporal,
}


@bp.get("/readyz")
def readyz():
    """Readiness: database, Vault (when the secrets store is one) and Temporal, each within the timeout."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    timeout_s = app.config["LEADCHAIN"].readiness_timeout_s
    checks: dict[str, str] = {}
    remote = {name: check for name, check in CHECKS.items() if name != "vault" or _uses_vault(app)}
    if not _uses_vault(app):
        checks["vault"] = "not used"  # secrets from the environment: nothing to reach
    futures = {name: _pool.submit(check, app, timeout_s) for name, check in remote.items()}
    wait(futures.values(), timeout=timeout_s + 0.2)
    for name, future in futures.items():
        error = future.exception() if future.done() else None
        if not future.done() or isinstance(error, TimeoutError | requests.Timeout):
            checks[name] = "timeout"
        elif error is not None:
            log.warning("readiness check %s failed: %s", name, type(error).__name__)
            checks[name] = "unavailable"
        else:
            checks[name] = "ok"
    ready = all(state in ("ok", "not used") for state in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    if ready:
        return jsonify(body)
    return jsonify(body), 503, {"Retry-After": str(RETRY_AFTER_S)}


def _uses_vault(app: Flask) -> bool:
    return isinstance(app.extensions["leadchain.secrets"], VaultSecrets)
