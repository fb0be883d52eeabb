"""Benchmark: the voice bridge's own time and CPU per turn under N concurrent Retell sessions, beside a bare
WebSocket echo server and a Retell-demo-style server with a stub LLM, measured the same way.

    .venv/bin/python bench/bridge.py [--sessions 1,50,200,500] [--pause 1.0-2.0] [--ramp 3]
                                     [--crm memory,sqlite,postgresql] [--rivals echo,demo] [--rounds 1]

One run, loopback only, everything removed at the end (also on error or Ctrl+C):

1. Servers, each its own subprocess of this script (one process each, as `leadchain worker voice-bridge` is):
   * **bridge/memory**: the real server (voice.bridge.server) with the rules policy (policy_from_env() with no
     LLM configured) and the real CrmTools adapter (worker threads, filler and timeout logic) over an
     in-memory CRM that answers at once: the bridge's own time, nothing else;
   * **bridge/sqlite**: the same over the real voice.bridge.booking on an SQLite CRM in a temp dir, migrated
     (`leadchain db-upgrade`) and seeded with one sales rep per lead (so sessions do not compete for slots):
     the bridge plus a local CRM's reads and writes;
   * **bridge/postgresql**: the same on a throw-away PostgreSQL database (CREATE DATABASE bench_<random> on
     --pg-admin, migrated and seeded the same way, dropped at the end);
   * **echo**: a bare aiohttp WebSocket server with the same JSON framing that answers `config`, the begin
     message, ping_pong, and every response_required with one complete chunk;
   * **demo**: the per-turn CPU rival, a server in the shape of Retell's Python custom-LLM demo with an
     instant stub LLM (bench/bridge_demo.py): pydantic request per turn, transcript to chat messages, the
     fixed reply streamed in two deltas plus the closing frame.
2. A simulated session is Retell's side of the "books" persona (sandbox/personas.py, German): connect,
   read config, send call_details (metadata lead_id), wait for the begin message, then for each of the six
   callee lines pause 1.0-2.0 s (the callee speaking), send update_only and response_required with the full
   transcript, and read the streamed answer to content_complete; ping_pong every 2 s as Retell does. The
   rules policy confirms identity, asks three qualification questions (each answer recorded through the
   CRM tools), looks up the wished slot ("nächsten Donnerstag ab 16 Uhr") and books it; the bridge's clock
   is fixed at Monday 2030-11-18 10:00. Session starts are spread over --ramp seconds.
3. For each N in --sessions, each server in turn: N sessions at once. Measured per turn on the client:
   request sent -> first `response` frame of that response_id received; and, for the bridge, its own
   `leadchain_bridge_turn_seconds` histogram from /metrics (request in -> first chunk out), the difference
   of the scrapes before and after the level, quantiles interpolated inside the buckets.
4. Prints p50/p95/p99 per N for every server, the ratios bridge/echo, the session count at which the
   bridge's own p95 passes 20 ms (docs/voice-bridge.md §V3), CPU per process during each level, and the
   server's CPU per 1,000 turns (process CPU from /proc/<pid>/stat over the level, divided by the
   response_required turns answered), per round and as medians, with the ratio bridge/demo and the load.
   With --rounds K every N runs K times, the servers in a rotated order each round.

Exit status: 0 when every session completed its conversation; 1 when some did not; 2 when the benchmark
could not run. See bench/README.md ("bridge").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOOPBACK = "127.0.0.1"
PATH_SECRET = "bench-" + secrets.token_urlsafe(12)
BUDGET_S = 0.020
# The simulated Retell side's options (--no-client-deflate).
CLIENT = {"deflate": True}
TICK = os.sysconf("SC_CLK_TCK")
# The "books" persona's callee lines (German), as the sandbox plays them.
CALLEE_LINES = [
    "Ja, am Apparat.",
    "Wir möchten unsere Terminvergabe automatisieren.",
    "Möglichst bald, noch in diesem Quartal.",
    "Das entscheide ich selbst.",
    "Gerne, nächsten Donnerstag ab 16 Uhr.",
    "Ja, bitte.",
]


class BenchError(RuntimeError):
    """The benchmark could not run (not a finding about the bridge)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------ server processes


