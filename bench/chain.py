"""Benchmark: leadchain's lead chain (booked path) against a bare Temporal workflow with as many activities.

    .venv/bin/python bench/chain.py [--leads N] [--concurrency C] [--timeout S] [--pg-admin URL]

One run does everything on this box, loopback only:

1. starts its own `temporal server start-dev --headless` (in-memory, LeadStage=Keyword registered) on
   free 127.0.0.1 ports, creates a fresh PostgreSQL database (bench_chain_<random>) and migrates it;
   both are removed at the end, also on error or Ctrl+C (the server gets SIGTERM, then SIGKILL).
2. Scenario A, "leadchain": the production topology of `leadchain worker chain` and
   `leadchain worker provider`, as two worker subprocesses of this script (workers.chain.chain_worker +
   workers.relay.Relay with its production poll of 0.25 s; workers.chain.provider_worker with
   ProviderActivities). The provider process holds tests.fakes.FakeVoiceProvider (every call booked;
   named "retell", the provider of the default campaign the benchmark creates, as the workflow tests'
   harness does) and FakeEmailSender, and plays the provider webhook: each placed call's result goes
   to its chain as the `call_result` update, the moment the fake provider has it. The calling-hours policy is open
   around the clock (as tests' always_open_policy()). Settings are shortened; the booked path has no
   sleeps. --probes leads (default 3) run one at a time first: the first one's history gives the steps a
   booked chain runs (activity tasks and local activities alike) and the position of place_call; their
   median is the unloaded latency, with where it goes (the chain's start, place_call scheduled and
   started). The rest of five warm-up leads run at once. Then N leads are stored as
   lead_submissions (crm.services.submissions.submit, the webhook's own call, in ONE transaction: all
   at once); the relay starts their chains. Measured: completed chains/s (first submission to the last
   chain result, client-observed) and per lead submission stored (LeadSubmission.received_at) -> call
   placed (the call's Interaction.started_at, written by place_call right after the provider accepted).
3. Scenario B, "bare": on the same server, one worker subprocess with a trivial workflow that runs K
   no-op async activities in sequence (K = the steps measured in A), after the same probes and warm-up
   (its unloaded latency: start -> the activity at place_call's position). N started at once with
   start_workflow (at most C in flight). Measured: chains/s and per workflow start -> the activity at
   place_call's position (the activity returns its wall-clock time), and start -> result.
4. Prints both scenarios, the leadchain/bare ratios, history events per chain and CPU used during each
   burst (server, workers, PostgreSQL backends of the bench database, driver, and "others": everything
   else on the box; above 0.25 cores the report warns that the figures are low), and the CPU per chain
   (server + workers + PostgreSQL core-seconds over N), which a shared box distorts less than wall time.

--concurrency C is how many chains are started at once: the relay's batch in A (production: 200),
the cap on concurrent start_workflow calls in B. Default 200.

Exit status: 0 when every chain ended as expected (A: every lead booked, one call each); 1 when not;
2 when the benchmark could not run. See bench/README.md ("chain").
"""

from __future__ import annotations

# Only the standard library and temporalio at module level: the bare workflow below is imported into
# Temporal's workflow sandbox by the bare worker; everything else is imported where it is used.
import argparse
import asyncio
import dataclasses
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow

# The bare worker's sandbox re-imports this module: no module-level side effects inside it.
if not workflow.unsafe.in_sandbox():
    ROOT = Path(__file__).resolve().parent.parent
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    _TICK = os.sysconf("SC_CLK_TCK")

LOOPBACK = "127.0.0.1"
DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
MAX_LEADS = 90_000  # phone numbers +49 30 231 + 5 digits; warm-up leads use the numbers after N
WARMUP = 5  # per scenario before the burst: the probes one at a time, then the rest of these at once
PROBES = 3  # of them one at a time, for the unloaded latency (median); more probes add to WARMUP


def at_once(probes: int) -> int:
    """Warm-up leads (workflows) started together after the probes."""
    return max(0, WARMUP - probes)


BARE_WORKFLOW = "BenchBareWorkflow"
BARE_ACTIVITY = "bench_noop"
PROVIDER = "retell"  # the name the fake voice provider answers to (the default campaign's provider)
BENCH_COMPANY = 1  # the migration's first company: the bench's leads, campaign and source belong to it


class BenchError(RuntimeError):
    """The benchmark could not run (not a finding about the app)."""


# ------------------------------------------------------------------------------- scenario B workflow


@activity.defn(name=BARE_ACTIVITY)
async def bench_noop(step: int) -> float:
    """Does nothing; returns when it ran (wall clock, comparable across processes on this box)."""
    return time.time()


@workflow.defn(name=BARE_WORKFLOW)
class BareWorkflow:
    @workflow.run
    async def run(self, activities: int) -> list[float]:
        stamps: list[float] = []
        for step in range(activities):
            stamps.append(
                await workflow.execute_activity(
                    BARE_ACTIVITY, step, result_type=float, start_to_close_timeout=timedelta(seconds=30)
                )
            )
        return stamps


