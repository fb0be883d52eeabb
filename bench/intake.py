"""Benchmark: leadchain's signed lead webhook against a bare insert-only Flask endpoint.

    .venv/bin/python bench/intake.py [--leads N] [--concurrency C] [--db sqlite|postgresql] [--workers W]
    .venv/bin/python bench/intake.py --paced RATE [--leads N] [--rounds 3] [--no-drain]

For each target (leadchain's POST /webhooks/leads/<source>, then bench/bare_app.py's POST
/bare/leads/<source>): make a fresh database (PostgreSQL: CREATE DATABASE bench_<random>, dropped at the
end; SQLite: a temp file), run leadchain's migrations into it, start gunicorn with W sync workers on a
free 127.0.0.1 port, warm up, post N distinct leads with C concurrent httpx clients (each request
signed with the Standard Webhooks scheme and a fresh webhook-id, for both targets), stop gunicorn and
count rows directly in the database.

With --paced RATE the load is an open loop instead: lead k is due at k / RATE seconds and queued then for one of
PACED_CONNECTIONS senders, whether or not the earlier ones were answered, and its latency runs from when it was
due (so a stall delays, and counts in, every request due during it: no coordinated omission); p50/p95/p99/max
per target, with --rounds their medians beside each round's load average.

leadchain's endpoint answers 202 and stores the lead in lead_submissions; the leads row is written later
by the lead chain's import step (a Temporal activity). The benchmark does not run Temporal: unless
--no-drain, it runs that step's work itself on the stored submissions (W processes, timed on its own),
then checks that every accepted lead is a row in leads. An endpoint answering 200 is expected to have
written its leads row at once (the bare one; leadchain's before the lead chain).

Exit status: 0 when every request was accepted and every row count matches; 1 on a mismatch or any
error (samples, and the gunicorn log, are printed); 2 when the benchmark itself could not run.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import math
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
SOURCE = "website"
DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
NOISY = 0.10  # share of the machine used by other programs above which a phase's figures are flagged
# Paced mode: requests in flight at once, each on its own connection (gunicorn's sync workers close each after
# its answer); the rest wait their turn in the client's queue, their latency running all the same.
PACED_CONNECTIONS = 64
GOAL_PACED_RATE, GOAL_PACED_P99_MS = 200, 30.0  # issue 21: p99 <= 30 ms at 200 req/s on PostgreSQL
MAX_LEADS = 99_000  # phone numbers are +49 30 231 + 5 digits: 100,000 distinct, warm-up included


class BenchError(RuntimeError):
    """The benchmark could not run (not a finding about the app)."""


# ---------------------------------------------------------------------------------------------- leads

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
# ASCII only and no ae/oe/ue, so leadchain's match_key is simply the lower-cased name (as in the bare app).
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
    "Kieferngrund",
    "Mainbogen",
    "Donauwelle",
    "Isarland",
    "Moselgrund",
    "Ostwind",
    "Westend",
    "Nordstern",
    "Brunnen",
    "Eichenhain",
    "Birkenweg",
    "Feldmark",
    "Heidekraut",
    "Kranich",
    "Leuchtturm",
    "Muehlstein",
    "Ahornblatt",
    "Kastanie",
    "Lerchenberg",
    "Falkenhorst",
    "Wiesengrund",
    "Sternwarte",
    "Uferweg",
]
LEGAL = ["GmbH", "AG", "KG", "GmbH & Co. KG", "UG"]


def make_lead(i: int) -> dict[str, Any]:
    """Lead number i: unique email and phone; names and companies repeat the way a real CRM's do
    (about 40 leads per last name at 2,000, so intake's fuzzy duplicate search has work to do)."""
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    return {
        "first_name": first,
        "last_name": last,
        "company": f"{COMPANIES[i % len(COMPANIES)]} {LEGAL[i % len(LEGAL)]}",
        "email": f"{first}.{last}{i}@{COMPANIES[i % len(COMPANIES)]}.de".lower(),
        "phone": f"+49 30 231{i:05d}",
        "phone_consent": "ja",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": f"bench-{i % 7}",
    }


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


# ------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    name: str
    app: str  # gunicorn application spec
    post_path: str  # where leads are posted
    ready_path: str  # polled with GET until it answers ready_status
    ready_status: int


TARGETS = {
    "leadchain": Target("leadchain", "crm.wsgi:app", f"/webhooks/leads/{SOURCE}", "/healthz", 200),
    # The bare app has one endpoint only; a GET on it answers 405 once a worker is up.
    "bare": Target("bare", "bench.bare_app:create_app()", f"/bare/leads/{SOURCE}", f"/bare/leads/{SOURCE}", 405),
}


# ------------------------------------------------------------------------------------------ databases


class Database:
    """A throw-away database with leadchain's schema."""

    def __init__(self, kind: str, pg_admin_url: str, tmpdir: Path) -> None:
        self.kind = kind
        self.pg_admin_url = pg_admin_url
        self.tmpdir = tmpdir
        self.name: str | None = None
        self.url: str | None = None
        self.path: Path | None = None

    def create(self) -> str:
        if self.kind == "sqlite":
            self.path = self.tmpdir / f"bench_{secrets.token_hex(4)}.db"
            self.url = f"sqlite:///{self.path}"
            return self.url
        name = f"bench_{secrets.token_hex(6)}"
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.name = name
        parts = urlsplit(self.pg_admin_url)
        self.url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
        return self.url

    def _connect(self):
        if self.kind == "sqlite":
            return sqlite3.connect(self.path, timeout=30)
        return psycopg.connect(self.url, connect_timeout=10)

    def count(self, table: str) -> int | None:
        """Rows in `table` (one of ours, never user input), or None when the schema has no such table."""
        assert table in ("leads", "lead_submissions")
        conn = self._connect()
        try:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
            return None
        finally:
            conn.close()

    def lead_by_email(self, email: str) -> dict[str, Any] | None:
        conn = self._connect()
        try:
            cur = conn.execute(
                "SELECT * FROM leads WHERE email = " + ("?" if self.kind == "sqlite" else "%s"), (email,)
            )
            row = cur.fetchone()
            return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))
        finally:
            conn.close()

    def drop(self) -> None:
        if self.kind == "sqlite":
            if self.path is not None:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return
        if self.name is None:
            return
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
        self.name = None