class MemoryCrm:
    """voice.bridge.booking's functions answering at once from memory (the policy's logic still runs)."""

    def lead_for_call(self, call_id, provider, metadata):
        from voice.bridge.booking_results import LeadFacts

        return LeadFacts(
            lead_id=int((metadata or {}).get("lead_id") or 1),
            first_name="Jürgen",
            last_name="Weber",
            company="Kfz-Werkstatt Krause GmbH",
            language="de",
            status="new",
            do_not_contact=False,
            chain_id=None,
            owner_id=1,
            owner_name="Anna Berger",
        )

    def find_slots(self, lead_id, constraint, now, **_):
        from datetime import datetime, timedelta
        from datetime import time as dtime

        from voice.bridge.dialog.types import SlotChoice, SlotOffer

        day = constraint.dates[0] if constraint.dates else (constraint.date_from or (now + timedelta(days=1)).date())
        at = constraint.exact or next((w.start for w in constraint.windows if w.start), None) or dtime(10, 0)
        start = datetime.combine(day, at, tzinfo=now.tzinfo)
        return SlotOffer(SlotChoice(start, start + timedelta(minutes=30), owner_id=1))

    def book(self, lead_id, call_id, start, end, owner_id=None, *, offer_matched=None):
        from voice.bridge.booking_results import BookingResult

        appointment_id = abs(hash((call_id, start))) % 10**6
        return BookingResult("booked", appointment_id, start, end, call_id=call_id, offer_matched=offer_matched)

    def record_qualification(self, lead_id, call_id, answers):
        return None

    def record_opt_out(self, lead_id, call_id, reason):
        return None