# ------------------------------------------------------------------------------------------ helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def cpu_of(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def postgres_pids(dbname: str) -> list[int]:
    """The PostgreSQL backends connected to this benchmark's database (not other sessions' ones)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if cmdline.startswith("postgres:") and f" {dbname} " in cmdline:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def box_busy() -> float:
    """CPU seconds the whole box has been busy (all processes, all cores) since boot."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / _TICK


class CpuMeter:
    """CPU used during a burst, in cores: the server, the worker processes, PostgreSQL (the backends of
    this benchmark's database), this driver, and everything else on the box ("others": other sessions'
    work competes for the same 2 cores and makes the figures low; the report says so)."""

    def __init__(self, server_pid: int, worker_pids: list[int], dbname: str) -> None:
        self.server_pid, self.worker_pids, self.dbname = server_pid, worker_pids, dbname
        self.start = self._sample()
        self.wall = time.monotonic()

    def _sample(self) -> dict[str, float]:
        return {
            "server": cpu_of(self.server_pid),
            "workers": sum(cpu_of(p) for p in self.worker_pids),
            "postgres": sum(cpu_of(p) for p in postgres_pids(self.dbname)),
            "driver": time.process_time(),
            "box": box_busy(),
        }

    def cores(self) -> dict[str, float]:
        end, wall = self._sample(), time.monotonic() - self.wall
        used = {k: max(0.0, end[k] - self.start[k]) / wall for k in end}
        box = used.pop("box")
        used["others"] = max(0.0, box - sum(used.values()))
        return used


def always_open_policy():
    """Calling hours around the clock (a copy of tests/workflows/conftest.py's always_open_policy)."""
    from datetime import time as dtime

    from crm.services.compliance import CallingWindow, GatePolicy

    always = CallingWindow(tuple(range(7)), dtime(0), dtime(23, 59, 59, 999999))
    return GatePolicy(
        windows={"DE": always, "US": always},
        default_window=always,
        max_attempts_per_day=100,
        german_public_holidays=False,
    )


def make_app(db_url: str):
    """The app as the workers and the web build it, on the bench database; secrets from the environment
    (the driver sets LEADCHAIN_SECRET_APP_CHAIN_KEY and ..._SECRET_KEY for itself and its workers)."""
    from crm import create_app
    from crm.secrets import EnvSecrets

    return create_app({"SQLALCHEMY_DATABASE_URI": db_url}, secrets=EnvSecrets(), gate_policy=always_open_policy())


# -------------------------------------------------------------------------------------------- leads

FIRST = [
    "Anna",
    "Lukas",
    "Maria",
    "Jonas",
    "Sophie",
    "Felix",
    "Laura",
    "Paul",
    "Lea",
    "Tim",
    "Julia",
    "Jan",
    "Lisa",
    "Niklas",
    "Sarah",
    "David",
    "Hannah",
    "Leon",
    "Katharina",
    "Tobias",
    "Lena",
    "Florian",
    "Nina",
    "Stefan",
    "Clara",
    "Markus",
    "Emma",
    "Thomas",
    "Marie",
    "Sebastian",
]
LAST = [
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Krause",
    "Meier",
    "Lehmann",
    "Schmid",
    "Schulze",
    "Maier",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Lang",
    "Scholz",
    "Weiss",
    "Jung",
    "Hahn",
    "Vogel",
    "Friedrich",
    "Keller",
    "Berger",
    "Frank",
    "Roth",
    "Beck",
    "Lorenz",
    "Baumann",
    "Franke",
    "Albrecht",
    "Simon",
    "Ludwig",
    "Winter",
]
COMPANIES = [
    "Acme",
    "Nordlicht",
    "Bergwerk",
    "Havelblick",
    "Spreetal",
    "Rheinkraft",
    "Alpenblick",
    "Elbufer",
    "Lindenhof",
    "Sonnenfeld",
    "Waldrand",
    "Seeblick",
    "Taunus",
    "Hafenkante",
]


def lead_payload(i: int) -> dict:
    """A hot lead (business address, phone consent, stated interest): scores above the call gate."""
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    company = COMPANIES[i % len(COMPANIES)]
    return {
        "first_name": first,
        "last_name": last,
        "company": f"{company} GmbH",
        "email": f"{first}.{last}{i}@{company}.de".lower(),
        "phone": f"+49 30 231{i:05d}",
        "phone_consent": "ja",
        "interest": "Angebot für 5 Standorte",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "bench-chain",
    }


