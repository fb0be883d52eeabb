"""Bounded dependencies (issue 14 item 2): a database or Temporal that accepts TCP and never answers gives
503 with Retry-After within 2 s on every request (JSON for /api, /webhooks, /readyz; the HTML error page
for the UI), /healthz stays 200 without any I/O, and requests succeed again once the dependency answers.

Real parts only: the session's PostgreSQL behind tests/faults/tcp_proxy.py, which stalls or drops."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import pytest
import sqlalchemy as sa

from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.models import Lead, User
from tests.conftest import API_KEY, WEBHOOK_SECRETS, make_test_secrets, set_settings
from tests.faults.tcp_proxy import TcpProxy
from tests.helpers import process, signed_headers
from tests.ui.conftest import PASSWORD, UIClient, login, make_user

AUTH = {"Authorization": f"Bearer {API_KEY}"}
LIMIT_S = 2.0
EMAIL = "bounded.db@example.test"


@pytest.fixture
def proxied(migrated_urls):
    """(app, proxy): an app whose PostgreSQL is reached through a fault-injecting proxy."""
    url = sa.engine.make_url(migrated_urls["postgresql"])
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        settings = replace(Settings.from_env(), temporal_address=f"127.0.0.1:{_stalled_port()}")
        app = create_app(
            {"TESTING": True, "SQLALCHEMY_DATABASE_URI": through}, settings=settings, secrets=make_test_secrets()
        )
        app.test_client_class = UIClient
        with app.app_context():
            db.session.execute(sa.delete(User).where(User.email == EMAIL))
            make_user(EMAIL, "Bounded", role=_sales())
        yield app, proxy
        proxy.pass_through()
        with app.app_context():
            db.session.execute(sa.delete(User).where(User.email == EMAIL))
            db.session.commit()
            db.engine.dispose()


def _sales():
    from crm.models import Role

    return Role.SALES


_STALL_SINK: list[TcpProxy] = []


def _stalled_port() -> int:
    """A port that accepts TCP and never answers (for Temporal in these tests)."""
    if not _STALL_SINK:
        sink = TcpProxy("127.0.0.1", 9)
        sink.stall()
        _STALL_SINK.append(sink.__enter__())
    return _STALL_SINK[0].port


def timed(fn):
    start = time.monotonic()
    response = fn()
    return response, time.monotonic() - start


def signed_lead():
    body = json.dumps({"email": "stall@example.de", "first_name": "Stall"}).encode()
    return body, signed_headers(WEBHOOK_SECRETS[0], body)


def test_a_stalled_database_answers_503_within_2s_and_recovers(proxied):
    app, proxy = proxied
    api = app.test_client()
    ui = app.test_client()
    assert login(ui, EMAIL, PASSWORD).status_code == 302
    assert api.get("/api/v1/leads", headers=AUTH).status_code == 200  # pooled connections exist now
    assert ui.get("/leads").status_code == 200
    # The error page's templates are compiled once per process, as in production; a first 503 would
    # otherwise also measure that compile, which a loaded CI host once stretched past the bound.
    assert ui.get("/no-such-page", headers={"Accept": "text/html"}).status_code == 404

    proxy.stall()
    body, headers = signed_lead()
    requests = {
        "api": lambda: api.get("/api/v1/leads", headers=AUTH),
        "webhook": lambda: api.post("/webhooks/leads/website", data=body, headers=headers),
        "ui": lambda: ui.get("/leads", headers={"Accept": "text/html"}),
        "api again": lambda: api.get("/api/v1/leads", headers=AUTH),
    }
    for name, request in requests.items():
        r, took = timed(request)
        assert r.status_code == 503, (name, r.status_code, r.get_data(as_text=True)[:300])
        assert took < LIMIT_S, (name, took)
        assert int(r.headers["Retry-After"]) > 0
        if name == "ui":
            assert r.mimetype == "text/html"
        else:
            assert r.is_json and r.get_json()["code"] == 503
    r, took = timed(lambda: api.get("/readyz"))
    assert r.status_code == 503 and took < LIMIT_S and r.headers["Retry-After"]
    assert r.get_json()["checks"]["database"] in ("timeout", "unavailable")
    r, took = timed(lambda: api.get("/healthz"))
    assert r.status_code == 200 and took < 0.5  # liveness does no I/O

    proxy.pass_through()
    assert api.get("/api/v1/leads", headers=AUTH).status_code == 200
    assert ui.get("/leads").status_code == 200
    r = api.post("/webhooks/leads/website", data=body, headers=headers)
    assert r.status_code == 202, r.get_json()


def test_a_dropped_database_answers_503_at_once(proxied):
    app, proxy = proxied
    api = app.test_client()
    assert api.get("/api/v1/leads", headers=AUTH).status_code == 200
    proxy.drop()
    r, took = timed(lambda: api.get("/api/v1/leads", headers=AUTH))
    assert r.status_code == 503 and took < LIMIT_S and r.headers["Retry-After"]
    proxy.pass_through()
    assert api.get("/api/v1/leads", headers=AUTH).status_code == 200


def test_a_stalled_temporal_answers_503_within_2s(app, client):
    set_settings(app, temporal_address=f"127.0.0.1:{_stalled_port()}")
    r = client.post("/api/v1/leads", json={"email": "chain@example.de"}, headers=AUTH)
    lead_id = process(app, r)["lead_id"]
    with app.app_context():  # a chain id, as the chain's import step records it
        db.session.execute(sa.update(Lead).where(Lead.id == lead_id).values(chain_id=r.get_json()["chain_id"]))
        db.session.commit()
    for request in (
        lambda: client.get(f"/api/v1/leads/{lead_id}/chain", headers=AUTH),
        lambda: client.post(f"/api/v1/leads/{lead_id}/chain/pause", headers=AUTH),
        lambda: client.get(f"/api/v1/leads/{lead_id}/chain", headers=AUTH),
    ):
        r, took = timed(request)
        assert r.status_code == 503 and took < LIMIT_S, (r.status_code, took)
        assert r.headers["Retry-After"]
    r, took = timed(lambda: client.get("/readyz"))
    assert r.status_code == 503 and took < LIMIT_S
    assert r.get_json()["checks"]["temporal"] in ("timeout", "unavailable")


def test_healthz_does_no_io(migrated_urls):
    # Liveness answers while nothing behind the web does: no database, no Temporal.
    with TcpProxy("127.0.0.1", 9) as dead:
        dead.stall()
        url = f"postgresql+psycopg://nobody@127.0.0.1:{dead.port}/none"
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url}, secrets=make_test_secrets())
        r, took = timed(lambda: app.test_client().get("/healthz"))
        assert r.status_code == 200 and r.get_json() == {"status": "ok"} and took < 0.5
        assert dead.accepted == 0  # not even a TCP connection


async def test_readyz_names_each_check(temporal_env, openbao, migrated_urls):
    from crm.secrets import VaultSecrets

    target = temporal_env.client.service_client.config.target_host
    settings = replace(Settings.from_env(), temporal_address=target)
    loop = asyncio.get_running_loop()

    def ready_with(vault_url: str):
        app = create_app(
            {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]},
            settings=settings,
            secrets=VaultSecrets(openbao.url, openbao.root_token, timeout_s=1),
        )
        app.extensions["leadchain.secrets"] = VaultSecrets(vault_url, openbao.root_token, timeout_s=1)
        try:
            return timed(lambda: app.test_client().get("/readyz"))
        finally:
            with app.app_context():
                db.engine.dispose()

    (r, took) = await loop.run_in_executor(None, ready_with, openbao.url)
    assert r.status_code == 200 and took < LIMIT_S, r.get_json()
    assert r.get_json() == {"status": "ready", "checks": {"database": "ok", "vault": "ok", "temporal": "ok"}}
    with TcpProxy("127.0.0.1", 9) as hung_vault:
        hung_vault.stall()
        (r, took) = await loop.run_in_executor(None, ready_with, f"http://127.0.0.1:{hung_vault.port}")
    assert r.status_code == 503 and took < LIMIT_S and r.headers["Retry-After"]
    assert r.get_json()["checks"] == {"database": "ok", "vault": "timeout", "temporal": "ok"}


def test_statement_timeout_is_set_on_every_postgresql_connection(migrated_urls):
    def app_with(ms: int):
        settings = Settings().with_part("database", statement_timeout_ms=ms)
        return create_app(
            {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]},
            settings=settings,
            secrets=make_test_secrets(),
        )

    app = app_with(Settings().database.statement_timeout_ms)
    with app.app_context():
        assert db.session.scalar(sa.text("SHOW statement_timeout")) == "15s"
        db.engine.dispose()
    app = app_with(300)
    with app.app_context():
        start = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
            db.session.execute(sa.text("SELECT pg_sleep(5)"))
        assert time.monotonic() - start < 2
        db.session.rollback()
        db.engine.dispose()
    app = app_with(0)  # migrations: none
    with app.app_context():
        assert db.session.scalar(sa.text("SHOW statement_timeout")) == "0"
        db.engine.dispose()