async def serve_bridge(port: int, metrics_port: int, crm: str) -> None:
    from dataclasses import replace
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from crm.config import Settings
    from crm.secrets import EnvSecrets
    from voice.bridge.config import BridgeConfig
    from voice.bridge.crm_tools import CrmToolsFactory
    from voice.bridge.dialog.factory import policy_from_env
    from voice.bridge.metrics import BridgeMetrics
    from voice.bridge.server import Bridge, BridgeServer

    # The bridge's settings as production reads them (LEADCHAIN_BRIDGE_*), on the bench's own ports.
    settings = Settings.from_env().bridge
    config = replace(BridgeConfig.from_settings(settings), host=LOOPBACK, port=port, metrics_port=metrics_port)
    metrics = BridgeMetrics()
    if crm == "memory":
        app, backend = None, MemoryCrm()
    else:
        from crm import create_app

        app, backend = create_app(), None
    threads = os.environ.get("BENCH_TOOL_THREADS")
    factory = CrmToolsFactory(
        app, config=config, metrics=metrics, backend=backend, **({"max_threads": int(threads)} if threads else {})
    )
    now = datetime(2030, 11, 18, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    bridge = Bridge(
        policy=policy_from_env({}),
        tools_factory=factory,
        config=config,
        metrics=metrics,
        secrets=EnvSecrets({"LEADCHAIN_SECRET_BRIDGE_RETELL_PATH_SECRET": os.environ["BENCH_SECRET"]}),
        clock=lambda: now,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = BridgeServer(bridge)
    await server.start()
    if not os.environ.get("BENCH_NO_FREEZE"):  # BENCH_NO_FREEZE=1: a tree from before issue 21
        from voice.bridge.server import freeze_startup_heap

        freeze_startup_heap()  # as BridgeServer.serve_until does in the worker
    profile_path = os.environ.get("BENCH_PROFILE")
    profiler = None
    if profile_path:  # --profile: the event loop's thread, from READY to SIGTERM
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        tool_profiles = profile_tool_threads(factory)
    gc_time = watch_gc()
    print("READY", flush=True)
    await stop.wait()
    print(f"GC {gc_time}", flush=True)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_path)
        if tool_profiles:
            import pstats

            pstats.Stats(*tool_profiles).dump_stats(profile_path + ".tools")
    await server.stop()
    factory.close()


def profile_tool_threads(factory) -> list:
    """--profile: every CRM tool call, in its worker thread, under that thread's own cProfile."""
    import cProfile
    import threading

    profiles: list = []
    local = threading.local()
    original = factory.runner._in_context

    def profiled(scope, fn, *args, **kwargs):
        profile = getattr(local, "profile", None)
        if profile is None:
            profile = local.profile = cProfile.Profile()
            profiles.append(profile)
        profile.enable()
        try:
            return original(scope, fn, *args, **kwargs)
        finally:
            profile.disable()

    factory.runner._in_context = profiled
    return profiles


class GcTime(dict):
    """Collections and seconds spent in them per generation, from gc.callbacks (printed in the server log)."""

    def __str__(self) -> str:
        return ", ".join(f"gen{g}: {n} collections {s:.3f} s" for g, (n, s) in sorted(self.items()))


def watch_gc() -> GcTime:
    import gc

    totals = GcTime()
    started: list[float] = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            n, s = totals.get(info["generation"], (0, 0.0))
            totals[info["generation"]] = (n + 1, s + time.process_time() - started[0])

    gc.callbacks.append(callback)
    return totals


async def serve_echo(port: int) -> None:
    from aiohttp import WSMsgType, web

    def dumps(obj) -> str:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(dumps({"response_type": "config", "config": {"auto_reconnect": True, "call_details": True}}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            message = json.loads(msg.data)
            kind = message.get("interaction_type")
            if kind == "call_details":
                await ws.send_str(
                    dumps(
                        {"response_type": "response", "response_id": 0, "content": "Hallo.", "content_complete": True}
                    )
                )
            elif kind == "ping_pong":
                await ws.send_str(dumps({"response_type": "ping_pong", "timestamp": message.get("timestamp")}))
            elif kind in ("response_required", "reminder_required"):
                await ws.send_str(
                    dumps(
                        {
                            "response_type": "response",
                            "response_id": message["response_id"],
                            "content": "Verstanden.",
                            "content_complete": True,
                        }
                    )
                )
        return ws

    app = web.Application()
    app.router.add_get("/llm-websocket/{secret}/{call_id}", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    await stop.wait()
    await runner.cleanup()


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    metrics_port: int | None = None
    proc: subprocess.Popen | None = None
    counters: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    *self.argv,
                    "--port",
                    str(self.port),
                    *(["--metrics-port", str(self.metrics_port)] if self.metrics_port else []),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{tail(self.log)}")
            if "READY" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise BenchError(f"{self.name} not ready after {timeout:.0f}s:\n{tail(self.log)}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print(f"warning: {self.name} (pid {self.proc.pid}) ignored SIGTERM: killed", file=sys.stderr)
            self.proc.kill()
            self.proc.wait(timeout=10)

    def url(self, call_id: str) -> str:
        return f"ws://{LOOPBACK}:{self.port}/llm-websocket/{PATH_SECRET}/{call_id}"

    @property
    def cpu_s(self) -> float:
        return proc_cpu(self.proc.pid)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy_s() -> float:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICK


# ------------------------------------------------------------------------------------------- the CRM


def prepare_crm(tmpdir: Path, leads: int, url: str) -> dict[str, str]:
    """Migrate a CRM at `url` and seed one rep and one lead per session; returns the bridge's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "LEADCHAIN_SECRET_"))}
    env.update(
        DATABASE_URL=url,
        LEADCHAIN_VAR_DIR=str(tmpdir),
        LEADCHAIN_SECRET_APP_SECRET_KEY=secrets.token_urlsafe(16),
    )
    leadchain = Path(sys.executable).with_name("leadchain")
    done = subprocess.run([str(leadchain), "db-upgrade"], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise BenchError(f"leadchain db-upgrade failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    seed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "_seed", str(leads)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if seed.returncode:
        raise BenchError(f"seeding failed:\n{seed.stdout[-2000:]}{seed.stderr[-2000:]}")
    return env


def seed(leads: int) -> None:
    import sqlalchemy as sa

    from crm import create_app
    from crm.extensions import db
    from crm.models import Lead, Role, SideEffect, User
    from crm.tenancy.context import company_scope

    app = create_app()
    hours = {day: [["09:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    # In the first company (the migration's), with each lead's call on the ledger as place_call writes it
    # before dialling: the bridge serves a call only in the company of a record we wrote (call_key below).
    with app.app_context(), company_scope(1):
        for i in range(leads):
            rep = User(
                email=f"rep{i}@bench.example",
                name=f"Rep {i}",
                role=Role.SALES,
                timezone="Europe/Berlin",
                working_hours=hours,
            )
            db.session.add(rep)
            db.session.flush()
            db.session.add(
                Lead(
                    first_name="Jürgen",
                    last_name=f"Weber{i}",
                    company="Kfz-Werkstatt Krause GmbH",
                    email=f"lead{i}@bench.example",
                    phone_e164=f"+4930231{i:05d}",
                    language="de",
                    source="website",
                    owner_id=rep.id,
                )
            )
        db.session.flush()
        for lead_id in db.session.scalars(sa.select(Lead.id)):
            db.session.add(SideEffect(key=call_key(lead_id), kind="call", lead_id=lead_id))
        db.session.commit()


def call_key(lead_id: int) -> str:
    """The ledger key of a bench lead's call (named in the call's metadata, as the providers echo ours)."""
    return f"bench-call-{lead_id}"


# ----------------------------------------------------------------------------------------- the client


@dataclass
class LevelResult:
    turns: list[float] = field(default_factory=list)  # client: request sent -> first response frame
    completed: int = 0
    ended_by_agent: int = 0  # the agent said goodbye with end_call (booked)
    failed: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    own: dict[float, float] | None = None  # the bridge's histogram over the level: bucket bound (s) -> count
    frames: int = 0  # response frames received for response_required turns
    server_cpu_s: float = 0.0  # the server process's CPU over the level
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after the level

    @property
    def cpu_per_1000_turns(self) -> float:
        return self.server_cpu_s / len(self.turns) * 1000 if self.turns else math.nan


def pooled(rounds: list[LevelResult]) -> LevelResult:
    """The rounds of one level as one: turns and histogram counts pooled, CPU averaged over the wall time."""
    out = LevelResult()
    own: dict[float, float] = {}
    for r in rounds:
        out.turns += r.turns
        out.completed += r.completed
        out.ended_by_agent += r.ended_by_agent
        out.failed += r.failed
        out.wall_s += r.wall_s
        out.frames += r.frames
        out.server_cpu_s += r.server_cpu_s
        for bound, count in (r.own or {}).items():
            own[bound] = own.get(bound, 0.0) + count
    out.own = own or None
    for key in ("server", "driver", "others"):
        out.cpu[key] = sum(r.cpu[key] * r.wall_s for r in rounds) / out.wall_s if out.wall_s else math.nan
    out.load = (min(r.load[0] for r in rounds), max(r.load[1] for r in rounds))
    return out


def _turns(transcript: list[tuple[str, str]]) -> list[dict]:
    return [{"role": role, "content": text} for role, text in transcript]


async def session(
    server: Server,
    call_id: str,
    lead_id: int,
    delay: float,
    pause: tuple[float, float],
    rng: random.Random,
    result: LevelResult,
) -> None:
    from websockets.asyncio.client import connect

    await asyncio.sleep(delay)
    transcript: list[tuple[str, str]] = []
    try:
        async with connect(
            server.url(call_id),
            open_timeout=30,
            close_timeout=5,
            max_size=None,
            compression="deflate" if CLIENT["deflate"] else None,
        ) as ws:

            async def pinger() -> None:
                while True:
                    await asyncio.sleep(2.0)
                    await ws.send(json.dumps({"interaction_type": "ping_pong", "timestamp": int(time.time() * 1000)}))

            async def answer(response_id: int, sent: float | None) -> tuple[str, bool]:
                parts, first = [], True
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if message.get("response_type") != "response" or message.get("response_id") != response_id:
                        continue
                    if first and sent is not None:
                        result.turns.append(time.perf_counter() - sent)
                    first = False
                    if sent is not None:
                        result.frames += 1
                    parts.append(message.get("content") or "")
                    if message.get("content_complete"):
                        return "".join(parts), bool(message.get("end_call"))

            assert json.loads(await asyncio.wait_for(ws.recv(), 30))["response_type"] == "config"
            await ws.send(
                json.dumps(
                    {
                        "interaction_type": "call_details",
                        "call": {
                            "call_type": "phone_call",
                            "call_id": call_id,
                            "call_status": "registered",
                            "direction": "outbound",
                            "from_number": "+4930555000",
                            "to_number": f"+4930231{lead_id:05d}",
                            "metadata": {"lead_id": str(lead_id), "idempotency_key": call_key(lead_id)},
                        },
                    }
                )
            )
            ping = asyncio.create_task(pinger())
            try:
                text, ended = await answer(0, None)
                transcript.append(("agent", text))
                for response_id, line in enumerate(CALLEE_LINES, start=1):
                    if ended:
                        break
                    await asyncio.sleep(rng.uniform(*pause))
                    transcript.append(("user", line))
                    await ws.send(
                        json.dumps(
                            {
                                "interaction_type": "update_only",
                                "transcript": _turns(transcript),
                                "turntaking": "agent_turn",
                            }
                        )
                    )
                    request = json.dumps(
                        {
                            "interaction_type": "response_required",
                            "response_id": response_id,
                            "transcript": _turns(transcript),
                        }
                    )
                    sent = time.perf_counter()
                    await ws.send(request)
                    text, ended = await answer(response_id, sent)
                    transcript.append(("agent", text))
            finally:
                ping.cancel()
        result.completed += 1
        result.ended_by_agent += int(ended)
    except Exception as e:  # noqa: BLE001 - reported, not raised: the other sessions go on
        result.failed.append(f"{call_id}: {type(e).__name__}: {e}"[:200])


async def scrape(server: Server) -> dict[float, float]:
    """Cumulative bucket counts (upper bound in s -> count) of the bridge's Retell turn histogram."""
    import httpx

    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"http://{LOOPBACK}:{server.metrics_port}/metrics")).text
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("leadchain_bridge_turn_seconds_bucket{") and 'provider="retell"' in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[math.inf if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return buckets


def histogram_delta(before: dict[float, float], after: dict[float, float]) -> dict[float, float]:
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


def histogram_quantiles(delta: dict[float, float] | None, qs=(0.5, 0.95, 0.99)) -> dict[str, float]:
    delta = delta or {}
    bounds = sorted(delta)
    counts = [delta[b] for b in bounds]
    total = counts[-1] if counts else 0
    out = {"count": total}
    for q in qs:
        if not total:
            out[f"p{round(q * 100)}"] = math.nan
            continue
        rank, lower, below = q * total, 0.0, 0.0
        for bound, cum in zip(bounds, counts, strict=True):
            if cum >= rank:
                if math.isinf(bound):
                    value = lower
                else:
                    value = lower + (bound - lower) * ((rank - below) / (cum - below) if cum > below else 1)
                out[f"p{round(q * 100)}"] = value
                break
            lower, below = bound, cum
    return out


def nearest_rank(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


async def run_level(server: Server, n: int, args, leads: int, rng: random.Random) -> LevelResult:
    result = LevelResult()
    own_before = await scrape(server) if server.metrics_port else None
    load_before = os.getloadavg()[0]
    cpu_before = {"server": server.cpu_s, "driver": sum(os.times()[:2]), "machine": machine_busy_s()}
    started = time.perf_counter()
    tag = secrets.token_hex(3)
    await asyncio.gather(
        *(
            session(
                server,
                f"bench_{tag}_{n}_{i}",
                (i % leads) + 1,
                args.ramp * i / max(1, n),
                args.pause,
                random.Random(rng.random()),
                result,
            )
            for i in range(n)
        )
    )
    result.wall_s = time.perf_counter() - started
    server_cpu = server.cpu_s - cpu_before["server"]
    driver_cpu = sum(os.times()[:2]) - cpu_before["driver"]
    machine = machine_busy_s() - cpu_before["machine"]
    result.server_cpu_s = server_cpu
    result.load = (load_before, os.getloadavg()[0])
    result.cpu = {
        "server": server_cpu / result.wall_s,
        "driver": driver_cpu / result.wall_s,
        "others": max(0.0, machine - server_cpu - driver_cpu) / result.wall_s,
    }
    if own_before is not None:
        result.own = histogram_delta(own_before, await scrape(server))
    return result


# ------------------------------------------------------------------------------------------ reporting


def ms(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value * 1000:.2f}"


def median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def report(levels: list[int], by_round: dict[str, dict[int, list[LevelResult]]]) -> None:
    names = list(by_round)
    results = {name: {n: pooled(rounds) for n, rounds in by_level.items()} for name, by_level in by_round.items()}
    rounds = max(len(r) for by_level in by_round.values() for r in by_level.values())
    print(
        "\nClient-measured, per turn: request sent -> first response frame (ms), p50 / p95 / p99, "
        f"{rounds} round(s) pooled"
    )
    header = (
        "| N | "
        + " | ".join(names)
        + " | "
        + " | ".join(f"{n}/echo p50 · p95 · p99" for n in names if n != "echo" and "echo" in names)
        + (" |" if "echo" in names else "")
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for n in levels:
        cells, ratios = [], []
        echo = results.get("echo", {}).get(n)
        for name in names:
            r = results[name][n]
            cells.append(" / ".join(ms(nearest_rank(r.turns, q)) for q in (0.5, 0.95, 0.99)) + f" ({len(r.turns)})")
            if name != "echo" and echo is not None:
                ratios.append(
                    " · ".join(
                        f"{nearest_rank(r.turns, q) / nearest_rank(echo.turns, q):.1f}" for q in (0.5, 0.95, 0.99)
                    )
                )
        print(f"| {n} | " + " | ".join(cells) + " | " + (" | ".join(ratios) + " |" if ratios else ""))

    bridges = [name for name in names if name.startswith("bridge/")]
    if bridges:
        print("\nThe bridge's own time per turn (its histogram: request in -> first chunk out), ms, p50 / p95 / p99")
        print("| N | " + " | ".join(bridges) + " |")
        print("|---|" + "---|" * len(bridges))
        for n in levels:
            cells = []
            for name in bridges:
                own = histogram_quantiles(results[name][n].own)
                cells.append(
                    " / ".join(ms(own.get(k, math.nan)) for k in ("p50", "p95", "p99"))
                    + f" ({int(own.get('count', 0))})"
                )
            print(f"| {n} | " + " | ".join(cells) + " |")
    for name in names:
        crossing = next((n for n in levels if histogram_quantiles(results[name][n].own).get("p95", 0) > BUDGET_S), None)
        client = next((n for n in levels if nearest_rank(results[name][n].turns, 0.95) > BUDGET_S), None)
        print(
            f"{name}: "
            + (
                ("own p95 passes 20 ms at " + (f"N = {crossing}" if crossing else f"– not reached up to {levels[-1]}"))
                + "; "
                if name in bridges
                else ""
            )
            + "client-measured p95 passes 20 ms at "
            + (f"N = {client}" if client else f"– not reached up to {levels[-1]}")
        )

    print(
        "\nServer CPU per 1,000 turns (s): the server process's CPU over the level (connections, begin, pings, "
        "updates included) / response_required turns answered; per round, then the median"
    )
    print("| N | server | " + " | ".join(f"round {i + 1}" for i in range(rounds)) + " | median | frames/turn |")
    print("|---|---|" + "---|" * (rounds + 2))
    for n in levels:
        for name in names:
            per_round = [r.cpu_per_1000_turns for r in by_round[name][n]]
            frames = results[name][n].frames / max(1, len(results[name][n].turns))
            print(
                f"| {n} | {name} | "
                + " | ".join(f"{v:.3f}" for v in per_round)
                + f" | **{median(per_round):.3f}** | {frames:.1f} |"
            )
        if "demo" in names:
            for name in bridges:
                pairs = list(zip(by_round[name][n], by_round["demo"][n], strict=False))
                # The process CPU is read in clock ticks (10 ms): a short round of the rival can use none, and then
                # there is no ratio to give (the smoke test's 12 turns did on a fast machine).
                ratios = [b.cpu_per_1000_turns / d.cpu_per_1000_turns for b, d in pairs if d.cpu_per_1000_turns > 0]
                if not ratios:
                    print(f"  N={n} {name}/demo CPU per turn: no ratio, the rival's CPU was below the clock's tick")
                    continue
                loads = [x for r in by_round[name][n] + by_round["demo"][n] for x in r.load]
                others = [r.cpu["others"] for r in by_round[name][n] + by_round["demo"][n]]
                print(
                    f"  N={n} {name}/demo CPU per turn: rounds "
                    + ", ".join(f"{v:.2f}" for v in ratios)
                    + f"; median of rounds {median(ratios):.2f}x (goal <= 1.0x); "
                    + f"load average {min(loads):.2f}-{max(loads):.2f}, "
                    + f"others {min(others):.2f}-{max(others):.2f} cores"
                )

    print("\nSessions completed, wall s, CPU in cores (server process / driver / others on the box), load average")
    for name in names:
        for n in levels:
            for i, r in enumerate(by_round[name][n]):
                warn = "  WARNING: others > 0.25 cores, figures are low" if r.cpu["others"] > 0.25 else ""
                print(
                    # The line's start is read by tests/test_bench_smoke.py: keep its shape.
                    f"  {name:14s} N={n:<4d} {r.completed}/{n} completed "
                    f"({r.ended_by_agent} ended by the agent), round {i + 1}, "
                    f"{r.wall_s:6.1f} s, "
                    f"{r.cpu['server']:.2f} / {r.cpu['driver']:.2f} / {r.cpu['others']:.2f}, "
                    f"load {r.load[0]:.2f} -> {r.load[1]:.2f}{warn}"
                )
                for failure in r.failed[:3]:
                    print(f"      failed: {failure}")


# --------------------------------------------------------------------------------------------- main


async def drive(args, servers: list[Server], leads: int) -> dict[str, dict[int, list[LevelResult]]]:
    rng = random.Random(args.seed)
    results: dict[str, dict[int, list[LevelResult]]] = {s.name: {} for s in servers}
    for server in servers:  # warm-up: one short session each (imports, first lookups)
        await session(server, f"bench_warmup_{secrets.token_hex(3)}", 1, 0, (0.0, 0.05), rng, LevelResult())
    for n in args.sessions:
        for k in range(args.rounds):
            # Interleaved: each round runs every server once, the order rotated so none always goes first.
            for server in servers[k % len(servers) :] + servers[: k % len(servers)]:
                print(
                    f"  {server.name}: {n} sessions, round {k + 1}/{args.rounds} "
                    f"(load average {os.getloadavg()[0]:.2f}) ...",
                    flush=True,
                )
                results[server.name].setdefault(n, []).append(await run_level(server, n, args, leads, rng))
                await asyncio.sleep(1.0)
    for server in servers:
        if server.metrics_port:
            server.counters = await counters(server)
    return results


async def counters(server: Server) -> dict[str, float]:
    """Totals of the bridge's counters over the whole run (fillers, tool timeouts, superseded responses)."""
    import httpx

    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"http://{LOOPBACK}:{server.metrics_port}/metrics")).text
    totals: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("fillers", "tool_timeouts", "superseded_responses"):
            if line.startswith(f"leadchain_bridge_{name}_total"):
                totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


def parse_args(argv: list[str]):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sessions", default="1,50,200,500", type=lambda s: sorted({int(x) for x in s.split(",") if x.strip()})
    )
    parser.add_argument(
        "--pause",
        default="1.0-2.0",
        type=lambda s: tuple(float(x) for x in s.split("-", 1)),
        help="seconds the callee speaks between turns (uniform), e.g. 1.0-2.0",
    )
    parser.add_argument("--ramp", default=3.0, type=float, help="session starts are spread over this many seconds")
    parser.add_argument(
        "--crm", default="memory,sqlite", help="bridge variants: memory, sqlite, postgresql (comma-separated)"
    )
    parser.add_argument(
        "--rivals", default="echo,demo", help="rival servers: echo, demo (comma-separated; empty for none)"
    )
    parser.add_argument("--rounds", default=1, type=int, help="runs of every level, servers interleaved")
    parser.add_argument(
        "--pg-admin",
        default=None,
        help="PostgreSQL database to run CREATE/DROP DATABASE from (default: bench/intake.py's, "
        "postgresql://postgres@127.0.0.1:5432/test)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        type=Path,
        help="a directory: each bridge runs under cProfile (event-loop thread) and leaves <crm>.prof there; "
        "the top functions are printed at the end (the figures of a profiled run are not comparable)",
    )
    parser.add_argument(
        "--no-client-deflate",
        action="store_true",
        help="the client does not offer permessage-deflate (by default it does, as the websockets library and "
        "browsers do; a server that accepts it compresses every frame)",
    )
    parser.add_argument(
        "--tool-threads", default=None, type=int, help="the CRM adapter's worker threads (default: its own, 16)"
    )
    parser.add_argument("--seed", default=6, type=int)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    if argv[:1] == ["_bridge"]:
        p = argparse.ArgumentParser()
        p.add_argument("_"), p.add_argument("--crm"), p.add_argument("--port", type=int)
        p.add_argument("--metrics-port", type=int)
        a = p.parse_args(argv)
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        asyncio.run(serve_bridge(a.port, a.metrics_port, a.crm))
        return 0
    if argv[:1] == ["_echo"]:
        asyncio.run(serve_echo(int(argv[argv.index("--port") + 1])))
        return 0
    if argv[:1] == ["_demo"]:
        from bench.bridge_demo import serve_demo

        asyncio.run(serve_demo(LOOPBACK, int(argv[argv.index("--port") + 1])))
        return 0
    if argv[:1] == ["_seed"]:
        seed(int(argv[1]))
        return 0
    args = parse_args(argv)
    crms = [c.strip() for c in args.crm.split(",") if c.strip()]
    rivals = [c.strip() for c in args.rivals.split(",") if c.strip()]
    if not set(crms) <= {"memory", "sqlite", "postgresql"} or not set(rivals) <= {"echo", "demo"}:
        print("--crm takes memory, sqlite and/or postgresql; --rivals echo and/or demo", file=sys.stderr)
        return 2
    if args.rounds < 1:
        print("--rounds must be at least 1", file=sys.stderr)
        return 2
    databases: list = []
    leads = max(args.sessions)
    servers: list[Server] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as tmp:
        tmpdir = Path(tmp)
        try:
            base_env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "LEADCHAIN_SECRET_"))}
            base_env.update(
                BENCH_SECRET=PATH_SECRET,
                LEADCHAIN_VAR_DIR=str(tmpdir),
                LEADCHAIN_SECRET_APP_SECRET_KEY=secrets.token_urlsafe(16),
                DATABASE_URL=f"sqlite:///{tmpdir / 'unused.db'}",
            )
            base_env.pop("LEADCHAIN_BRIDGE_LLM_URL", None)
            for crm in crms:
                if crm == "memory":
                    env = base_env
                elif crm == "sqlite":
                    env = {
                        **prepare_crm(tmpdir, leads, f"sqlite:///{tmpdir / 'bench.db'}"),
                        "BENCH_SECRET": PATH_SECRET,
                    }
                else:
                    from bench.intake import DEFAULT_PG_ADMIN, Database

                    database = Database("postgresql", args.pg_admin or DEFAULT_PG_ADMIN, tmpdir)
                    databases.append(database)
                    url = database.create()
                    print(f"PostgreSQL CRM: database {database.name} (dropped at the end)", flush=True)
                    env = {**prepare_crm(tmpdir, leads, url), "BENCH_SECRET": PATH_SECRET}
                if args.tool_threads:
                    env = {**env, "BENCH_TOOL_THREADS": str(args.tool_threads)}
                if args.profile is not None:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    env = {**env, "BENCH_PROFILE": str((args.profile / f"{crm}.prof").resolve())}
                servers.append(
                    Server(
                        f"bridge/{crm}",
                        ["_bridge", "--crm", crm],
                        env,
                        tmpdir / f"bridge-{crm}.log",
                        metrics_port=free_port(),
                    )
                )
            for rival in rivals:
                servers.append(Server(rival, [f"_{rival}"], base_env, tmpdir / f"{rival}.log"))
            for server in servers:
                server.start()
            for server in servers:
                server.wait_ready()
            print(
                f"bench/bridge.py: sessions {args.sessions}, {len(CALLEE_LINES)} turns each, pause "
                f"{args.pause[0]}-{args.pause[1]} s, ramp {args.ramp} s, {args.rounds} round(s), client "
                f"{'without' if args.no_client_deflate else 'offering'} permessage-deflate, "
                f"servers {[s.name for s in servers]}; {os.cpu_count()} CPUs, load average "
                + " ".join(f"{x:.2f}" for x in os.getloadavg()),
                flush=True,
            )
            CLIENT["deflate"] = not args.no_client_deflate
            results = asyncio.run(drive(args, servers, leads))
        except BenchError as e:
            print(f"benchmark could not run: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 2
        finally:
            for server in servers:
                server.stop()
            for database in databases:
                try:
                    database.drop()
                except Exception as e:  # noqa: BLE001 - reported; the run's figures stand
                    print(f"warning: could not drop {database.name}: {e}", file=sys.stderr)
        report(args.sessions, results)
        for server in servers:
            if server.metrics_port:
                log_text = server.log.read_text(errors="replace")
                booked = log_text.count("booking=booked")
                gc_line = next((line for line in log_text.splitlines() if line.startswith("GC ")), None)
                if gc_line:
                    print(f"{server.name}: garbage collector over the run (warm-up included): {gc_line[3:]}")
                totals = ", ".join(f"{k.replace('_', ' ')} {int(v)}" for k, v in sorted(server.counters.items()))
                print(
                    f"{server.name}: {booked} turns booked an appointment (bridge log, warm-up included); "
                    f"{totals or 'no filler, no tool timeout'}"
                )
        if args.profile is not None:
            import pstats

            for crm in crms:
                path = args.profile / f"{crm}.prof"
                if path.exists():
                    print(f"\nProfile of bridge/{crm} ({path}), top 30 by own time:")
                    pstats.Stats(str(path)).sort_stats("tottime").print_stats(30)
                tools = path.with_name(path.name + ".tools")
                if tools.exists():
                    print(f"\nProfile of bridge/{crm}'s CRM tool calls in their worker threads ({tools}):")
                    pstats.Stats(str(tools)).sort_stats("cumtime").print_stats(30)
        print(f"\nrun time {time.monotonic() - started:.0f} s")
        incomplete = sum(len(r.failed) for by_n in results.values() for rounds in by_n.values() for r in rounds)
        return 1 if incomplete else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