def store_submissions(app, indices: list[int], source: str = "website") -> tuple[list[tuple[int, str]], float]:
    """Store leads the way POST /webhooks/leads/<source> does (validated, then submissions.submit), all
    in one transaction, in the bench's company. Returns [(submission_id, chain_id)] and the wall time of the
    commit."""
    from crm.extensions import db
    from crm.schemas.lead import WebFormLeadSchema
    from crm.services import submissions
    from crm.tenancy.context import company_scope

    with app.app_context(), company_scope(BENCH_COMPANY):
        cfg = app.config["LEADCHAIN"]
        schema = WebFormLeadSchema(default_region=cfg.default_phone_region, default_source=source)
        loaded = []
        for i in indices:
            payload = {**lead_payload(i), "source": source}
            loaded.append((schema.load(payload), payload))
        try:
            stored = [
                submissions.submit(
                    lead, payload, region=cfg.default_phone_region, channel="webhook", actor=f"webhook:{source}"
                )
                for lead, payload in loaded
            ]
            rows = [(s.id, s.chain_id) for s in stored]
            db.session.commit()
            return rows, time.time()
        finally:
            db.session.remove()


def call_latencies(app, submission_ids: list[int]) -> dict[int, tuple[float, float | None, int]]:
    """submission id -> (received_at, first call's started_at or None, number of calls), epoch seconds."""
    import sqlalchemy as sa

    from crm.extensions import db
    from crm.models import Interaction, InteractionKind, LeadSubmission
    from crm.tenancy.context import company_scope

    with app.app_context(), company_scope(BENCH_COMPANY):
        try:
            rows = db.session.execute(
                sa.select(
                    LeadSubmission.id,
                    LeadSubmission.received_at,
                    sa.func.min(Interaction.started_at),
                    sa.func.count(Interaction.id),
                )
                .outerjoin(
                    Interaction,
                    sa.and_(Interaction.lead_id == LeadSubmission.lead_id, Interaction.kind == InteractionKind.CALL),
                )
                .where(LeadSubmission.id.in_(submission_ids))
                .group_by(LeadSubmission.id)
            ).all()
            return {r[0]: (r[1].timestamp(), r[2].timestamp() if r[2] else None, r[3]) for r in rows}
        finally:
            db.session.remove()


def timeline(app, lead_id: int) -> list[str]:
    """The chain's steps as the CRM recorded them (audit entries chain.*), for a failure message."""
    import sqlalchemy as sa

    from crm.extensions import db
    from crm.models import AuditEntry
    from crm.tenancy.context import company_scope

    with app.app_context(), company_scope(BENCH_COMPANY):
        try:
            rows = db.session.execute(
                sa.select(AuditEntry.action, AuditEntry.after)
                .where(AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead_id)
                .order_by(AuditEntry.id)
            ).all()
            return [f"{action}: {(after or {}).get('detail', after)}" for action, after in rows]
        finally:
            db.session.remove()


# ------------------------------------------------------------------------------ database and server


class Database:
    def __init__(self, admin_url: str) -> None:
        self.admin_url, self.name, self.url = admin_url, None, None

    def create(self) -> str:
        from urllib.parse import urlsplit, urlunsplit

        import psycopg
        from psycopg import sql

        name = f"bench_chain_{secrets.token_hex(5)}"
        try:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as e:
            raise BenchError(f"cannot create a database via {self.admin_url}: {e}") from None
        self.name = name
        parts = urlsplit(self.admin_url)
        self.url = urlunsplit(("postgresql+psycopg", parts.netloc, "/" + name, parts.query, ""))
        return self.url

    def migrate(self) -> None:
        from flask_migrate import upgrade

        from crm.extensions import db

        app = make_app(self.url)
        from crm.models import Campaign
        from crm.tenancy.context import company_scope

        with app.app_context():
            upgrade()
        # place_call dials through the lead's campaign (else the default one), as the workflow tests' harness
        # sets up: the fake provider stands in for "retell". The campaign is the first company's (the
        # migration's), where the bench's leads go.
        with app.app_context(), company_scope(BENCH_COMPANY):
            db.session.add(
                Campaign(
                    name="default",
                    provider=PROVIDER,
                    agent_id="agent_bench",
                    from_number="+4930555000",
                    is_default=True,
                )
            )
            db.session.commit()
            db.session.remove()
            db.engine.dispose()

    def drop(self) -> None:
        if not self.name:
            return
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute("SET statement_timeout = '30s'")
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
            self.name = None
        except psycopg.Error as e:
            print(f"warning: could not drop database {self.name}: {e}", file=sys.stderr)


class DevServer:
    def __init__(self, tmpdir: Path) -> None:
        self.port = free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        self.log = tmpdir / "temporal.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = Path(sys.executable).with_name("temporal")
        if not binary.exists():
            raise BenchError(f"{binary} not found (the Temporal CLI comes with the test extras)")
        argv = [
            str(binary),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            LOOPBACK,
            "--port",
            str(self.port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--search-attribute",
            "LeadStage=Keyword",
            "--search-attribute",
            "CompanyId=Int",  # the relay sets it on every chain (docs/tenancy.md)
            "--log-level",
            "warn",
        ]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    async def wait_ready(self, timeout: float = 60.0):
        from workflows.client import connect

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"temporal server exited with {self.proc.returncode}:\n{tail(self.log)}")
            try:
                client = await asyncio.wait_for(connect(self.address), timeout=5)
                # The search attribute is registered at start; a chain cannot run without it.
                from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

                attrs = await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace="default"), timeout=timedelta(seconds=5)
                )
                if "LeadStage" in attrs.custom_attributes:
                    return client
            except Exception as e:  # noqa: BLE001 - not up yet
                last = e
            await asyncio.sleep(0.25)
        raise BenchError(f"temporal server not ready after {timeout:.0f}s ({last}):\n{tail(self.log)}")

    def stop(self) -> None:
        stop_process(self.proc, "temporal server", grace=10)


