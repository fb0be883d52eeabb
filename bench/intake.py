"""Benchmark: leadchain's signed lead webhook against a bare insert-only Flask endpoint.

    .venv/bin/python bench/intake.py [--leads N] [--concurrency C] [--db sqlite|postgresql] [--workers W]

For each target (leadchain's POST /webhooks/leads/<source>, then bench/bare_app.py's POST
/bare/leads/<source>): make a fresh database (PostgreSQL: CREATE DATABASE bench_<random>, dropped at the
end; SQLite: a temp file), run leadchain's migrations into it, start gunicorn with W sync workers on a
free 127.0.0.1 port, warm up, post N distinct leads with C concurrent httpx clients (each request
signed with the Standard Webhooks scheme and a fresh webhook-id, for both targets), stop gunicorn and
count the rows in `leads` directly in the database. Prints one table and the ratios leadchain/bare.

Exit status: 0 when every request was accepted and every accepted lead is a row; 1 on a row-count
mismatch or any error; 2 when the benchmark itself could not run (database, gunicorn, timeout).
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
MAX_LEADS = 99_000  # phone numbers are +49 30 231 + 5 digits: 100,000 distinct, warm-up included


class BenchError(RuntimeError):
    """The benchmark could not run (not a finding about the app)."""


# ---------------------------------------------------------------------------------------------- leads

FIRST = ["Anna", "Lukas", "Maria", "Jonas", "Sophie", "Felix", "Laura", "Paul", "Lea", "Tim", "Julia",
         "Jan", "Lisa", "Niklas", "Sarah", "David", "Hannah", "Leon", "Katharina", "Tobias", "Lena",
         "Florian", "Nina", "Stefan", "Clara", "Markus", "Emma", "Thomas", "Marie", "Sebastian"]
# ASCII only and no ae/oe/ue, so leadchain's match_key is simply the lower-cased name (as in the bare app).
LAST = ["Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
        "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "Zimmermann", "Braun", "Hofmann",
        "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Schmid", "Schulze",
        "Maier", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Weiss", "Jung", "Hahn", "Vogel",
        "Friedrich", "Keller", "Berger", "Frank", "Roth", "Beck", "Lorenz", "Baumann", "Franke",
        "Albrecht", "Simon", "Ludwig", "Winter"]
COMPANIES = ["Acme", "Nordlicht", "Bergwerk", "Havelblick", "Spreetal", "Rheinkraft", "Alpenblick",
             "Elbufer", "Lindenhof", "Sonnenfeld", "Waldrand", "Seeblick", "Taunus", "Hafenkante",
             "Kieferngrund", "Mainbogen", "Donauwelle", "Isarland", "Moselgrund", "Ostwind", "Westend",
             "Nordstern", "Brunnen", "Eichenhain", "Birkenweg", "Feldmark", "Heidekraut", "Kranich",
             "Leuchtturm", "Muehlstein", "Ahornblatt", "Kastanie", "Lerchenberg", "Falkenhorst",
             "Wiesengrund", "Sternwarte", "Uferweg"]
LEGAL = ["GmbH", "AG", "KG", "GmbH & Co. KG", "UG"]


def make_lead(i: int) -> dict[str, Any]:
    """Lead number i: unique email and phone; names and companies repeat the way a real CRM's do
    (about 40 leads per last name at 2,000, so intake's fuzzy duplicate search has work to do)."""
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    return {
        "first_name": first, "last_name": last,
        "company": f"{COMPANIES[i % len(COMPANIES)]} {LEGAL[i % len(LEGAL)]}",
        "email": f"{first}.{last}{i}@{COMPANIES[i % len(COMPANIES)]}.de".lower(),
        "phone": f"+49 30 231{i:05d}",
        "phone_consent": "ja",
        "utm_source": "google", "utm_medium": "cpc", "utm_campaign": f"bench-{i % 7}",
    }


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


# ------------------------------------------------------------------------------------------- targets

@dataclass(frozen=True)
class Target:
    name: str
    app: str           # gunicorn application spec
    post_path: str     # where leads are posted
    ready_path: str    # polled with GET until it answers ready_status
    ready_status: int


TARGETS = {
    "leadchain": Target("leadchain", "crm:create_app()", f"/webhooks/leads/{SOURCE}", "/healthz", 200),
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

    def count_leads(self) -> int:
        conn = self._connect()
        try:
            return int(conn.execute("SELECT count(*) FROM leads").fetchone()[0])
        finally:
            conn.close()

    def lead_by_email(self, email: str) -> dict[str, Any] | None:
        conn = self._connect()
        try:
            cur = conn.execute("SELECT * FROM leads WHERE email = " + ("?" if self.kind == "sqlite" else "%s"),
                               (email,))
            row = cur.fetchone()
            return None if row is None else dict(zip([d[0] for d in cur.description], row))
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
        done = subprocess.run(cmd, cwd=ROOT, env={**env, "DATABASE_URL": url}, capture_output=True, text=True,
                              timeout=timeout)
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


def _cpu_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


class Server:
    def __init__(self, target: Target, env: dict[str, str], workers: int, log_path: Path) -> None:
        self.target = target
        self.env = env
        self.workers = workers
        self.log_path = log_path
        self.port = free_port()
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "gunicorn", "--bind", f"{LOOPBACK}:{self.port}",
               "--workers", str(self.workers), "--worker-class", "sync", "--timeout", "60",
               "--graceful-timeout", "10", "--chdir", str(ROOT), self.target.app]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = self.base_url + self.target.ready_path
        last = "no answer"
        with httpx.Client(timeout=5) as client:
            for _ in range(int(timeout / 0.2) + 1):
                if self.proc.poll() is not None:
                    raise BenchError(f"gunicorn exited with {self.proc.returncode} before it was ready; "
                                     f"log: {self.log_path}\n{tail(self.log_path)}")
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

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            return [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            return []

    def worker_cpu_seconds(self) -> float | None:
        try:
            return sum(_cpu_ticks(pid) for pid in self.worker_pids()) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

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
    client_cpu: float = 0.0
    server_cpu: float | None = None
    machine_busy: float | None = None  # share of all CPUs busy during the load (client, gunicorn, database)


async def run_load(base_url: str, path: str, secret: str, indices: range, concurrency: int,
                   timeout: float, request_timeout: float) -> LoadResult:
    result = LoadResult()
    todo = iter(indices)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client: httpx.AsyncClient) -> None:
        for i in todo:  # shared iterator: each index is taken by exactly one client
            body = json.dumps(make_lead(i)).encode()
            msg_id = f"msg_{uuid.uuid4().hex}"
            ts = int(time.time())
            headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(ts),
                       "webhook-signature": sign(secret, msg_id, ts, body)}
            result.sent += 1
            start = time.perf_counter()
            try:
                response = await client.post(path, content=body, headers=headers)
            except httpx.HTTPError as e:
                result.errors += 1
                key = type(e).__name__
                result.status_counts[key] = result.status_counts.get(key, 0) + 1
                if len(result.error_samples) < 5:
                    result.error_samples.append({"lead": i, "request_headers": headers, "request_body": body.decode(),
                                                 "exception": repr(e)})
                continue
            result.latencies.append(time.perf_counter() - start)
            key = str(response.status_code)
            result.status_counts[key] = result.status_counts.get(key, 0) + 1
            if 200 <= response.status_code < 300:
                result.ok += 1
                try:
                    answer = response.json()
                except ValueError:
                    answer = {}
                outcome = answer.get("outcome", "?")
                result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
                result.flagged += len(answer.get("flagged_duplicates") or [])
                result.warnings += len(answer.get("warnings") or [])
            else:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append({
                        "lead": i, "request": f"POST {base_url}{path}", "request_headers": headers,
                        "request_body": body.decode(), "status": response.status_code,
                        "response_headers": dict(response.headers), "response_body": response.text[:2000]})

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=request_timeout) as client:
        cpu0, t0 = time.process_time(), time.perf_counter()
        tasks = [asyncio.create_task(client_loop(client)) for _ in range(concurrency)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout)
        except asyncio.TimeoutError:
            raise BenchError(f"load did not finish within {timeout:.0f}s ({result.sent} of {len(indices)} sent)") \
                from None
        result.wall = time.perf_counter() - t0
        result.client_cpu = time.process_time() - cpu0
    return result


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# -------------------------------------------------------------------------------------------- one run

