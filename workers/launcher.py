"""`leadchain up`: the whole local stack in one terminal, stopped together on Ctrl+C.

Temporal dev server (state in var/temporal.db, so a restart loses nothing), web (gunicorn), chain worker,
voice bridge (the sandbox's Retell calls talk to it through its Custom LLM WebSocket),
provider worker; then the demo team and sample leads. Local secrets are generated once into
var/local-secrets.env (git-ignored) when no Vault is configured; `leadchain` commands in another
terminal read the same file (crm.secrets.load_local_stack_secrets).

Shutdown goes in tiers, last started first: workers and the voice bridge, then web and sandbox, then
Temporal. Each child runs in its own process group, so Ctrl+C reaches only this launcher; before, the
terminal sent SIGINT to every process at once, Temporal was gone within a second, and the workers still
shutting down logged a burst of "tcp connect error" retries against it.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from crm import create_app, demo, secret_names
from crm.config import Settings, normalise_database_url, var_dir
from crm.extensions import db
from crm.secrets import LOCAL_SECRETS_FILE, EnvSecrets, read_local_secrets_file, secrets_from_env
from crm.services import app_settings
from crm.services.compliance import GatePolicy
from crm.tenancy.context import unit_of_work
from crm.tenancy.routing import DEFAULT_COMPANY_ID
from sandbox.openai_realtime import API_KEY as SANDBOX_OPENAI_KEY
from workers import banner, demo_window
from workers.shutdown import worker_shutdown_grace_s

# Stop order: the highest tier goes first; Temporal (tier 0) outlives every client of it.
TIER_TEMPORAL, TIER_SERVERS, TIER_WORKERS = 0, 1, 2
# Servers without long work (gunicorn's own graceful stop, the sandbox, Temporal) get this long.
SERVER_STOP_TIMEOUT_S = 15.0
METRICS_DIR = "prometheus-multiproc"  # under var/: the web processes' metric samples


# What the Temporal dev server itself logs while it stops: its internal system workers poll its own
# frontend, which is already closing. Expected, harmless, and a dozen lines on every Ctrl+C.
TEMPORAL_SHUTDOWN_NOISE = (
    'msg="Failed to poll for task."',
    'msg="network dial error"',
    'msg="Error closing gRPC connection on shutdown"',
)


@dataclass
class Service:
    name: str
    argv: list[str]
    url: str | None = None
    ready: str | None = None  # host:port that answers when the service is up
    env: dict[str, str] = field(default_factory=dict)
    tier: int = TIER_WORKERS
    # Output lines containing one of these are dropped once the launcher is stopping the service.
    quiet_when_stopping: tuple[str, ...] = ()
    stopping: threading.Event = field(default_factory=threading.Event)
    relay: threading.Thread | None = None  # copies the output when it is filtered


def _bin(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def _new_local_secrets() -> dict[str, str]:
    return {
        "LEADCHAIN_SECRET_APP_SECRET_KEY": secrets.token_urlsafe(32),
        "LEADCHAIN_SECRET_APP_CHAIN_KEY": secrets.token_hex(16),
        "LEADCHAIN_SECRET_WEBHOOKS_LEADS_DEMO": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        # The second demo company's own lead source (crm.demo.NORD), under its company's path.
        EnvSecrets.env_var(demo.source_secret_name(demo.NORD)): "whsec_"
        + base64.b64encode(secrets.token_bytes(32)).decode(),
        "LEADCHAIN_SECRET_API_KEYS": f"local:{secrets.token_urlsafe(24)}",
        # The voice bridge: Retell's path secret and Vapi's server secret (voice.bridge.config).
        "LEADCHAIN_SECRET_BRIDGE_RETELL_PATH_SECRET": secrets.token_urlsafe(24),
        "LEADCHAIN_SECRET_BRIDGE_VAPI_SECRET": secrets.token_urlsafe(24),
        # Issue 22: the bridge's Twilio Media Streams route, and the model key (the sandbox's Realtime stand-in).
        "LEADCHAIN_SECRET_BRIDGE_TWILIO_MEDIA_PATH_SECRET": secrets.token_urlsafe(24),
        "LEADCHAIN_SECRET_BRIDGE_REALTIME_API_KEY": SANDBOX_OPENAI_KEY,
    }


def local_secrets(var: Path) -> dict[str, str]:
    """Create or complete var/local-secrets.env; return its values not already set in the environment."""
    path = var / LOCAL_SECRETS_FILE
    existing = path.read_text() if path.exists() else ""
    have = {line.split("=", 1)[0] for line in existing.splitlines() if "=" in line}
    # A file from an older version gains the secrets added since; present values are never changed.
    missing = {k: v for k, v in _new_local_secrets().items() if k not in have}
    if missing:
        path.write_text(existing + "".join(f"{k}={v}\n" for k, v in missing.items()))
        path.chmod(0o600)
    # Process plumbing: what the stack's children inherit; variables already set win.
    return {k: v for k, v in read_local_secrets_file(path).items() if k not in os.environ}


LOCAL_RATELIMIT_STORAGE = "redis://127.0.0.1:6379/0"


def stack_environment(var: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every process of the local stack gets (the web's secrets are the CLI's)."""
    # Process plumbing: the children's environment starts as this process's (Settings.from_env reads it there).
    env = dict(os.environ if base is None else base)
    demo_window.check_allowed(env)  # before anything is written: raises DemoAnytimeRefused off SQLite
    # Providers without a configured key are served by the sandbox (providers.factory).
    env.update({"TEMPORAL_ADDRESS": "127.0.0.1:7233", "LEADCHAIN_SANDBOX_URL": "http://127.0.0.1:8099"})
    # The local stack is plain http on loopback: a Secure (__Host-) cookie would not come back to it.
    env.setdefault("LEADCHAIN_COOKIE_SECURE", "0")
    # Two gunicorn workers: login, API-key and signature limits are counted in the machine's Redis so that
    # they hold across both (memory:// only when set explicitly, for a single process).
    env.setdefault("LEADCHAIN_RATELIMIT_STORAGE", LOCAL_RATELIMIT_STORAGE)
    # The sandbox bills in USD like the real providers; the demo shows costs in euros at a stated example
    # rate (every amount names the rate it used). Production sets its own rates or admins enter them.
    env.setdefault("LEADCHAIN_FX_RATES", "USD:EUR=0.92")
    if "VAULT_ADDR" not in env:
        env.update({k: v for k, v in local_secrets(var).items() if k not in env})
    env.update(demo_window.calling_hours_env(env))
    # The own audio agent (issue 22): the bridge's model is the sandbox's OpenAI Realtime stand-in.
    env.setdefault("LEADCHAIN_BRIDGE_REALTIME_URL", f"ws://127.0.0.1:{REALTIME_PORT}/v1")
    return env