def stop_process(proc: subprocess.Popen | None, what: str, grace: float) -> None:
    """SIGTERM this one process, SIGKILL it after `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        print(f"warning: {what} (pid {proc.pid}) ignored SIGTERM for {grace:.0f}s: killed", file=sys.stderr)
        proc.kill()
        proc.wait(timeout=10)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------------- worker processes


class WorkerProcess:
    """One worker subprocess of this script (`bench/chain.py _worker KIND ...`)."""

    def __init__(self, kind: str, tmpdir: Path, argv: list[str], env: dict[str, str]) -> None:
        self.kind = kind
        self.log = tmpdir / f"worker-{kind}.log"
        self.argv = [sys.executable, str(Path(__file__).resolve()), "_worker", kind, *argv]
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.kind} worker exited with {self.proc.returncode}:\n{tail(self.log)}")
            if "READY" in self.log.read_text(errors="replace"):
                return
            await asyncio.sleep(0.1)
        raise BenchError(f"{self.kind} worker not ready after {timeout:.0f}s:\n{tail(self.log)}")

    def stop(self) -> dict:
        """Stop it; its STATS line (or {})."""
        stop_process(self.proc, f"{self.kind} worker", grace=20)
        stats = {}
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("STATS "):
                stats = json.loads(line[6:])
        return stats

    @property
    def pid(self) -> int:
        return self.proc.pid


async def worker_main(argv: list[str]) -> None:
    """Entry point of a worker subprocess: chain | provider | bare."""
    import logging
    from concurrent.futures import ThreadPoolExecutor

    parser = argparse.ArgumentParser(prog="bench/chain.py _worker")
    parser.add_argument("kind", choices=["chain", "provider", "bare"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--db-url")
    parser.add_argument("--settings")
    parser.add_argument("--relay-batch", type=int, default=200)
    parser.add_argument("--task-queue")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from temporalio.worker import Worker

    from crm.tenancy.temporal_headers import tenant_client
    from workers import chain as chain_mod
    from workflows.client import connect

    # With the company interceptor, as workers/main.py builds it: activities run in their chain's company.
    client = tenant_client(await connect(args.address))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stats: dict = {}
    runners = []
    executors: list[ThreadPoolExecutor] = []

    if args.kind == "bare":
        # Default Worker settings, sandboxed: the baseline of docs/temporal.md §3.
        from bench import chain as this  # the workflow's module must be importable by name for the sandbox

        runners.append(
            chain_mod.worker_runner(
                Worker(client, task_queue=args.task_queue, workflows=[this.BareWorkflow], activities=[this.bench_noop])
            )
        )
    else:
        from workflows.payloads import ChainSettings

        settings = ChainSettings(**json.loads(args.settings))
        app = make_app(args.db_url)
        # As workers/main.py: 16 activity threads per worker process.
        executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix=f"{args.kind}-activity")
        executors.append(executor)
        if args.kind == "chain":
            from workers.relay import Relay

            runners.append(
                chain_mod.worker_runner(
                    chain_mod.chain_worker(client, app, executor, task_queue=settings.chain_task_queue)
                )
            )
            runners.append(
                Relay(app, client, settings, batch=args.relay_batch, task_queue=settings.chain_task_queue).run
            )
        else:
            from activities.provider_activities import ProviderActivities
            from providers.base import ProviderRegistry
            from tests.fakes import FakeEmailSender, FakeVoiceProvider
            from workflows.payloads import CallResult

            results: asyncio.Queue = asyncio.Queue()

            class WebhookingProvider(FakeVoiceProvider):
                """Books every call; hands each new call's result to the webhook player at once."""

                def place_call(self, request):
                    known = request.idempotency_key in self.by_key
                    call = super().place_call(request)
                    if not known:
                        loop.call_soon_threadsafe(results.put_nowait, (request.chain_id, self.results[call.call_id]))
                    return call

            provider, email = WebhookingProvider(name=PROVIDER), FakeEmailSender()
            acts = ProviderActivities(app, ProviderRegistry({PROVIDER: provider}), email)
            runners.append(
                chain_mod.worker_runner(
                    chain_mod.provider_worker(client, acts, executor, task_queue=settings.provider_task_queue)
                )
            )
            delivered = {"ok": 0, "failed": 0, "errors": []}

            async def deliver_one(chain_id: str, result: CallResult) -> None:
                # What the provider webhook handler does: the result reaches the chain as an update.
                try:
                    await asyncio.wait_for(
                        client.get_workflow_handle(chain_id).execute_update("call_result", result, id=result.event_id),
                        timeout=60,
                    )
                    delivered["ok"] += 1
                except Exception as e:  # noqa: BLE001 - reported, the chain then polls the provider
                    delivered["failed"] += 1
                    if len(delivered["errors"]) < 5:
                        delivered["errors"].append(f"{chain_id}: {type(e).__name__}: {e}"[:300])

            async def webhook_player(stop_event: asyncio.Event) -> None:
                pending: set[asyncio.Task] = set()
                while not stop_event.is_set():
                    try:
                        chain_id, result = await asyncio.wait_for(results.get(), timeout=0.2)
                    except TimeoutError:
                        continue
                    task = asyncio.create_task(deliver_one(chain_id, result))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                for task in list(pending):
                    task.cancel()

            runners.append(webhook_player)
            stats_sources = (provider, email, delivered)

    tasks = [asyncio.create_task(r(stop)) for r in runners]
    print("READY", flush=True)
    await stop.wait()
    done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=15)
    errors = [f"{type(d).__name__}: {d}" for d in done if isinstance(d, BaseException)]
    if args.kind == "provider":
        provider, email, delivered = stats_sources
        stats = {
            "calls_placed": len(provider.placed),
            "emails_sent": len(email.sent),
            "updates_delivered": delivered["ok"],
            "updates_failed": delivered["failed"],
            "update_errors": delivered["errors"],
        }
    stats["runner_errors"] = errors
    for executor in executors:
        executor.shutdown(wait=False, cancel_futures=True)
    print("STATS " + json.dumps(stats), flush=True)