def migrate(url: str, env: dict[str, str], timeout: float) -> None:
    leadchain = BIN / "leadchain"
    cmd = [str(leadchain) if leadchain.exists() else "leadchain", "db-upgrade"]
    try:
        done = subprocess.run(
            cmd, cwd=ROOT, env={**env, "DATABASE_URL": url}, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"migrations did not finish within {timeout:.0f}s") from None
    if done.returncode != 0:
        raise BenchError(f"migrations failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


# ------------------------------------------------------------------------------------------- gunicorn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def machine_busy() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all CPUs since boot (Linux /proc/stat), or None elsewhere."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def process_ticks() -> dict[int, tuple[str, int]]:
    """pid -> (process title, utime + stime in clock ticks) for every process (Linux /proc). PostgreSQL
    processes get their title ("postgres: 15/main: postgres bench_x 127.0.0.1(5123) idle"), others their
    command name."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            if comm == "postgres":
                comm = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(entry.name)] = (comm, int(fields[11]) + int(fields[12]))
    return out


def is_our_postgres(title: str, database: str | None) -> bool:
    """A PostgreSQL process working for the benchmark's database: its backends, and the server's shared
    processes (WAL writer, checkpointer...). Backends of other databases are someone else's work."""
    if database is None or not title.startswith("postgres"):
        return False
    if "127.0.0.1(" in title or "[local]" in title or "::1(" in title:  # a client backend
        return f" {database} " in title
    return True


@dataclass
class CpuUse:
    """CPU seconds spent during an interval, by who spent it; None where /proc is not available."""

    client: float  # this process: httpx clients and request signing
    app: float  # gunicorn master and workers of the target
    database: float  # PostgreSQL: the benchmark database's backends and the server's shared processes
    # (0 for SQLite, whose work is inside the app's processes)
    other: float  # everything else on the machine (other programs, kernel): noise
    capacity: float  # CPU seconds available in the interval (wall time x CPUs)

    @property
    def busy(self) -> float:
        return (self.client + self.app + self.database + self.other) / self.capacity


class CpuMeter:
    def __init__(self, server_pids: Callable[[], list[int]], database: str | None) -> None:
        self.server_pids = server_pids
        self.database = database
        self.start = None

    def _snapshot(self):
        return machine_busy(), process_ticks(), set(self.server_pids())

    def __enter__(self) -> CpuMeter:
        self.result: CpuUse | None = None
        try:
            self.start = self._snapshot()
        except (OSError, ValueError):
            self.start = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.start is None or exc[0] is not None:
            return
        try:
            end = self._snapshot()
        except (OSError, ValueError):
            return
        (busy0, procs0, pids0), (busy1, procs1, pids1) = self.start, end
        if not busy0 or not busy1 or busy1[1] <= busy0[1]:
            return
        hz = os.sysconf("SC_CLK_TCK")
        groups = {"client": 0, "app": 0, "database": 0}
        me, server = os.getpid(), pids0 | pids1
        for pid, (comm, ticks) in procs1.items():
            delta = ticks - procs0.get(pid, (comm, 0))[1]
            group = (
                "client"
                if pid == me
                else "app"
                if pid in server
                else "database"
                if is_our_postgres(comm, self.database)
                else None
            )
            if group:
                groups[group] += delta
        other = max(0, (busy1[0] - busy0[0]) - sum(groups.values()))
        self.result = CpuUse(
            groups["client"] / hz, groups["app"] / hz, groups["database"] / hz, other / hz, (busy1[1] - busy0[1]) / hz
        )


class Server:
    def __init__(
        self, target: Target, env: dict[str, str], workers: int, log_path: Path, access_log: Path | None = None
    ) -> None:
        self.target = target
        self.env = env
        self.workers = workers
        self.log_path = log_path
        # gunicorn's access log, one line per request: method, path and its own request time in microseconds
        # (from the request read to the response written: the server's part, without the client's queue).
        self.access_log = access_log
        self.port = free_port()
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{LOOPBACK}:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--timeout",
            "60",
            "--graceful-timeout",
            "10",
            "--chdir",
            str(ROOT),
            *(
                ["--access-logfile", str(self.access_log), "--access-logformat", "%(m)s %(U)s %(D)s"]
                if self.access_log
                else []
            ),
            self.target.app,
        ]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = self.base_url + self.target.ready_path
        last = "no answer"
        with httpx.Client(timeout=5) as client:
            for _ in range(int(timeout / 0.2) + 1):
                if self.proc.poll() is not None:
                    raise BenchError(
                        f"gunicorn exited with {self.proc.returncode} before it was ready; "
                        f"log: {self.log_path}\n{tail(self.log_path)}"
                    )
                try:
                    response = client.get(url)
                    if response.status_code == self.target.ready_status:
                        return
                    last = f"{response.status_code} {response.text[:200]}"
                except httpx.TransportError as e:
                    last = type(e).__name__
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        raise BenchError(f"{self.target.name} not ready within {timeout:.0f}s (last: {last}); log: {self.log_path}")

    def pids(self) -> list[int]:
        """gunicorn's master and its workers."""
        if self.proc is None:
            return []
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            children = []
        return [self.proc.pid, *map(int, children)]

    def stop(self, timeout: float = 30) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # Our own session (start_new_session): its group is gunicorn and its workers only.
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ----------------------------------------------------------------------------------------------- load


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, every request that got an answer
    outcomes: dict[str, int] = field(default_factory=dict)
    flagged: int = 0
    warnings: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    error_samples: list[dict[str, Any]] = field(default_factory=list)
    wall: float = 0.0
    cpu: CpuUse | None = None
    late: list[float] = field(default_factory=list)  # paced: seconds each request was sent after it was due