BRIDGE_HOST, BRIDGE_PORT = "127.0.0.1", 8765
REALTIME_PORT = 8098  # the sandbox's OpenAI Realtime stand-in


def bridge_llm_url(env: dict[str, str]) -> str | None:
    """The Retell custom-LLM URL of the local voice bridge, with its path secret (None without one)."""
    try:
        values = secrets_from_env(env).get_list(secret_names.BRIDGE_RETELL_PATH_SECRET)
    except Exception as e:  # noqa: BLE001 - Vault trouble: the sandbox plays scripted calls instead
        print(
            f"voice bridge path secret unavailable ({type(e).__name__}); sandbox calls stay scripted", file=sys.stderr
        )
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


def _radicale(var: Path) -> Service:
    """The reps' calendars in the local stack (issue 18): a CalDAV server (Radicale) on loopback with its own
    folder under var/; it accepts any login (auth none) as nothing but this machine reaches it."""
    argv = [sys.executable, "-m", "radicale", "--server-hosts", "127.0.0.1:5232"]
    argv += ["--storage-filesystem-folder", str(var / "radicale"), "--auth-type", "none"]
    # Its INFO level prints some seventy lines of configuration at every start, burying the banner.
    argv += ["--logging-level", "warning"]
    return Service(
        "radicale",
        argv,
        url="http://127.0.0.1:5232/  (CalDAV calendars: Radicale, any login)",
        ready="127.0.0.1:5232",
        tier=TIER_SERVERS,
    )