# ------------------------------------------------------------------------------------------ scenarios


@dataclasses.dataclass
class Result:
    name: str
    n: int
    wall_s: float
    p50_ms: float
    p99_ms: float
    latency_what: str
    end_p50_ms: float = float("nan")
    end_p99_ms: float = float("nan")
    events: int = 0
    activities: int = 0
    cores: dict = dataclasses.field(default_factory=dict)
    problems: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.n / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def cpu_ms(self) -> float:
        """CPU per chain during the burst, ms: server + workers + PostgreSQL backends. Less sensitive to a
        shared box than wall time (other processes take cores, not this work's CPU seconds)."""
        own = sum(self.cores.get(k, 0.0) for k in ("server", "workers", "postgres"))
        return own * self.wall_s * 1000 / self.n if self.n else float("nan")


def chain_settings(suffix: str):
    from workflows.payloads import ChainSettings

    # Shortened as the workflow tests' FAST; the booked path reaches none of these waits.
    return ChainSettings(
        call_result_timeout_s=60,
        call_poll_interval_s=1,
        max_call_polls=3,
        max_call_attempts=3,
        retry_delay_s=1,
        nurture_delays_s=[0, 1, 1],
        rescore_delay_s=1,
        max_nurture_cycles=1,
        chain_task_queue=f"bench-chain-{suffix}",
        provider_task_queue=f"bench-provider-{suffix}",
    )