def _signed(secret: str, i: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(make_lead(i)).encode()
    msg_id = f"msg_{uuid.uuid4().hex}"
    ts = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }
    return body, headers


async def _post_one(
    client: httpx.AsyncClient, path: str, secret: str, i: int, result: LoadResult, scheduled: float | None = None
) -> None:
    """Sign and post lead i, and count its answer. Latency runs from `scheduled` (paced: when the request was
    due, so a late send or a queue counts) or else from just before the post (closed loop)."""
    body, headers = _signed(secret, i)
    result.sent += 1
    start = time.perf_counter()
    if scheduled is not None:
        result.late.append(start - scheduled)
        start = scheduled
    try:
        response = await client.post(path, content=body, headers=headers)
    except httpx.HTTPError as e:
        result.errors += 1
        key = type(e).__name__
        result.status_counts[key] = result.status_counts.get(key, 0) + 1
        if len(result.error_samples) < 5:
            result.error_samples.append(
                {"lead": i, "request_headers": headers, "request_body": body.decode(), "exception": repr(e)}
            )
        return
    result.latencies.append(time.perf_counter() - start)
    key = str(response.status_code)
    result.status_counts[key] = result.status_counts.get(key, 0) + 1
    if 200 <= response.status_code < 300:
        result.ok += 1
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        # 200 {"outcome": "created", ...} or 202 {"status": "accepted", ...}
        outcome = answer.get("outcome") or answer.get("status") or "?"
        result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
        result.flagged += len(answer.get("flagged_duplicates") or [])
        result.warnings += len(answer.get("warnings") or [])
    else:
        result.errors += 1
        if len(result.error_samples) < 5:
            result.error_samples.append(
                {
                    "lead": i,
                    "request": f"POST {str(client.base_url).rstrip('/')}{path}",
                    "request_headers": headers,
                    "request_body": body.decode(),
                    "status": response.status_code,
                    "response_headers": dict(response.headers),
                    "response_body": response.text[:2000],
                }
            )


async def run_load(
    base_url: str, path: str, secret: str, indices: range, concurrency: int, timeout: float, request_timeout: float
) -> LoadResult:
    """Closed loop: C clients, each sending its next lead when the last is answered."""
    result = LoadResult()
    todo = iter(indices)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client: httpx.AsyncClient) -> None:
        for i in todo:  # shared iterator: each index is taken by exactly one client
            await _post_one(client, path, secret, i, result)

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=request_timeout) as client:
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(client_loop(client)) for _ in range(concurrency)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout)
        except TimeoutError:
            raise BenchError(
                f"load did not finish within {timeout:.0f}s ({result.sent} of {len(indices)} sent)"
            ) from None
        result.wall = time.perf_counter() - t0
    return result


async def run_paced(
    base_url: str, path: str, secret: str, indices: range, rate: float, timeout: float, request_timeout: float
) -> LoadResult:
    """Open loop at a fixed rate: request k is due at t0 + k / rate and is queued then, whether or not the
    earlier ones were answered; PACED_CONNECTIONS senders take the queue in order. Its latency runs from when it
    was due, so a stalled server shows in every request that waited for it (no coordinated omission), and so
    does a client that fell behind its schedule (LoadResult.late: sent after it was due, queue included)."""
    result = LoadResult()
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    limits = httpx.Limits(max_connections=PACED_CONNECTIONS, max_keepalive_connections=PACED_CONNECTIONS)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=request_timeout) as client:

        async def sender() -> None:
            # A fixed set of senders, not a task per request: httpx's pool scans every waiting request on each
            # event, which with thousands waiting starves the client itself.
            while (item := await queue.get()) is not None:
                await _post_one(client, path, secret, item[0], result, scheduled=item[1])

        async def schedule() -> None:
            senders = [asyncio.create_task(sender()) for _ in range(PACED_CONNECTIONS)]
            for k, i in enumerate(indices):
                due = t0 + k / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                queue.put_nowait((i, due))
            for _ in senders:
                queue.put_nowait(None)
            await asyncio.gather(*senders)

        t0 = time.perf_counter() + 0.05
        try:
            await asyncio.wait_for(schedule(), timeout)
        except TimeoutError:
            raise BenchError(
                f"load did not finish within {timeout:.0f}s ({result.sent} of {len(indices)} sent)"
            ) from None
        result.wall = time.perf_counter() - t0
    return result


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# ------------------------------------------------------------------------------------ the import step