def _sandbox(leadchain: str, host: str, port: int, llm_url: str | None) -> Service:
    """The provider sandbox, with the OpenAI Realtime stand-in the bridge's own-agent calls talk to."""
    argv = [leadchain, "sandbox", "--port", "8099", "--webhook-base", f"http://{host}:{port}"]
    return Service(
        "sandbox",
        [*argv, "--realtime-port", str(REALTIME_PORT)],
        url="http://127.0.0.1:8099/sandbox/calls  (provider sandbox: Retell, Vapi, Bland, Twilio, SendGrid; "
        f"OpenAI Realtime ws://127.0.0.1:{REALTIME_PORT}/v1)",
        ready="127.0.0.1:8099",
        # The URL (it holds the bridge's path secret) goes by environment, not argv: argv is world-readable.
        env={"LEADCHAIN_SANDBOX_RETELL_LLM_URL": llm_url} if llm_url else {},
        tier=TIER_SERVERS,
    )


def local_services(host: str, port: int, var: Path, llm_url: str | None = None) -> list[Service]:
    temporal = [
        _bin("temporal"),
        "server",
        "start-dev",
        "--db-filename",
        str(var / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        "7233",
        "--ui-port",
        "8233",
        "--search-attribute",
        "LeadStage=Keyword",
        "--search-attribute",
        "CompanyId=Int",  # docs/tenancy.md rule 4
        # Chains carry their company as a fairness key (workers/relay.py): tasks of different companies
        # are dispatched round-robin, so one company's import does not hold up another's calls.
        "--dynamic-config-value",
        "matching.enableFairness=true",
        "--log-level",
        "warn",
    ]
    leadchain = _bin("leadchain")
    return [
        Service(
            "temporal",
            temporal,
            url="http://127.0.0.1:8233  (Temporal UI; frontend 127.0.0.1:7233)",
            ready="127.0.0.1:7233",
            tier=TIER_TEMPORAL,
            quiet_when_stopping=TEMPORAL_SHUTDOWN_NOISE,
        ),
        _sandbox(leadchain, host, port, llm_url),
        Service(
            "web",
            [
                _bin("gunicorn"),
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--access-logfile",
                "-",
                "crm.wsgi:app",
            ],
            url=f"http://{host}:{port}/  (API spec: /api/openapi.json)",
            ready=f"{host}:{port}",
            tier=TIER_SERVERS,
            # /metrics adds up both gunicorn processes (docs/observability.md §1); emptied at each start.
            env={"PROMETHEUS_MULTIPROC_DIR": str(var / METRICS_DIR)},
        ),
        # Each worker's /metrics on its own port (one host; the bridge has 9465).
        Service("chain", [leadchain, "worker", "chain"], env={"LEADCHAIN_WORKER_METRICS_PORT": "9464"}),
        Service("provider", [leadchain, "worker", "provider"], env={"LEADCHAIN_WORKER_METRICS_PORT": "9466"}),
        Service("reports", [leadchain, "worker", "reports"], env={"LEADCHAIN_WORKER_METRICS_PORT": "9467"}),
        _radicale(var),
        Service("calendars", [leadchain, "worker", "calendars"], env={"LEADCHAIN_WORKER_METRICS_PORT": "9468"}),
        Service(
            "bridge",
            [leadchain, "worker", "voice-bridge"],
            url=f"ws://{BRIDGE_HOST}:{BRIDGE_PORT}/llm-websocket/<secret>/<call id>  (voice bridge; "
            "metrics on 127.0.0.1:9465)",
            ready=f"{BRIDGE_HOST}:{BRIDGE_PORT}",
            env={"LEADCHAIN_BRIDGE_HOST": BRIDGE_HOST, "LEADCHAIN_BRIDGE_PORT": str(BRIDGE_PORT)},
        ),
    ]


def start_service(svc: Service, env: dict[str, str], output: IO | None = None) -> subprocess.Popen:
    """Start `svc` (its output to the terminal, or to `output` with stderr merged)."""
    # A process group of its own: the terminal's Ctrl+C (SIGINT to the foreground group) reaches only the
    # launcher, which then stops the children in order.
    if not svc.quiet_when_stopping:
        return subprocess.Popen(
            svc.argv,
            env={**env, **svc.env},
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
        )
    proc = subprocess.Popen(
        svc.argv, env={**env, **svc.env}, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    svc.relay = threading.Thread(
        target=_relay_output, args=(svc, proc.stdout, output), daemon=True, name=f"{svc.name}-output"
    )
    svc.relay.start()
    return proc


def _relay_output(svc: Service, source: IO[bytes], sink: IO | None) -> None:
    """Copy a child's output line by line, minus its known shutdown noise once it is being stopped."""
    out = sink if sink is not None else sys.stdout.buffer
    for line in iter(source.readline, b""):
        if svc.stopping.is_set() and any(n.encode() in line for n in svc.quiet_when_stopping):
            continue
        out.write(line)
        out.flush()
    source.close()


def stop_services(procs: list[tuple[Service, subprocess.Popen]], *, worker_grace_s: float, log=print) -> None:
    """SIGTERM tier by tier (workers, then servers, then Temporal), waiting for each tier to exit.

    Workers get their graceful shutdown period (running activities finish) plus a margin before SIGKILL.
    """
    for tier in sorted({svc.tier for svc, _ in procs}, reverse=True):
        group = [(svc, proc) for svc, proc in procs if svc.tier == tier]
        for svc, proc in reversed(group):
            svc.stopping.set()
            if proc.poll() is None:
                proc.terminate()
        timeout = worker_grace_s + 10 if tier == TIER_WORKERS else SERVER_STOP_TIMEOUT_S
        deadline = time.monotonic() + timeout
        for svc, proc in group:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{svc.name} did not stop within {timeout:.0f} s; killing it")
                proc.kill()
                proc.wait()
            if svc.relay is not None:
                svc.relay.join(timeout=5)  # its last lines before whatever is printed next


DEMO_CALL = "leadchain demo-call --provider twilio_realtime"


def twilio_env(env: dict[str, str], host: str, port: int) -> dict[str, str]:
    """Where Twilio's calls stream to (the local bridge's route, with its path secret) and where its status
    callbacks go (the web app, also the URL their signatures are checked against); empty without a secret."""
    try:
        values = secrets_from_env(env).get_list(secret_names.BRIDGE_TWILIO_MEDIA_PATH_SECRET)
    except Exception:  # noqa: BLE001 - Vault trouble: no Twilio calls, the rest of the stack runs
        return {}
    if not values:
        return {}
    return {
        "LEADCHAIN_PUBLIC_URL": env.get("LEADCHAIN_PUBLIC_URL") or f"http://{host}:{port}",
        "LEADCHAIN_TWILIO_STREAM_URL": env.get("LEADCHAIN_TWILIO_STREAM_URL")
        or f"ws://{BRIDGE_HOST}:{BRIDGE_PORT}/twilio/media/{values[0]}",
        "LEADCHAIN_TWILIO_FROM_NUMBER": env.get("LEADCHAIN_TWILIO_FROM_NUMBER") or "+4930555000",
    }


def run_local_stack(host: str = "127.0.0.1", port: int = 5000) -> int:
    var = var_dir()
    var.mkdir(parents=True, exist_ok=True)
    try:
        env = stack_environment(var)
    except demo_window.DemoAnytimeRefused as e:
        print(e, file=sys.stderr)
        return 2
    env.update(twilio_env(env, host, port))
    leadchain = _bin("leadchain")
    subprocess.run([leadchain, "db-upgrade"], check=True, env=env)
    subprocess.run([leadchain, "seed-demo"], check=True, env=env)
    shutil.rmtree(var / METRICS_DIR, ignore_errors=True)  # the web's samples start from zero
    (var / METRICS_DIR).mkdir()

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
            procs.append((svc, start_service(svc, env)))
            if svc.ready and not _wait_port(svc.ready, 60):
                print(f"{svc.name} did not come up on {svc.ready}", file=sys.stderr)
                return 1
        print(stack_banner(procs, host, port, var, env), flush=True)
        print("One own-agent call (Twilio -> voice bridge -> OpenAI Realtime, all local): " + DEMO_CALL, flush=True)
        if not stopping:
            # The demo's Bland inbound number (crm.demo) pointed at this CRM, at the sandbox's Bland, which holds
            # numbers in memory: again at every start (idempotent).
            subprocess.run([leadchain, "inbound-configure-bland", "--url", f"http://{host}:{port}"], env=env)
        if "LEADCHAIN_SECRET_WEBHOOKS_LEADS_DEMO" in env and not stopping:
            subprocess.run([leadchain, "demo", "--url", f"http://{host}:{port}"], env=env)
            _post_second_company_leads(f"http://{host}:{port}", env)
        if not stopping:
            _demo_inbound_call(f"http://{host}:{port}", env)
        print("Ctrl+C stops everything.\n", flush=True)
        while not stopping:
            for svc, proc in procs:
                if proc.poll() is not None:
                    print(f"{svc.name} exited with {proc.returncode}; stopping the stack", file=sys.stderr)
                    exit_code, stopping = proc.returncode or 1, True
            time.sleep(0.5)
    finally:
        print("stopping: workers, then web and sandbox, then Temporal", flush=True)
        stop_services(
            procs, worker_grace_s=worker_shutdown_grace_s(env), log=lambda message: print(message, file=sys.stderr)
        )
    return exit_code


def _post_second_company_leads(url: str, env: dict[str, str]) -> None:
    """Solar Nord's demo leads through its own lead source (`leadchain demo` posts Autohaus Berger's)."""
    found = secrets_from_env(env).get_list(demo.source_secret_name(demo.NORD))
    if not found:
        print(f"no secret for lead source {demo.NORD.source}: {demo.NORD.name}'s demo leads not sent", file=sys.stderr)
        return
    try:
        for answer in demo.post_demo_leads(url, demo.NORD.source, found[0]):
            print(demo.describe_answer(answer), flush=True)
    except httpx.HTTPError as e:  # the stack keeps running; the leads can be sent again by hand
        print(f"{demo.NORD.name}'s demo leads not sent ({type(e).__name__})", file=sys.stderr)


def _demo_inbound_call(url: str, env: dict[str, str]) -> None:
    """One inbound call on the demo data (issue 17 item 6): a caller nobody knows rings Autohaus Berger's Bland
    number and leaves a message (the sandbox plays Bland's side: the dynamic-data request, the agent's tool
    request to the CRM, the signed post-call webhook); the CRM makes them a lead from the phone with a
    callback task. A failure is printed; the stack keeps running."""
    number, sandbox = demo.BERGER.bland_number, env.get("LEADCHAIN_SANDBOX_URL")
    if not number or not sandbox:
        return
    try:
        answer = httpx.post(f"{sandbox}/sandbox/inbound/bland/persona/unknown_caller", json={"to": number}, timeout=60)
        run = answer.json()
    except (httpx.HTTPError, ValueError) as e:
        print(f"demo inbound call not placed ({type(e).__name__})", file=sys.stderr)
        return
    if answer.status_code != 200 or not run.get("accepted"):
        print(f"demo inbound call not answered: {answer.status_code} {run.get('error') or ''}", file=sys.stderr)
        return
    print(
        f"inbound demo call: an unknown caller rang {demo.BERGER.name} on {number} (Bland) and left a message"
        f" in {len(run.get('transcript') or [])} turns; the caller is a new lead with a callback task:"
        f" {url}/leads?source=phone",
        flush=True,
    )


def stack_banner(
    procs: list[tuple[Service, subprocess.Popen]], host: str, port: int, var: Path, env: dict[str, str]
) -> str:
    """The banner (workers/banner.py) with the calling hours in force: env's, or an admin's stored ones."""
    policy, stored = GatePolicy.from_env(env), False
    try:
        policy, stored = _with_stored_calling_hours(policy, env, var)
    except Exception as e:  # noqa: BLE001 - the banner must not stop the stack; the env's hours are shown
        print(f"could not read stored calling hours ({type(e).__name__})", file=sys.stderr)
    secrets_file = var / LOCAL_SECRETS_FILE
    return banner.render(
        services=[(svc.name, svc.url) for svc, _ in procs if svc.url],
        base_url=f"http://{host}:{port}/",
        secrets_file=secrets_file if secrets_file.exists() and "VAULT_ADDR" not in env else None,
        leadchain=_bin("leadchain"),
        var_dir_override=env.get("LEADCHAIN_VAR_DIR"),
        policy=policy,
        demo_anytime=demo_window.requested(env),
        stored_hours=stored,
        password_from_env=bool(env.get("LEADCHAIN_DEMO_PASSWORD")),
    )


def _with_stored_calling_hours(policy, env: dict[str, str], var: Path):
    """Calling hours an admin stored in Settings replace the environment's, as in the gate."""
    settings = Settings.from_env(env)
    url = normalise_database_url(env.get("DATABASE_URL") or f"sqlite:///{var / 'leadchain.db'}")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url}, settings=settings, secrets=secrets_from_env(env))
    # The first demo company's (company 1's) hours: the banner speaks for the installation's own company.
    with app.app_context(), unit_of_work(DEFAULT_COMPANY_ID):
        try:
            hours = app_settings.calling_hours()
        finally:
            db.session.remove()
            db.engine.dispose()
    return (policy, False) if hours is None else (policy.with_calling_hours(hours), True)