async def await_results(client, ids: list[str], deadline: float, result_type=None) -> dict[str, tuple[float, object]]:
    """workflow id -> (epoch time its result arrived at this client, result). Waits for chains the relay
    has not started yet. Raises BenchError at the deadline, naming how many are missing."""
    from temporalio.service import RPCError, RPCStatusCode

    done: dict[str, tuple[float, object]] = {}

    async def one(wf_id: str) -> None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                value = await asyncio.wait_for(
                    client.get_workflow_handle(wf_id, result_type=result_type).result(), timeout=left
                )
                done[wf_id] = (time.time(), value)
                return
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    raise
                await asyncio.sleep(0.1)
            except TimeoutError:
                return

    outcomes = await asyncio.gather(*(one(i) for i in ids), return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        raise BenchError(f"{len(failures)} workflow(s) failed; first: {type(failures[0]).__name__}: {failures[0]}")
    if len(done) < len(ids):
        raise BenchError(f"timed out: {len(ids) - len(done)} of {len(ids)} workflows had no result")
    return done


async def history_shape(client, wf_id: str) -> tuple[int, list[str]]:
    """(history length, activity types in the order they ran). A local activity (its marker in the history)
    is a step like a scheduled one; its name carries " (local)"."""
    from temporalio.api.enums.v1 import EventType

    history = await asyncio.wait_for(client.get_workflow_handle(wf_id).fetch_history(), timeout=30)
    kinds = []
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            kinds.append(e.activity_task_scheduled_event_attributes.activity_type.name)
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = e.marker_recorded_event_attributes
            if marker.marker_name == "core_local_activity":
                data = json.loads(marker.details["data"].payloads[0].data)
                kinds.append(f"{data['activity_type']} (local)")
    return len(history.events), kinds


async def milestones(client, wf_id: str, since: float) -> dict[str, float]:
    """Where an unloaded chain's time goes: ms from `since` (epoch s) to the chain's start, to place_call
    scheduled, started and completed (the server's event times; same clock on this box)."""
    from temporalio.api.enums.v1 import EventType

    history = await asyncio.wait_for(client.get_workflow_handle(wf_id).fetch_history(), timeout=30)
    out: dict[str, float] = {}
    place_id = None
    for e in history.events:
        at = (e.event_time.ToDatetime().timestamp() if e.HasField("event_time") else since) - since
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            out["started"] = at * 1000
        elif (
            e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == "place_call"
            and place_id is None
        ):
            place_id, out["place_call scheduled"] = e.event_id, at * 1000
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and place_id is not None:
            if e.activity_task_started_event_attributes.scheduled_event_id == place_id:
                out["place_call started"] = at * 1000
    return out


def median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def spread(values: list[float]) -> str:
    """'median (min-max, n samples)' in ms."""
    return f"{median(values):.0f} ms (min {min(values):.0f}, max {max(values):.0f}, {len(values)} samples)"


async def scenario_leadchain(
    client,
    server: DevServer,
    db_url: str,
    dbname: str,
    tmpdir: Path,
    env: dict,
    n: int,
    concurrency: int,
    timeout: float,
    probes: int = PROBES,
) -> tuple[Result, int, int]:
    """Returns the result, the activities one booked chain schedules and place_call's 1-based position."""
    from workflows.payloads import ChainOutcome

    suffix = secrets.token_hex(4)
    settings = chain_settings(suffix)
    common = ["--address", server.address, "--db-url", db_url, "--settings", json.dumps(dataclasses.asdict(settings))]
    procs = [
        WorkerProcess("chain", tmpdir, [*common, "--relay-batch", str(concurrency)], env),
        WorkerProcess("provider", tmpdir, common, env),
    ]
    app = make_app(db_url)
    result = None
    stats: dict = {}
    try:
        for p in procs:
            p.start()
        for p in procs:
            await p.wait_ready()

        # Probes: one lead at a time (the first one's history is the shape of a booked chain), then four at once.
        unloaded_call, unloaded_end = [], []
        steps_ms: dict[str, list[float]] = {}
        for k in range(probes):
            probe_rows, _ = await asyncio.to_thread(store_submissions, app, [n + k])
            probe = await await_results(client, [c for _, c in probe_rows], time.monotonic() + 60, ChainOutcome)
            probe_outcome = probe[probe_rows[0][1]][1]
            if probe_outcome.stage != "booked":
                steps = await asyncio.to_thread(timeline, app, probe_outcome.lead_id)
                raise BenchError(
                    f"the probe lead ended as {probe_outcome.stage!r} ({probe_outcome.detail}), not booked; "
                    "its timeline:\n  " + "\n  ".join(steps)
                )
            if k == 0:
                events, kinds = await history_shape(client, probe_rows[0][1])
            probe_lat = await asyncio.to_thread(call_latencies, app, [probe_rows[0][0]])
            received, placed, _ = probe_lat[probe_rows[0][0]]
            unloaded_call.append((placed - received) * 1000)
            for name, ms in (await milestones(client, probe_rows[0][1], received)).items():
                steps_ms.setdefault(name, []).append(ms)
            unloaded_end.append((probe[probe_rows[0][1]][0] - received) * 1000)
        if "place_call" not in kinds:
            raise BenchError(f"the probe chain placed no call: activities {kinds}")
        place_at = kinds.index("place_call") + 1
        warm_rows, _ = await asyncio.to_thread(
            store_submissions, app, list(range(n + probes, n + probes + at_once(probes)))
        )
        await await_results(client, [c for _, c in warm_rows], time.monotonic() + 60, ChainOutcome)

        # The burst.
        meter = CpuMeter(server.proc.pid, [p.pid for p in procs], dbname)
        t0 = time.time()
        rows, committed = await asyncio.to_thread(store_submissions, app, list(range(n)))
        finished = await await_results(client, [c for _, c in rows], time.monotonic() + timeout, ChainOutcome)
        cores = meter.cores()
        wall = max(t for t, _ in finished.values()) - t0

        lat = await asyncio.to_thread(call_latencies, app, [i for i, _ in rows])
        problems = []
        stages: dict[str, int] = {}
        for _, (_, outcome) in finished.items():
            stages[outcome.stage] = stages.get(outcome.stage, 0) + 1
        if stages != {"booked": n}:
            problems.append(f"chain outcomes {stages} (expected {n} booked)")
        to_call, to_end = [], []
        for sub_id, chain_id in rows:
            received, placed, calls = lat[sub_id]
            if placed is None or calls != 1:
                problems.append(f"submission {sub_id}: {calls} calls")
                continue
            to_call.append((placed - received) * 1000)
            to_end.append((finished[chain_id][0] - received) * 1000)
        result = Result(
            "leadchain",
            n,
            wall,
            percentile(to_call, 50),
            percentile(to_call, 99),
            "submission stored -> call placed",
            percentile(to_end, 50),
            percentile(to_end, 99),
            events=events,
            activities=len(kinds),
            cores=cores,
            problems=problems[:10],
        )
        result.notes += [
            f"booked chain schedules {len(kinds)} activities: {', '.join(kinds)} (place_call is #{place_at})",
            f"{n} submissions stored in one transaction in {(committed - t0) * 1000:.0f} ms",
            f"unloaded (probes one at a time): submission -> call {spread(unloaded_call)}; "
            f"-> chain result {spread(unloaded_end)}",
            "unloaded, medians from submission stored: "
            + ", ".join(f"{name} {median(v):.0f} ms" for name, v in steps_ms.items())
            + f", call placed {median(unloaded_call):.0f} ms",
        ]
        return result, len(kinds), place_at
    finally:
        for p in reversed(procs):
            if p.proc is not None:
                stats.update({f"{p.kind}.{k}": v for k, v in p.stop().items()})
        from crm.extensions import db

        with app.app_context():
            db.engine.dispose()
        if result is not None:
            expected_calls = n + probes + at_once(probes)
            if stats.get("provider.calls_placed") != expected_calls or stats.get("provider.updates_failed"):
                result.problems.append(f"worker stats {stats} (expected {expected_calls} calls, no failed update)")
            if any(stats.get(k) for k in ("chain.runner_errors", "provider.runner_errors")):
                result.problems.append(f"worker errors {stats}")
            result.notes.append(f"workers: {stats}")


async def scenario_bare(
    client,
    server: DevServer,
    dbname: str,
    tmpdir: Path,
    env: dict,
    n: int,
    concurrency: int,
    timeout: float,
    activities: int,
    position: int,
    probes: int = PROBES,
) -> Result:
    queue = f"bench-bare-{secrets.token_hex(4)}"
    proc = WorkerProcess("bare", tmpdir, ["--address", server.address, "--task-queue", queue], env)

    async def start(wf_id: str, limit: asyncio.Semaphore, started: dict[str, float]) -> None:
        started[wf_id] = time.time()
        async with limit:
            await asyncio.wait_for(
                client.start_workflow(BARE_WORKFLOW, activities, id=wf_id, task_queue=queue), timeout=60
            )

    async def burst(ids: list[str], deadline: float) -> tuple[dict, dict]:
        started: dict[str, float] = {}
        limit = asyncio.Semaphore(concurrency)
        starts = asyncio.gather(*(start(i, limit, started) for i in ids))
        waits = asyncio.create_task(await_results(client, ids, deadline, list[float]))
        try:
            await starts
        except BaseException:
            waits.cancel()
            raise
        return started, await waits

    try:
        proc.start()
        await proc.wait_ready()
        # Probes one at a time, then a warm-up of four at once.
        unloaded: tuple[list[float], list[float]] = ([], [])
        for k in range(probes):
            started, finished = await burst([f"bare-probe-{k}"], time.monotonic() + 60)
            t, stamps = finished[f"bare-probe-{k}"]
            unloaded[0].append((stamps[position - 1] - started[f"bare-probe-{k}"]) * 1000)
            unloaded[1].append((t - started[f"bare-probe-{k}"]) * 1000)
        events, kinds = await history_shape(client, "bare-probe-0")
        if at_once(probes):
            await burst([f"bare-warm-{i}" for i in range(at_once(probes))], time.monotonic() + 60)

        meter = CpuMeter(server.proc.pid, [proc.pid], dbname)
        t0 = time.time()
        ids = [f"bare-{i}" for i in range(n)]
        started, finished = await burst(ids, time.monotonic() + timeout)
        cores = meter.cores()
        wall = max(t for t, _ in finished.values()) - t0
        to_pos = [(finished[i][1][position - 1] - started[i]) * 1000 for i in ids]
        to_end = [(finished[i][0] - started[i]) * 1000 for i in ids]
        problems = [f"{i}: {len(finished[i][1])} activities" for i in ids if len(finished[i][1]) != activities][:10]
        result = Result(
            "bare",
            n,
            wall,
            percentile(to_pos, 50),
            percentile(to_pos, 99),
            f"start -> activity #{position} ran",
            percentile(to_end, 50),
            percentile(to_end, 99),
            events=events,
            activities=len(kinds),
            cores=cores,
            problems=problems,
        )
        result.notes.append(
            f"unloaded (probes one at a time): start -> activity #{position} {spread(unloaded[0])}; "
            f"-> result {spread(unloaded[1])}"
        )
        return result
    finally:
        stats = proc.stop() if proc.proc is not None else {}
        if stats.get("runner_errors"):
            print(f"warning: bare worker errors: {stats['runner_errors']}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------- main


def report(a: Result | None, b: Result | None, n: int, concurrency: int) -> None:
    print()
    print(
        f"chain benchmark: N={n}, concurrency={concurrency}, {os.cpu_count()} CPUs, dev server in-memory, loopback only"
    )
    header = f"{'scenario':<10} {'N':>5} {'wall s':>8} {'chains/s':>9} {'p50 ms':>9} {'p99 ms':>9}  latency measured"
    print(header)
    print("-" * len(header))
    for r in (a, b):
        if r is not None:
            print(
                f"{r.name:<10} {r.n:>5} {r.wall_s:>8.2f} {r.rate:>9.2f} {r.p50_ms:>9.0f} {r.p99_ms:>9.0f}  "
                f"{r.latency_what}"
            )
    if a and b:
        print(
            f"{'ratio':<10} {'':>5} {a.wall_s / b.wall_s:>8.2f} {a.rate / b.rate:>9.2f} "
            f"{a.p50_ms / b.p50_ms:>9.2f} {a.p99_ms / b.p99_ms:>9.2f}  leadchain / bare"
        )
        print(
            f"CPU per chain (server + workers + PostgreSQL): leadchain {a.cpu_ms:.0f} ms, bare {b.cpu_ms:.0f} ms, "
            f"ratio {a.cpu_ms / b.cpu_ms:.2f}"
        )
    print()
    for r in (a, b):
        if r is None:
            continue
        cores = ", ".join(f"{k} {v:.2f}" for k, v in r.cores.items())
        print(
            f"{r.name}: {r.events} history events and {r.activities} activities per chain; to the end "
            f"(workflow result at the client): p50 {r.end_p50_ms:.0f} ms, p99 {r.end_p99_ms:.0f} ms"
        )
        print(f"  CPU during the burst, in cores: {cores}")
        if r.cores.get("others", 0) > 0.25:
            print(
                f"  WARNING: other processes used {r.cores['others']:.2f} of the {os.cpu_count()} cores during this "
                "burst: the box was shared, these figures are low"
            )
        for note in r.notes:
            print(f"  {note}")
        for problem in r.problems:
            print(f"  PROBLEM: {problem}")
    sys.stdout.flush()


async def run(args, tmpdir: Path, server: DevServer, database: Database) -> int:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average before the run (1/5/15 min): {load}", flush=True)
    server.start()
    client = await server.wait_ready()
    db_url = database.create()
    await asyncio.to_thread(database.migrate)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    a, activities, position = await scenario_leadchain(
        client, server, db_url, database.name, tmpdir, env, args.leads, args.concurrency, args.timeout, args.probes
    )
    b = await scenario_bare(
        client,
        server,
        database.name,
        tmpdir,
        env,
        args.leads,
        args.concurrency,
        args.timeout,
        activities,
        position,
        args.probes,
    )
    report(a, b, args.leads, args.concurrency)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average after the run (1/5/15 min): {load}", flush=True)
    return 1 if (a.problems or b.problems) else 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        asyncio.run(worker_main(sys.argv[2:]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=200, help="chains per scenario (default 200)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=200,
        help="chains started at once: relay batch (A), in-flight start_workflow (B); default 200",
    )
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per scenario burst (default 240)")
    parser.add_argument(
        "--probes",
        type=int,
        default=PROBES,
        help=f"chains run one at a time before the burst, for the unloaded latency's median (default {PROBES})",
    )
    parser.add_argument(
        "--pg-admin",
        default=os.environ.get("LEADCHAIN_TEST_PG", DEFAULT_PG_ADMIN),
        help=f"admin connection for CREATE/DROP DATABASE (default {DEFAULT_PG_ADMIN})",
    )
    args = parser.parse_args()
    extra = max(WARMUP, args.probes)
    if not 1 <= args.leads <= MAX_LEADS - extra or args.concurrency < 1 or args.probes < 1:
        parser.error(f"--leads must be 1..{MAX_LEADS - extra}, --concurrency and --probes at least 1")
    # The chain id key and the app key: the driver's app and every worker process read the same.
    os.environ.setdefault("LEADCHAIN_SECRET_APP_CHAIN_KEY", secrets.token_hex(16))
    os.environ.setdefault("LEADCHAIN_SECRET_APP_SECRET_KEY", "bench-only-secret")
    started = time.monotonic()
    code = 2
    with tempfile.TemporaryDirectory(prefix="bench_chain_") as tmp:
        tmpdir = Path(tmp)
        server, database = DevServer(tmpdir), Database(args.pg_admin)
        try:
            code = asyncio.run(run(args, tmpdir, server, database))
        except BenchError as e:
            print(f"benchmark could not complete: {e}", file=sys.stderr)
            code = 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            code = 2
        finally:
            server.stop()
            database.drop()
    print(f"total run time {time.monotonic() - started:.0f} s, exit {code}")
    return code


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio's core threads can abort interpreter shutdown (sdk-python#300; tests/conftest.py does the same).
    os._exit(code)
