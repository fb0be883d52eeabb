"""The local stack for a chaos run: every piece a separate process of ours on a free loopback port.

Temporal dev server (state in the run directory's --db-filename, so a restart loses nothing), the provider
sandbox (bench/chaos/sandbox_proc.py: the real sandbox plus its ledger route), the web under gunicorn
(two sync workers, as `leadchain up`), and the chain (with the outbox relay), provider and reports workers
— argv as workers/launcher.py builds them, ports and database ours. PostgreSQL is a fresh database on
the machine's server (LEADCHAIN_TEST_PG's, default 127.0.0.1:5432), reached by every stack process through
tests/faults/tcp_proxy.py so that connections can be dropped or stalled (F9). Everything is stopped at the
end, each process group by the id of the process we started.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict

from tests.faults.tcp_proxy import TcpProxy
from tests.throwaway_pg import configured_url, sqlalchemy_url

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
SOURCE = "chaos"
ALL_HOURS = {"days": "mon-sun", "start": "00:00", "end": "23:59:59.999999"}
# Chain durations for the run: a result that a worker outage kept from its chain is polled for within
# minutes (issue 14: "minutes, not an hour"); everything else keeps its production default.
CHAIN_SETTINGS = {"call_result_timeout_s": 120, "call_poll_interval_s": 30, "max_call_polls": 6}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


@dataclass
class Proc:
    name: str
    argv: list[str]
    port: int | None = None  # answers when the process is up
    popen: subprocess.Popen | None = None
    starts: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)


# The run's secrets by their crm.secret_names name (what VaultSecrets reads) and environment variable.
SECRET_NAMES = {
    "LEADCHAIN_SECRET_APP_SECRET_KEY": "app/secret-key",
    "LEADCHAIN_SECRET_APP_CHAIN_KEY": "app/chain-key",
    f"LEADCHAIN_SECRET_WEBHOOKS_LEADS_{SOURCE.upper()}": f"webhooks/leads-{SOURCE}",
    "LEADCHAIN_SECRET_API_KEYS": "api/keys",
    "LEADCHAIN_SECRET_BRIDGE_RETELL_PATH_SECRET": "bridge/retell-path-secret",
    "LEADCHAIN_SECRET_BRIDGE_VAPI_SECRET": "bridge/vapi-secret",
}


@dataclass
class Stack:
    run_dir: Path
    web_workers: int = 2
    step_s: float = 0.2
    procs: dict[str, Proc] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    db_name: str = ""
    pg_proxy: TcpProxy | None = None
    temporal_port: int = 0
    web_port: int = 0
    sandbox_port: int = 0
    run_tag: str = ""
    source: Path = ROOT  # the code the stack runs: this checkout, or a snapshot (snapshot_head)
    chain_settings: dict[str, int] = field(default_factory=lambda: dict(CHAIN_SETTINGS))
    # F12: the stack reads its secrets from an OpenBao dev server of its own (VAULT_ADDR), not the environment.
    vault: bool = True
    bao_port: int = 0
    bao_token: str = ""
    # F10: the voice bridge runs and the sandbox's Retell calls talk to it (its Custom LLM WebSocket).
    bridge: bool = True
    bridge_port: int = 0
    # --prometheus: a real Prometheus (Debian's /usr/bin/prometheus) scrapes the web, the workers and the
    # bridge every 5 s during the run; bench/render_dashboard.py render-prometheus draws the dashboard from it.
    prometheus: bool = False
    prom_port: int = 0
    sandbox_retry_max_delay_s: float = 30.0  # the sandbox's webhook retries at most this far apart

    # ------------------------------------------------------------------ set-up
    @property
    def web_url(self) -> str:
        return f"http://{LOOPBACK}:{self.web_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{LOOPBACK}:{self.sandbox_port}"

    @property
    def admin_conninfo(self) -> str:
        return configured_url()

    def direct_db_url(self) -> str:
        """The database straight, not through the proxy: for migrations and the harness's own checks."""
        return sqlalchemy_url(self.admin_conninfo, self.db_name)

    def _proxied_db_url(self) -> str:
        params = conninfo_to_dict(self.admin_conninfo)
        assert self.pg_proxy is not None
        params.update(host=LOOPBACK, port=str(self.pg_proxy.port))
        return sqlalchemy_url(" ".join(f"{k}={v}" for k, v in params.items()), self.db_name)

    def _create_database(self) -> None:
        self.db_name = f"leadchain_chaos_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_conninfo, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{self.db_name}"')
        params = conninfo_to_dict(self.admin_conninfo)
        self.pg_proxy = TcpProxy(str(params.get("host") or LOOPBACK), int(params.get("port") or 5432))
        self.pg_proxy.__enter__()

    def _new_secrets(self) -> dict[str, str]:
        return {
            "LEADCHAIN_SECRET_APP_SECRET_KEY": secrets.token_urlsafe(32),
            "LEADCHAIN_SECRET_APP_CHAIN_KEY": secrets.token_hex(16),
            f"LEADCHAIN_SECRET_WEBHOOKS_LEADS_{SOURCE.upper()}": "whsec_"
            + base64.b64encode(secrets.token_bytes(32)).decode(),
            "LEADCHAIN_SECRET_API_KEYS": f"chaos:{secrets.token_urlsafe(24)}",
            "LEADCHAIN_SECRET_BRIDGE_RETELL_PATH_SECRET": secrets.token_urlsafe(24),
            "LEADCHAIN_SECRET_BRIDGE_VAPI_SECRET": secrets.token_urlsafe(24),
        }

    @property
    def bao_url(self) -> str:
        return f"http://{LOOPBACK}:{self.bao_port}"

    @property
    def bridge_llm_url(self) -> str:
        path_secret = self.secrets["LEADCHAIN_SECRET_BRIDGE_RETELL_PATH_SECRET"]
        return f"ws://{LOOPBACK}:{self.bridge_port}/llm-websocket/{path_secret}"

    def seed_vault(self, timeout_s: float = 30) -> None:
        """Write the run's secrets into OpenBao (KV v2 at secret/leadchain/<group>): at start, and again
        after an F12 restart (a dev server keeps nothing, like a Vault restored from its backup)."""
        groups: dict[str, dict[str, str]] = {}
        for env_name, name in SECRET_NAMES.items():
            group, key = name.split("/")
            groups.setdefault(group, {})[key] = self.secrets[env_name]
        deadline = time.monotonic() + timeout_s
        for group, data in groups.items():
            while True:
                try:
                    answer = httpx.post(
                        f"{self.bao_url}/v1/secret/data/leadchain/{group}",
                        headers={"X-Vault-Token": self.bao_token},
                        json={"data": data},
                        timeout=5,
                    )
                    if answer.status_code < 300:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"OpenBao did not take the {group} secrets within {timeout_s:.0f} s")
                time.sleep(0.2)  # the dev server answers before it has mounted KV

    @property
    def webhook_secret(self) -> str:
        return self.secrets[f"LEADCHAIN_SECRET_WEBHOOKS_LEADS_{SOURCE.upper()}"]

    @property
    def api_key(self) -> str:
        return self.secrets["LEADCHAIN_SECRET_API_KEYS"].split(":", 1)[1]

    def env(self) -> dict[str, str]:
        # Process plumbing: the children start from this process's environment minus any leadchain or
        # Vault setting of the caller's shell, then get the run's own.
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LEADCHAIN_", "VAULT_", "TEMPORAL_"))}
        base.pop("DATABASE_URL", None)
        hours = {region: ALL_HOURS for region in ("default", "DE", "US")}
        where_secrets = (
            {"VAULT_ADDR": self.bao_url, "VAULT_TOKEN": self.bao_token} if self.vault else dict(self.secrets)
        )
        return {
            **base,
            **where_secrets,
            "DATABASE_URL": self._proxied_db_url(),
            "TEMPORAL_ADDRESS": f"{LOOPBACK}:{self.temporal_port}",
            "LEADCHAIN_SANDBOX_URL": self.sandbox_url,
            "LEADCHAIN_PUBLIC_URL": self.web_url,
            "LEADCHAIN_VAR_DIR": str(self.run_dir / "var"),
            "LEADCHAIN_COOKIE_SECURE": "0",
            "LEADCHAIN_RATELIMIT_STORAGE": "memory://",
            "LEADCHAIN_CALLING_HOURS": json.dumps(hours),
            "LEADCHAIN_GERMAN_PUBLIC_HOLIDAYS": "false",
            "LEADCHAIN_CHAIN_SETTINGS": json.dumps(self.chain_settings),
            "LEADCHAIN_FX_RATES": "USD:EUR=0.92",
            **({"PYTHONPATH": str(self.source)} if self.source != ROOT else {}),
        }

    def snapshot_head(self) -> str:
        """Run the committed HEAD instead of the working tree: `git archive` into the run directory (other
        people's uncommitted edits in a shared checkout then cannot reach a process restarted mid-run),
        translations compiled there. Returns the commit."""
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        self.source = self.run_dir / "src"
        self.source.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(self.source)], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": str(self.source)}
        subprocess.run([sys.executable, "-m", "crm.catalogs"], cwd=self.source, env=env, check=True, timeout=300)
        return commit

    def _define(self) -> None:
        leadchain = str(BIN / "leadchain")
        self.temporal_port, self.web_port, self.sandbox_port = free_port(), free_port(), free_port()
        temporal = [
            str(BIN / "temporal"), "server", "start-dev", "--db-filename", str(self.run_dir / "temporal.db"),
            "--ip", LOOPBACK, "--port", str(self.temporal_port), "--ui-port", str(free_port()),
            "--search-attribute", "LeadStage=Keyword",
            # docs/tenancy.md rule 4: every chain carries its company; without it the relay's settings
            # broadcast is refused ("invalid search attribute: CompanyId"). Same flags as workers/launcher.py.
            "--search-attribute", "CompanyId=Int",
            "--dynamic-config-value", "matching.enableFairness=true",
            "--log-level", "error",
        ]  # fmt: skip
        sandbox = [
            sys.executable, "-m", "bench.chaos.sandbox_proc", "--port", str(self.sandbox_port),
            "--webhook-base", self.web_url, "--step-s", str(self.step_s),
            "--retry-max-delay-s", str(self.sandbox_retry_max_delay_s),
        ]  # fmt: skip
        procs: list[Proc] = []
        if self.vault:
            self.bao_port, self.bao_token = free_port(), f"root-{secrets.token_hex(16)}"
            bao = [
                str(BIN / "bao"), "server", "-dev", f"-dev-root-token-id={self.bao_token}",
                f"-dev-listen-address={LOOPBACK}:{self.bao_port}",
            ]  # fmt: skip
            # A private HOME: the dev server writes ~/.vault-token.
            procs.append(Proc("openbao", bao, self.bao_port, extra_env={"HOME": str(self.run_dir / "bao")}))
        sandbox_env: dict[str, str] = {}
        if self.bridge:
            self.bridge_port = free_port()
            # The URL holds the bridge's path secret: by environment, not argv (argv is world-readable).
            sandbox_env["LEADCHAIN_SANDBOX_RETELL_LLM_URL"] = self.bridge_llm_url
        web = [
            str(BIN / "gunicorn"), "--bind", f"{LOOPBACK}:{self.web_port}", "--workers", str(self.web_workers),
            "--timeout", "30", "crm.wsgi:app",
        ]  # fmt: skip
        procs += [
            Proc("temporal", temporal, self.temporal_port),
            Proc("sandbox", sandbox, self.sandbox_port, extra_env=sandbox_env),
            Proc("web", web, self.web_port),
            Proc("chain", [leadchain, "worker", "chain"]),
            Proc("provider", [leadchain, "worker", "provider"]),
            Proc("reports", [leadchain, "worker", "reports"]),
        ]
        if self.bridge:
            bridge_env = {
                "LEADCHAIN_BRIDGE_HOST": LOOPBACK,
                "LEADCHAIN_BRIDGE_PORT": str(self.bridge_port),
                "LEADCHAIN_BRIDGE_METRICS_PORT": str(free_port()),
            }
            procs.append(Proc("bridge", [leadchain, "worker", "voice-bridge"], self.bridge_port, extra_env=bridge_env))
        if self.prometheus:
            procs.append(self._prometheus(procs))
        for proc in procs:
            self.procs[proc.name] = proc

    def _prometheus(self, procs: list[Proc]) -> Proc:
        """Each process its own metrics port, the web's gunicorn workers one multiprocess directory, and
        a Prometheus scraping them with the job names of deploy/prometheus/prometheus.yml."""
        jobs: dict[str, list[str]] = {"leadchain-web": [f"{LOOPBACK}:{self.web_port}"], "leadchain-workers": []}
        for proc in procs:
            if proc.name in ("chain", "provider", "reports"):
                port = free_port()
                proc.extra_env["LEADCHAIN_WORKER_METRICS_PORT"] = str(port)
                jobs["leadchain-workers"].append(f"{LOOPBACK}:{port}")
            elif proc.name == "web":
                proc.extra_env["PROMETHEUS_MULTIPROC_DIR"] = str(self.run_dir / "prom-multiproc")
            elif proc.name == "bridge":
                jobs["leadchain-voice-bridge"] = [f"{LOOPBACK}:{proc.extra_env['LEADCHAIN_BRIDGE_METRICS_PORT']}"]
        self.prom_port = free_port()
        config = {
            "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]} for job, targets in jobs.items()
            ],
        }
        (self.run_dir / "prometheus.yml").write_text(json.dumps(config))  # YAML is a superset of JSON
        argv = [
            "/usr/bin/prometheus", f"--config.file={self.run_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.run_dir / 'prometheus-data'}",
            f"--web.listen-address={LOOPBACK}:{self.prom_port}",
        ]  # fmt: skip
        return Proc("prometheus", argv, self.prom_port)

    @property
    def prometheus_url(self) -> str:
        return f"http://{LOOPBACK}:{self.prom_port}"

    def start(self) -> None:
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "var").mkdir(exist_ok=True)
        self.secrets = self._new_secrets()
        self._create_database()
        self._define()
        if self.vault:
            self.start_proc("openbao")
        direct = {**self.env(), "DATABASE_URL": self.direct_db_url()}
        for step in ("db-upgrade", "seed-demo"):
            done = subprocess.run(
                [str(BIN / "leadchain"), step], env=direct, cwd=self.source, capture_output=True, text=True, timeout=300
            )
            if done.returncode != 0:
                raise RuntimeError(f"leadchain {step} failed: {done.stderr[-2000:]}")
        for name in self.procs:
            if name != "openbao":
                self.start_proc(name)

    # ------------------------------------------------------------------ processes
    def start_proc(self, name: str, timeout_s: float = 90) -> None:
        proc = self.procs[name]
        out = open(self.run_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        env = {**self.env(), **proc.extra_env}
        if name == "openbao":  # the server itself: no client settings of ours
            env = {k: v for k, v in env.items() if not k.startswith(("VAULT_", "BAO_", "LEADCHAIN_"))}
            (self.run_dir / "bao").mkdir(exist_ok=True)
        if "PROMETHEUS_MULTIPROC_DIR" in proc.extra_env:  # emptied at each start, as the launcher does
            shutil.rmtree(proc.extra_env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
            Path(proc.extra_env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True)
        proc.popen = subprocess.Popen(
            proc.argv, env=env, cwd=self.source, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        proc.starts += 1
        if proc.port is not None and not wait_port(proc.port, timeout_s):
            raise RuntimeError(f"{name} did not come up on port {proc.port} (see {out.name})")
        if name == "web":
            self.wait_http(f"{self.web_url}/healthz", timeout_s)
        if name == "openbao":
            self.seed_vault(timeout_s)

    def wait_http(self, url: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f} s")

    def kill(self, name: str, sig: int = signal.SIGKILL, wait_s: float = 30) -> None:
        """Signal the process group of the process we started as `name` (gunicorn's workers with it)."""
        popen = self.procs[name].popen
        if popen is None or popen.poll() is not None:
            return
        try:
            os.killpg(popen.pid, sig)  # the group we created with start_new_session: pgid == our child's pid
        except ProcessLookupError:
            return
        try:
            popen.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()

    def restart(self, name: str, sig: int = signal.SIGKILL, down_s: float = 0.0) -> None:
        self.kill(name, sig)
        if down_s:
            time.sleep(down_s)
        self.start_proc(name)

    def alive(self) -> dict[str, bool]:
        return {n: p.popen is not None and p.popen.poll() is None for n, p in self.procs.items()}

    def stop(self) -> None:
        """Workers first, then web and sandbox, then Temporal; then the proxy and the database."""
        for name in ("prometheus", "bridge", "reports", "provider", "chain", "web", "sandbox", "temporal", "openbao"):
            if name in self.procs:
                self.kill(name, signal.SIGTERM, wait_s=15)
        if self.pg_proxy is not None:
            self.pg_proxy.__exit__(None, None, None)
        if self.db_name and not os.environ.get("LEADCHAIN_CHAOS_KEEP_DB"):
            with psycopg.connect(self.admin_conninfo, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