# Run in a child process (`bench/intake.py --drain-part K/W`): what the lead chain's import_submission
# activity does for each stored submission, minus Temporal -- crm.services.submissions.process (the
# intake: dedupe, insert, consent, audit), then the activity's own bookkeeping (the lead's chain_id).
DRAIN_CODE_NOTE = "submissions.process + lead.chain_id, as activities.crm_activities.import_submission"


def drain_part(part: str) -> int:
    """One import process. Protocol with the parent on stdin/stdout, so that start-up is not timed and the
    process (and its PostgreSQL backend) is still alive when the parent reads the CPU counters:
    prints "ready", waits for a line, processes its share, prints a JSON result, waits for end of stdin."""
    k, w = (int(x) for x in part.split("/"))
    sys.path.insert(0, str(ROOT))
    import traceback

    import sqlalchemy as sa

    from crm import create_app
    from crm.extensions import db
    from crm.models import Lead, LeadSubmission
    from crm.services import submissions
    from crm.tenancy.context import company_scope, operator_scope

    app = create_app()
    threshold = app.config["LEADCHAIN"].fuzzy_threshold
    outcomes: dict[str, int] = {}
    errors: list[str] = []
    with app.app_context():
        # Listed across companies, processed each in its own company's scope, as the import activity does.
        with operator_scope("bench", "list the stored submissions to import"):
            todo = [
                (i, chain_id, company_id)
                for i, chain_id, company_id in db.session.execute(
                    sa.select(LeadSubmission.id, LeadSubmission.chain_id, LeadSubmission.company_id)
                    .where(LeadSubmission.processed_at.is_(None))
                    .order_by(LeadSubmission.id)
                ).all()
                if i % w == k
            ]
            db.session.rollback()
        print("ready", flush=True)
        sys.stdin.readline()
        for submission_id, chain_id, company_id in todo:
            try:
                with company_scope(company_id):
                    result = submissions.process(submission_id, fuzzy_threshold=threshold)
                    lead = db.session.get(Lead, result.lead_id)
                    if not lead.chain_id:
                        lead.chain_id = chain_id
                        db.session.commit()
                outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            except Exception:  # noqa: BLE001 - reported to the parent with its traceback
                db.session.rollback()
                if len(errors) < 3:
                    errors.append(f"submission {submission_id}:\n{traceback.format_exc()}")
                outcomes["error"] = outcomes.get("error", 0) + 1
        db.session.remove()
        print(json.dumps({"outcomes": outcomes, "errors": errors}), flush=True)
        sys.stdin.read()  # keep the process and its database connection until the parent has measured
    return 0


@dataclass
class DrainResult:
    processed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0
    cpu: CpuUse | None = None


def _readline(proc: subprocess.Popen, deadline: float) -> str:
    """One line of a child's stdout, or BenchError when the deadline passes first."""
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(max(0.0, deadline - time.monotonic())):
            raise BenchError("import step: a process did not answer in time")
    line = proc.stdout.readline()
    if not line:
        raise BenchError(f"import process ended early (exit {proc.wait(timeout=10)}):\n{proc.stderr.read()[-4000:]}")
    return line