@dataclass
class TargetRun:
    target: Target
    warmup: LoadResult
    load: LoadResult
    rows: int
    sample_row: dict[str, Any] | None
    log_path: Path

    @property
    def expected_rows(self) -> int:
        return self.warmup.ok + self.load.ok


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise BenchError("overall --timeout reached")
        return min(left, cap) if cap else left


def run_target(target: Target, args: argparse.Namespace, base_env: dict[str, str], secret: str,
               tmpdir: Path, deadline: Deadline) -> TargetRun:
    db = Database(args.db, args.pg_admin_url, tmpdir)
    log(f"[{target.name}] creating {args.db} database")
    url = db.create()
    try:
        env = {**base_env, "DATABASE_URL": url}
        log(f"[{target.name}] migrating {db.name or db.path}")
        migrate(url, env, deadline.left(180))
        server = Server(target, env, args.workers, tmpdir / f"gunicorn-{target.name}.log")
        server.start()
        try:
            server.wait_ready(deadline.left(60))
            log(f"[{target.name}] gunicorn up on {server.base_url} ({args.workers} workers); "
                f"warm-up {args.warmup}, then {args.leads} leads with {args.concurrency} clients")
            warmup = asyncio.run(run_load(server.base_url, target.post_path, secret, range(args.warmup),
                                          args.concurrency, deadline.left(), args.request_timeout))
            cpu0, busy0 = server.worker_cpu_seconds(), machine_busy()
            load = asyncio.run(run_load(server.base_url, target.post_path, secret,
                                        range(args.warmup, args.warmup + args.leads), args.concurrency,
                                        deadline.left(), args.request_timeout))
            cpu1, busy1 = server.worker_cpu_seconds(), machine_busy()
            if cpu0 is not None and cpu1 is not None:
                load.server_cpu = cpu1 - cpu0
            if busy0 and busy1 and busy1[1] > busy0[1]:
                load.machine_busy = (busy1[0] - busy0[0]) / (busy1[1] - busy0[1])
        finally:
            server.stop()
        rows = db.count_leads()
        sample = db.lead_by_email(make_lead(args.warmup)["email"])
    finally:
        db.drop()
        log(f"[{target.name}] database dropped")
    run = TargetRun(target, warmup, load, rows, sample, server.log_path)
    log(f"[{target.name}] {load.ok}/{load.sent} accepted in {load.wall:.1f}s; rows in leads: {rows} "
        f"(expected {run.expected_rows} = {warmup.ok} warm-up + {load.ok})")
    return run


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def report(runs: list[TargetRun], args: argparse.Namespace) -> int:
    print()
    print(f"db={args.db} leads={args.leads} concurrency={args.concurrency} workers={args.workers} "
          f"warmup={args.warmup} cpus={os.cpu_count()}"
          + (f" busy-before={args.busy_before:.0%}" if args.busy_before is not None else ""))
    header = ["target", "accepted", "errors", "wall s", "leads/s", "p50 ms", "p99 ms", "rows", "rows ok",
              "srv cpu ms/req", "cli cpu ms/req", "cpu busy"]
    table = []
    for r in runs:
        ld = r.load
        table.append([
            r.target.name, f"{ld.ok}/{ld.sent}", str(ld.errors), f"{ld.wall:.2f}",
            f"{ld.ok / ld.wall:.1f}" if ld.wall else "-", fmt_ms(percentile(ld.latencies, 50)),
            fmt_ms(percentile(ld.latencies, 99)), f"{r.rows}/{r.expected_rows}",
            "yes" if r.rows == r.expected_rows else "NO",
            f"{ld.server_cpu / ld.sent * 1000:.2f}" if ld.server_cpu is not None and ld.sent else "-",
            f"{ld.client_cpu / ld.sent * 1000:.2f}" if ld.sent else "-",
            f"{ld.machine_busy:.0%}" if ld.machine_busy is not None else "-",
        ])
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for row in table:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))

    by_name = {r.target.name: r for r in runs}
    if "leadchain" in by_name and "bare" in by_name:
        lc, bare = by_name["leadchain"].load, by_name["bare"].load
        if lc.wall and bare.wall and bare.ok:
            print(f"leadchain/bare: throughput {(lc.ok / lc.wall) / (bare.ok / bare.wall):.2f}x, "
                  f"p50 {percentile(lc.latencies, 50) / percentile(bare.latencies, 50):.2f}x, "
                  f"p99 {percentile(lc.latencies, 99) / percentile(bare.latencies, 99):.2f}x")
        a, b = by_name["leadchain"].sample_row, by_name["bare"].sample_row
        if a and b:
            ignored = {"id", "created_at", "updated_at"}
            diff = sorted(k for k in a if k not in ignored and a.get(k) != b.get(k))
            print("same lead row in both databases: " + ("yes" if not diff else f"NO, differs in {', '.join(diff)}"))
    for r in runs:
        print(f"{r.target.name}: outcomes {r.load.outcomes}, statuses {r.load.status_counts}, "
              f"flagged duplicates {r.load.flagged}, warnings {r.load.warnings}")

    status = 0
    for r in runs:
        if r.rows != r.expected_rows:
            print(f"MISMATCH {r.target.name}: {r.expected_rows} accepted leads but {r.rows} rows in leads")
            status = 1
        errors = r.warmup.errors + r.load.errors
        if errors:
            status = 1
            print(f"ERRORS {r.target.name}: {errors} requests failed; first samples:")
            for sample in (r.warmup.error_samples + r.load.error_samples)[:5]:
                print(json.dumps(sample, indent=2, ensure_ascii=False))
            print(f"--- tail of {r.log_path}:\n{tail(r.log_path, 120)}")
    return status


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--leads", type=int, default=2000, help="measured leads per target (default 2000)")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    p.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    p.add_argument("--warmup", type=int, default=50, help="warm-up requests per target, not measured (default 50)")
    p.add_argument("--targets", default="leadchain,bare", help="comma-separated: leadchain,bare")
    p.add_argument("--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", DEFAULT_PG_ADMIN),
                   help=f"PostgreSQL database to run CREATE/DROP DATABASE from (default {DEFAULT_PG_ADMIN})")
    p.add_argument("--timeout", type=float, default=1800, help="overall limit in seconds (default 1800)")
    p.add_argument("--request-timeout", type=float, default=30, help="per-request limit in seconds (default 30)")
    p.add_argument("--keep-logs", action="store_true", help="keep the gunicorn logs (kept anyway on errors)")
    args = p.parse_args(argv)
    if not 1 <= args.leads or args.leads + args.warmup > MAX_LEADS:
        p.error(f"--leads plus --warmup must be between 1 and {MAX_LEADS}")
    if not 1 <= args.concurrency <= 1000 or not 1 <= args.workers <= 64 or args.warmup < 0:
        p.error("--concurrency 1..1000, --workers 1..64, --warmup >= 0")
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
    # SIGTERM unwinds like Ctrl+C, so gunicorn is stopped and the database dropped.
    signal.signal(signal.SIGTERM, _interrupt)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VAULT_", "LEADCHAIN_SECRET_")) and k != "DATABASE_URL"}
    env.update({
        "LEADCHAIN_SECRET_WEBHOOKS_LEADS_" + SOURCE.upper(): secret,
        "LEADCHAIN_SECRET_APP_SECRET_KEY": secrets.token_urlsafe(32),
        "PYTHONUNBUFFERED": "1",
    })
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
        runs = [run_target(TARGETS[name], args, env, secret, tmpdir, deadline) for name in args.targets]
        status = report(runs, args)
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
