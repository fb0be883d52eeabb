"""`leadchain up`: the whole local stack in one terminal, stopped together on Ctrl+C.

Temporal dev server (state in var/temporal.db, so a restart loses nothing), web (gunicorn), chain worker,
voice bridge (the sandbox's Retell calls talk to it through its Custom LLM WebSocket),
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


def _new_local_secrets() -> dict[str, str]:
    return {
        "LEADCHAIN_SECRET_APP_SECRET_KEY": secrets.token_urlsafe(32),
        "LEADCHAIN_SECRET_APP_CHAIN_KEY": secrets.token_hex(16),
        "LEADCHAIN_SECRET_WEBHOOKS_LEADS_DEMO": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "LEADCHAIN_SECRET_API_KEYS": f"local:{secrets.token_urlsafe(24)}",
        # The voice bridge: Retell's path secret and Vapi's server secret (voice.bridge.config).
        "LEADCHAIN_SECRET_BRIDGE_RETELL_PATH_SECRET": secrets.token_urlsafe(24),
        "LEADCHAIN_SECRET_BRIDGE_VAPI_SECRET": secrets.token_urlsafe(24),
    }


def local_secrets(var: Path) -> dict[str, str]:
    path = var / "local-secrets.env"
    existing = path.read_text() if path.exists() else ""
    have = {line.split("=", 1)[0] for line in existing.splitlines() if "=" in line}
    # A file from an older version gains the secrets added since; present values are never changed.
    missing = {k: v for k, v in _new_local_secrets().items() if k not in have}
    if missing:
        path.write_text(existing + "".join(f"{k}={v}\n" for k, v in missing.items()))
        path.chmod(0o600)
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if k not in os.environ}


BRIDGE_HOST, BRIDGE_PORT = "127.0.0.1", 8765


def bridge_llm_url(env: dict[str, str]) -> str | None:
    """The Retell custom-LLM URL of the local voice bridge, with its path secret (None without one)."""
    from crm.secrets import secrets_from_env
    try:
        values = secrets_from_env(env).get_list("bridge/retell-path-secret")
    except Exception as e:  # noqa: BLE001 - Vault trouble: the sandbox plays scripted calls instead
        print(f"voice bridge path secret unavailable ({type(e).__name__}); sandbox calls stay scripted",
              file=sys.stderr)
        return None
    return f"ws://{BRIDGE_HOST}:{BRIDGE_PORT}/llm-websocket/{values[0]}" if values else None


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


def local_services(host: str, port: int, var: Path, llm_url: str | None = None) -> list[Service]:
    temporal = [_bin("temporal"), "server", "start-dev", "--db-filename", str(var / "temporal.db"),
                "--ip", "127.0.0.1", "--port", "7233", "--ui-port", "8233",
                "--search-attribute", "LeadStage=Keyword", "--log-level", "warn"]
    leadchain = _bin("leadchain")
    return [
        Service("temporal", temporal, url="http://127.0.0.1:8233  (Temporal UI; frontend 127.0.0.1:7233)",
                ready="127.0.0.1:7233"),
        # The URL (it holds the bridge's path secret) goes by environment, not argv: argv is world-readable.
        Service("sandbox", [leadchain, "sandbox", "--port", "8099", "--webhook-base", f"http://{host}:{port}"],
                url="http://127.0.0.1:8099/sandbox/calls  (provider sandbox: Retell, Vapi, Bland, SendGrid)",
                ready="127.0.0.1:8099", env={"LEADCHAIN_SANDBOX_RETELL_LLM_URL": llm_url} if llm_url else {}),
        Service("web", [_bin("gunicorn"), "--bind", f"{host}:{port}", "--workers", "2", "--access-logfile", "-",
                        "crm:create_app()"], url=f"http://{host}:{port}/  (API spec: /api/openapi.json)",
                ready=f"{host}:{port}"),
        Service("chain", [leadchain, "worker", "chain"]),
        Service("provider", [leadchain, "worker", "provider"]),
        Service("reports", [leadchain, "worker", "reports"]),
        Service("bridge", [leadchain, "worker", "voice-bridge"],
                url=f"ws://{BRIDGE_HOST}:{BRIDGE_PORT}/llm-websocket/<secret>/<call id>  (voice bridge; "
                    "metrics on 127.0.0.1:9465)", ready=f"{BRIDGE_HOST}:{BRIDGE_PORT}",
                env={"LEADCHAIN_BRIDGE_HOST": BRIDGE_HOST, "LEADCHAIN_BRIDGE_PORT": str(BRIDGE_PORT)}),
    ]


def run_local_stack(host: str = "127.0.0.1", port: int = 5000) -> int:
    var = Path(os.environ.get("LEADCHAIN_VAR_DIR", PROJECT_ROOT / "var"))
    var.mkdir(parents=True, exist_ok=True)
    # Providers without a configured key are served by the sandbox (voice.providers.factory).
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:7233", "LEADCHAIN_SANDBOX_URL": "http://127.0.0.1:8099"}
    # The local stack is plain http on loopback: a Secure (__Host-) cookie would not come back to it.
    env.setdefault("LEADCHAIN_COOKIE_SECURE", "0")
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
        for svc in local_services(host, port, var, bridge_llm_url(env)):
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