def drain(env: dict[str, str], workers: int, timeout: float, database: str | None) -> DrainResult:
    result = DrainResult()
    end = time.monotonic() + timeout
    cmd = [sys.executable, str(Path(__file__).resolve()), "--drain-part"]
    procs = [
        subprocess.Popen(
            [*cmd, f"{k}/{workers}"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        for k in range(workers)
    ]
    try:
        for proc in procs:
            if _readline(proc, end).strip() != "ready":
                raise BenchError("import process did not start")
        with CpuMeter(lambda: [p.pid for p in procs], database) as meter:
            t0 = time.perf_counter()
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            answers = [json.loads(_readline(proc, end)) for proc in procs]
            result.wall = time.perf_counter() - t0
        for proc in procs:
            proc.stdin.close()
        for proc in procs:
            proc.wait(timeout=max(1.0, end - time.monotonic()))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    for answer in answers:
        for key, n in answer["outcomes"].items():
            result.outcomes[key] = result.outcomes.get(key, 0) + n
        result.errors.extend(answer["errors"])
    result.processed = sum(n for key, n in result.outcomes.items() if key != "error")
    result.cpu = meter.result
    if result.cpu is not None:  # the import processes are the "app" here, and nothing is a client
        result.cpu.other += result.cpu.client
        result.cpu.client = 0.0
    return result


# -------------------------------------------------------------------------------------------- one run


@dataclass
class TargetRun:
    target: Target
    warmup: LoadResult
    load: LoadResult
    leads_rows: int | None
    submission_rows: int | None
    drained: DrainResult | None
    sample_row: dict[str, Any] | None
    log_path: Path

    def answered(self, status: str) -> int:
        return self.warmup.status_counts.get(status, 0) + self.load.status_counts.get(status, 0)

    @property
    def expected_submissions(self) -> int:
        """Every 202 stored a lead_submissions row."""
        return self.answered("202")

    @property
    def expected_leads(self) -> int:
        """Every 200 wrote its leads row at once; a 202 did once the import step ran for it."""
        return self.answered("200") + (self.drained.outcomes.get("created", 0) if self.drained else 0)

    def checks(self) -> list[tuple[str, int | None, int, bool]]:
        """(table, rows, expected, ok) for each table the endpoint writes."""
        out = []
        if self.expected_submissions or self.submission_rows:
            out.append(
                (
                    "lead_submissions",
                    self.submission_rows,
                    self.expected_submissions,
                    self.submission_rows == self.expected_submissions,
                )
            )
        if self.answered("202") and self.drained is None:
            out.append(("leads", self.leads_rows, 0, self.leads_rows == 0))  # no import step ran
        else:
            accepted = self.warmup.ok + self.load.ok
            out.append(
                ("leads", self.leads_rows, accepted, self.leads_rows == accepted and self.expected_leads == accepted)
            )
        return out


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise BenchError("overall --timeout reached")
        return min(left, cap) if cap else left


def run_target(
    target: Target, args: argparse.Namespace, base_env: dict[str, str], secret: str, tmpdir: Path, deadline: Deadline
) -> TargetRun:
    db = Database(args.db, args.pg_admin_url, tmpdir)
    log(f"[{target.name}] creating {args.db} database")
    url = db.create()
    drained = None
    try:
        env = {**base_env, "DATABASE_URL": url}
        log(f"[{target.name}] migrating {db.name or db.path}")
        migrate(url, env, deadline.left(180))
        server = Server(target, env, args.workers, tmpdir / f"gunicorn-{target.name}.log")
        server.start()
        try:
            server.wait_ready(deadline.left(60))
            log(
                f"[{target.name}] gunicorn up on {server.base_url} ({args.workers} workers); "
                f"warm-up {args.warmup}, then {args.leads} leads "
                + (f"paced at {args.paced:g}/s (open loop)" if args.paced else f"with {args.concurrency} clients")
            )
            warmup = asyncio.run(
                run_load(
                    server.base_url,
                    target.post_path,
                    secret,
                    range(args.warmup),
                    args.concurrency,
                    deadline.left(),
                    args.request_timeout,
                )
            )
            measured = range(args.warmup, args.warmup + args.leads)
            with CpuMeter(server.pids, db.name) as meter:
                if args.paced:
                    load = asyncio.run(
                        run_paced(
                            server.base_url,
                            target.post_path,
                            secret,
                            measured,
                            args.paced,
                            deadline.left(),
                            args.request_timeout,
                        )
                    )
                else:
                    load = asyncio.run(
                        run_load(
                            server.base_url,
                            target.post_path,
                            secret,
                            measured,
                            args.concurrency,
                            deadline.left(),
                            args.request_timeout,
                        )
                    )
            load.cpu = meter.result
        finally:
            server.stop()
        submission_rows = db.count("lead_submissions")
        log(
            f"[{target.name}] {load.ok}/{load.sent} accepted in {load.wall:.1f}s, answers {load.status_counts}; "
            f"rows: leads {db.count('leads')}, lead_submissions {submission_rows}"
        )
        if submission_rows and args.drain:
            log(
                f"[{target.name}] import step: {submission_rows} stored submissions, {args.workers} processes "
                f"({DRAIN_CODE_NOTE})"
            )
            drained = drain(env, args.workers, deadline.left(), db.name)
            log(f"[{target.name}] import step: {drained.processed} in {drained.wall:.1f}s, {drained.outcomes}")
        leads_rows = db.count("leads")
        sample = db.lead_by_email(make_lead(args.warmup)["email"])
    finally:
        db.drop()
        log(f"[{target.name}] database dropped")
    return TargetRun(target, warmup, load, leads_rows, submission_rows, drained, sample, server.log_path)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def cpu_cells(cpu: CpuUse | None, n: int, client: bool = True) -> list[str]:
    if cpu is None or not n:
        return ["-"] * (5 if client else 4)
    cells = [f"{cpu.app / n * 1000:.1f}", f"{cpu.database / n * 1000:.1f}"]
    if client:
        cells.append(f"{cpu.client / n * 1000:.1f}")
    return cells + [f"{cpu.busy:.0%}", f"{cpu.other / cpu.capacity:.0%}"]


def server_cpu_per_lead(run: TargetRun) -> float | None:
    """CPU ms (app + database) the server side spent per stored lead: endpoint, plus import step if any."""
    ld = run.load
    if ld.cpu is None or not ld.sent:
        return None
    total = (ld.cpu.app + ld.cpu.database) / ld.sent
    if run.answered("202"):
        dr = run.drained
        if dr is None or dr.cpu is None or not dr.processed:
            return None
        total += (dr.cpu.app + dr.cpu.database) / dr.processed
    return total * 1000


def round_summary(runs: list[TargetRun], load: float) -> dict[str, Any]:
    """One round's headline figures by target, and the machine's 1-minute load average meanwhile."""
    out: dict[str, Any] = {"load": load}
    for r in runs:
        ld = r.load
        out[r.target.name] = {
            "leads/s": ld.ok / ld.wall if ld.wall else float("nan"),
            "p50": percentile(ld.latencies, 50),
            "p95": percentile(ld.latencies, 95),
            "p99": percentile(ld.latencies, 99),
            "max": max(ld.latencies, default=float("nan")),
            # endpoint and import step; the endpoint alone when the import step did not run (--no-drain)
            "cpu": server_cpu_per_lead(r) or (1000 * (ld.cpu.app + ld.cpu.database) / ld.sent if ld.cpu else None),
            "other": ld.cpu.other / ld.cpu.capacity if ld.cpu else float("nan"),
        }
    return out


def _median(values: list[float]) -> float:
    ordered = sorted(v for v in values if v is not None and not math.isnan(v))
    if not ordered:
        return float("nan")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def report_medians(summaries: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Per round and median: each target's leads/s, p50/p95/p99/max, server CPU per lead, and the ratios
    (paced: of p99, since both targets are sent the same rate; closed loop: of throughput)."""
    names = [n for n in args.targets if all(n in s for s in summaries)]
    print(f"\nRounds ({len(summaries)}; load = 1-minute load average during the round, cpus={os.cpu_count()})")
    header = ["round", "load"]
    for n in names:
        header += [f"{n} leads/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "server cpu ms/lead*", "other"]
    both = "leadchain" in names and "bare" in names
    headline = "p99" if args.paced else "leads/s"
    if both:
        header += ["p99 ratio" if args.paced else "throughput ratio", "cpu ratio"]
    rows = []

    def cells(label: str, pick: Callable[[str, str], float], load: float) -> list[str]:
        row = [label, f"{load:.1f}"]
        for n in names:
            cpu = pick(n, "cpu")
            row += [
                f"{pick(n, 'leads/s'):.1f}",
                fmt_ms(pick(n, "p50")),
                fmt_ms(pick(n, "p95")),
                fmt_ms(pick(n, "p99")),
                fmt_ms(pick(n, "max")),
                "-" if cpu is None or math.isnan(cpu) else f"{cpu:.2f}",
                f"{pick(n, 'other'):.0%}",
            ]
        if both:
            ratio = pick("leadchain", headline) / pick("bare", headline)
            lc_cpu, bare_cpu = pick("leadchain", "cpu"), pick("bare", "cpu")
            row += [f"{ratio:.2f}x", f"{lc_cpu / bare_cpu:.2f}x" if lc_cpu and bare_cpu else "-"]
        return row

    for i, s in enumerate(summaries):
        rows.append(cells(str(i + 1), lambda n, k, s=s: s[n][k], s["load"]))
    if both:  # the median of the per-round ratios, each measured with its rival in the same round
        ratios = [s["leadchain"][headline] / s["bare"][headline] for s in summaries]
        cpu_ratios = [
            s["leadchain"]["cpu"] / s["bare"]["cpu"] for s in summaries if s["leadchain"]["cpu"] and s["bare"]["cpu"]
        ]
    rows.append(
        cells("median", lambda n, k: _median([s[n][k] for s in summaries]), _median([s["load"] for s in summaries]))
    )
    print_table(header, rows)
    print("* app + db, endpoint plus import step (the endpoint alone with --no-drain)")
    if both:
        print(
            f"median of the rounds' ratios leadchain/bare: {'p99' if args.paced else 'throughput'} "
            f"{_median(ratios):.2f}x"
            + (f", server CPU per stored lead {_median(cpu_ratios):.2f}x" if cpu_ratios else "")
        )
    if args.paced and "leadchain" in names:
        paced_verdict([s["leadchain"]["p99"] for s in summaries], args)


def paced_verdict(p99s: list[float], args: argparse.Namespace) -> None:
    """Issue 21's goal for the paced run (p99 <= 30 ms at 200 req/s on PostgreSQL), on the median p99."""
    p99 = _median(p99s) * 1000
    measured = f"leadchain median p99 of {len(p99s)} round(s) at {args.paced:g} req/s on {args.db}: {p99:.1f} ms"
    if args.paced != GOAL_PACED_RATE or args.db != "postgresql":
        print(f"{measured} (issue 21's goal, p99 <= {GOAL_PACED_P99_MS:.0f} ms, is for 200 req/s on PostgreSQL)")
        return
    verdict = "met" if p99 <= GOAL_PACED_P99_MS else "NOT met"
    print(f"{measured}; goal p99 <= {GOAL_PACED_P99_MS:.0f} ms (issue 21): {verdict}")


def report(runs: list[TargetRun], args: argparse.Namespace) -> int:
    print()
    print(
        f"db={args.db} leads={args.leads} "
        + (f"paced={args.paced:g}/s (open loop) " if args.paced else f"concurrency={args.concurrency} ")
        + f"workers={args.workers} warmup={args.warmup} cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}"
        + (f" busy-before={args.busy_before:.0%}" if args.busy_before is not None else "")
    )
    if args.paced:
        print(
            f"paced: a request due every {1000 / args.paced:.2f} ms and sent then, answered or not; latency from "
            "when it was due (no coordinated omission)"
        )
    print(
        "\nHTTP endpoint (CPU ms per request: app = gunicorn, db = PostgreSQL (none for SQLite), "
        "client = this process; other = rest of the machine, noise)"
    )
    rows = []
    for r in runs:
        ld = r.load
        rows.append(
            [
                r.target.name,
                r.target.post_path,
                " ".join(f"{k}:{v}" for k, v in sorted(ld.status_counts.items())),
                f"{ld.ok}/{ld.sent}",
                str(ld.errors),
                f"{ld.wall:.2f}",
                f"{ld.ok / ld.wall:.1f}" if ld.wall else "-",
                fmt_ms(percentile(ld.latencies, 50)),
                fmt_ms(percentile(ld.latencies, 95)),
                fmt_ms(percentile(ld.latencies, 99)),
                fmt_ms(max(ld.latencies, default=float("nan"))),
                *cpu_cells(ld.cpu, ld.sent),
            ]
        )
    print_table(
        [
            "target",
            "endpoint",
            "answers",
            "accepted",
            "errors",
            "wall s",
            "leads/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "cpu app",
            "db",
            "client",
            "busy",
            "other",
        ],
        rows,
    )

    if args.paced:
        for r in runs:
            late = r.load.late
            print(
                f"{r.target.name}: sent {r.load.sent} at {r.load.sent / r.load.wall:.1f}/s over {r.load.wall:.1f} s; "
                f"the client sent late by p99 {fmt_ms(percentile(late, 99))} ms, max "
                f"{fmt_ms(max(late, default=float('nan')))} ms"
            )
        if args.rounds == 1 and "leadchain" in {r.target.name for r in runs}:
            lc = next(r for r in runs if r.target.name == "leadchain")
            paced_verdict([percentile(lc.load.latencies, 99)], args)

    drained = [r for r in runs if r.drained is not None]
    if drained:
        print(
            f"\nImport step of the lead chain, run directly without Temporal ({DRAIN_CODE_NOTE}; "
            f"{args.workers} processes; CPU ms per lead)"
        )
        print_table(
            ["target", "leads", "outcomes", "errors", "wall s", "leads/s", "cpu app", "db", "busy", "other"],
            [
                [
                    r.target.name,
                    str(r.drained.processed),
                    " ".join(f"{k}:{v}" for k, v in sorted(r.drained.outcomes.items())),
                    str(len(r.drained.errors)),
                    f"{r.drained.wall:.2f}",
                    f"{r.drained.processed / r.drained.wall:.1f}" if r.drained.wall else "-",
                    *cpu_cells(r.drained.cpu, r.drained.processed, client=False),
                ]
                for r in drained
            ],
        )

    print("\nRows counted in the database after the run")
    print_table(
        ["target", "table", "rows", "expected", "ok"],
        [
            [r.target.name, table, "-" if rows_ is None else str(rows_), str(expected), "yes" if ok else "NO"]
            for r in runs
            for table, rows_, expected, ok in r.checks()
        ],
    )

    by_name = {r.target.name: r for r in runs}
    if "leadchain" in by_name and "bare" in by_name:
        lc_run, bare_run = by_name["leadchain"], by_name["bare"]
        lc, bare = lc_run.load, bare_run.load
        print()
        if lc.wall and bare.wall and bare.ok and lc.latencies and bare.latencies:
            print(
                f"leadchain/bare, HTTP endpoint: throughput {(lc.ok / lc.wall) / (bare.ok / bare.wall):.2f}x, "
                f"p50 {percentile(lc.latencies, 50) / percentile(bare.latencies, 50):.2f}x, "
                f"p99 {percentile(lc.latencies, 99) / percentile(bare.latencies, 99):.2f}x"
            )
        lc_cpu, bare_cpu = server_cpu_per_lead(lc_run), server_cpu_per_lead(bare_run)
        if lc_cpu and bare_cpu:
            what = "endpoint + import step" if lc_run.answered("202") else "endpoint"
            print(
                f"leadchain/bare, server CPU per stored lead (app + db; leadchain: {what}): "
                f"{lc_cpu:.1f} / {bare_cpu:.1f} ms = {lc_cpu / bare_cpu:.2f}x"
            )
        a, b = lc_run.sample_row, bare_run.sample_row
        if a and b:
            ignored = {"id", "created_at", "updated_at", "chain_id", "chain_stage"}
            diff = sorted(k for k in a if k not in ignored and a.get(k) != b.get(k))
            print(
                "same leads row in both databases (ignoring id, timestamps, chain_*): "
                + ("yes" if not diff else f"NO, differs in {', '.join(diff)}")
            )
    for r in runs:
        print(
            f"{r.target.name}: answers {r.load.outcomes}, flagged duplicates {r.load.flagged}, "
            f"warnings {r.load.warnings}"
        )
        if r.answered("202") and r.drained is None:
            print(
                f"{r.target.name}: answered 202 -- leads are stored in lead_submissions and the leads row is "
                "written later by the lead chain (not run: --no-drain)"
            )

    for r in runs:
        for phase, cpu in (("HTTP endpoint", r.load.cpu), ("import step", r.drained.cpu if r.drained else None)):
            if cpu is not None and cpu.other / cpu.capacity > NOISY:
                print(
                    f"WARNING {r.target.name} {phase}: other programs used {cpu.other / cpu.capacity:.0%} of the "
                    "machine meanwhile; its figures are disturbed, run again on an idle machine"
                )

    status = 0
    for r in runs:
        for table, rows_, expected, ok in r.checks():
            if not ok:
                print(f"MISMATCH {r.target.name}: {table} has {rows_} rows, expected {expected}")
                status = 1
        errors = r.warmup.errors + r.load.errors
        if errors:
            status = 1
            print(f"ERRORS {r.target.name}: {errors} requests failed; first samples:")
            for sample in (r.warmup.error_samples + r.load.error_samples)[:5]:
                print(json.dumps(sample, indent=2, ensure_ascii=False))
            print(f"--- tail of {r.log_path}:\n{tail(r.log_path, 120)}")
        if r.drained is not None and r.drained.errors:
            status = 1
            print(f"ERRORS {r.target.name} import step ({r.drained.outcomes.get('error', 0)} failed):")
            for error in r.drained.errors[:3]:
                print(error)
    return status


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--leads", type=int, default=2000, help="measured leads per target (default 2000)")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    p.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers, and import processes (default 2)")
    p.add_argument("--warmup", type=int, default=50, help="warm-up requests per target, not measured (default 50)")
    p.add_argument("--targets", default="leadchain,bare", help="comma-separated: leadchain,bare")
    p.add_argument(
        "--no-drain",
        dest="drain",
        action="store_false",
        help="when leadchain answers 202, do not run the import step on the stored submissions",
    )
    p.add_argument(
        "--pg-admin-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", DEFAULT_PG_ADMIN),
        help=f"PostgreSQL database to run CREATE/DROP DATABASE from (default {DEFAULT_PG_ADMIN})",
    )
    p.add_argument("--timeout", type=float, default=1800, help="overall limit in seconds (default 1800)")
    p.add_argument("--request-timeout", type=float, default=30, help="per-request limit in seconds (default 30)")
    p.add_argument("--keep-logs", action="store_true", help="keep the gunicorn logs (kept anyway on errors)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds of every target, the targets' order alternating; medians over the rounds at the end",
    )
    p.add_argument(
        "--paced",
        type=float,
        default=0,
        metavar="RATE",
        help="open loop: send RATE requests per second on a fixed schedule, answered or not, latency from when "
        "each was due (instead of --concurrency closed-loop clients)",
    )
    p.add_argument("--drain-part", help=argparse.SUPPRESS)  # internal: one import-step process
    args = p.parse_args(argv)
    if args.drain_part:
        return args
    if not 1 <= args.leads or args.leads + args.warmup > MAX_LEADS:
        p.error(f"--leads plus --warmup must be between 1 and {MAX_LEADS}")
    if not 1 <= args.concurrency <= 1000 or not 1 <= args.workers <= 64 or args.warmup < 0:
        p.error("--concurrency 1..1000, --workers 1..64, --warmup >= 0")
    if args.paced and not 0 < args.paced <= 5000:
        p.error("--paced 0..5000 requests per second")
    if not 1 <= args.rounds <= 20:
        p.error("--rounds 1..20")
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown or not args.targets:
        p.error(f"unknown target(s) {unknown}; choose from {', '.join(TARGETS)}")
    if args.db == "postgresql":
        host = urlsplit(args.pg_admin_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            p.error("--pg-admin-url must point at a loopback address")
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.drain_part:
        return drain_part(args.drain_part)
    # SIGTERM unwinds like Ctrl+C, so gunicorn is stopped and the database dropped.
    signal.signal(signal.SIGTERM, _interrupt)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "LEADCHAIN_SECRET_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "LEADCHAIN_SECRET_WEBHOOKS_LEADS_" + SOURCE.upper(): secret,
            "LEADCHAIN_SECRET_APP_SECRET_KEY": secrets.token_urlsafe(32),
            # Intake refuses without a chain key (crm.services.submissions.ChainKeyMissing).
            "LEADCHAIN_SECRET_APP_CHAIN_KEY": secrets.token_hex(16),
            "PYTHONUNBUFFERED": "1",
        }
    )
    deadline = Deadline(args.timeout)
    args.busy_before = None
    before = machine_busy()
    time.sleep(1)
    after = machine_busy()
    if before and after and after[1] > before[1]:
        busy_before = (after[0] - before[0]) / (after[1] - before[1])
        args.busy_before = busy_before
        log(f"machine CPU busy before the run: {busy_before:.0%}")
        if busy_before > 0.2:
            log("WARNING: the machine is not idle; the figures will be noisy (the client shares its CPUs too)")
    tmpdir = Path(tempfile.mkdtemp(prefix="leadchain-bench-"))
    status = 2
    try:
        summaries = []
        status = 0
        for round_ in range(args.rounds):
            order = args.targets if round_ % 2 == 0 else list(reversed(args.targets))
            load_before = os.getloadavg()
            runs = [run_target(TARGETS[name], args, env, secret, tmpdir, deadline) for name in order]
            load_after = os.getloadavg()
            if args.rounds > 1:
                print(f"\n=== round {round_ + 1} of {args.rounds} ({', '.join(order)})")
            status = max(status, report(runs, args))
            summaries.append(round_summary(runs, (load_before[0] + load_after[0]) / 2))
        if args.rounds > 1:
            report_medians(summaries, args)
    except BenchError as e:
        log(f"benchmark failed: {e}")
    except KeyboardInterrupt:
        log("interrupted")
        status = 130
    finally:
        if status == 0 and not args.keep_logs:
            shutil.rmtree(tmpdir, ignore_errors=True)
        else:
            log(f"gunicorn logs kept in {tmpdir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
