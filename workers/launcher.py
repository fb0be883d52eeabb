"""`leadchain up`: the whole local stack in one terminal, stopped together on Ctrl+C.

Temporal dev server (state in var/temporal.db, so a restart loses nothing), web (gunicorn), chain worker,
provider worker; then the demo team and sample leads. Local secrets are generated once into
var/local-secrets.env (git-ignored) when no Vault is configured.
"""
from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from crm.config import PROJECT_ROOT


@dataclass
class Service:
    name: str
    argv: list[str]
    url: str | None = None
    ready: str | None = None  # host:port that answers when the service is up
    env: dict[str, str] = field(default_factory=dict)


def _bin(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def local_secrets(var: Path) -> dict[str, str]:
    path = var / "local-secrets.env"
    if not path.exists():
        values = {
            "LEADCHAIN_SECRET_APP_SECRET_KEY": secrets.token_urlsafe(32),
            "LEADCHAIN_SECRET_APP_CHAIN_KEY": secrets.token_hex(16),
            "LEADCHAIN_SECRET_WEBHOOKS_LEADS_DEMO": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "LEADCHAIN_SECRET_API_KEYS": f"local:{secrets.token_urlsafe(24)}",
        }
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if k not in os.environ}


def _wait_port(hostport: str, timeout: float) -> bool:
    host, port = hostport.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def local_services(host: str, port: int, var: Path) -> list[Service]:
    temporal = [_bin("temporal"), "server", "start-dev", "--db-filename", str(var / "temporal.db"),
                "--ip", "127.0.0.1", "--port", "7233", "--ui-port", "8233",
                "--search-attribute", "LeadStage=Keyword", "--log-level", "warn"]
    leadchain = _bin("leadchain")
    return [
        Service("temporal", temporal, url="http://127.0.0.1:8233  (Temporal UI; frontend 127.0.0.1:7233)",
                ready="127.0.0.1:7233"),
        Service("sandbox", [leadchain, "sandbox", "--port", "8099", "--webhook-base", f"http://{host}:{port}"],
                url="http://127.0.0.1:8099/sandbox/calls  (provider sandbox: Retell, Vapi, Bland, SendGrid)",
                ready="127.0.0.1:8099"),
        Service("web", [_bin("gunicorn"), "--bind", f"{host}:{port}", "--workers", "2", "--access-logfile", "-",
                        "crm:create_app()"], url=f"http://{host}:{port}/  (API spec: /api/openapi.json)",
                ready=f"{host}:{port}"),
        Service("chain", [leadchain, "worker", "chain"]),
        Service("provider", [leadchain, "worker", "provider"]),
        Service("reports", [leadchain, "worker", "reports"]),
    ]


def run_local_stack(host: str = "127.0.0.1", port: int = 5000) -> int:
    var = Path(os.environ.get("LEADCHAIN_VAR_DIR", PROJECT_ROOT / "var"))
    var.mkdir(parents=True, exist_ok=True)
    # Providers without a configured key are served by the sandbox (voice.providers.factory).
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:7233", "LEADCHAIN_SANDBOX_URL": "http://127.0.0.1:8099"}
    if "VAULT_ADDR" not in env:
        env.update(local_secrets(var))
    leadchain = _bin("leadchain")
    subprocess.run([leadchain, "db-upgrade"], check=True, env=env)
    subprocess.run([leadchain, "seed-demo"], check=True, env=env)

    procs: list[tuple[Service, subprocess.Popen]] = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    try:
        for svc in local_services(host, port, var):
            procs.append((svc, subprocess.Popen(svc.argv, env={**env, **svc.env})))
            if svc.ready and not _wait_port(svc.ready, 60):
                print(f"{svc.name} did not come up on {svc.ready}", file=sys.stderr)
                return 1
        print("\nleadchain local stack is up:")
        for svc, _ in procs:
            if svc.url:
                print(f"  {svc.name:10s} {svc.url}")
        print(f"  secrets    {var / 'local-secrets.env'} (local only)")
        if "LEADCHAIN_SECRET_WEBHOOKS_LEADS_DEMO" in env and not stopping:
            subprocess.run([leadchain, "demo", "--url", f"http://{host}:{port}"], env=env)
        print("Ctrl+C stops everything.\n", flush=True)
        while not stopping:
            for svc, proc in procs:
                if proc.poll() is not None:
                    print(f"{svc.name} exited with {proc.returncode}; stopping the stack", file=sys.stderr)
                    exit_code, stopping = proc.returncode or 1, True
            time.sleep(0.5)
    finally:
        for _, proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 20
        for _, proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
    return exit_code
