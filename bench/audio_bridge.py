"""Benchmark: the voice bridge's own added latency on the own-agent path (issue 22, Twilio Media Streams <->
OpenAI Realtime) under 1, 50 and 100 concurrent calls, beside a bare pass-through proxy measured the same way.

    .venv/bin/python bench/audio_bridge.py [--calls 1,50,100] [--ramp 2.0] [--core 1]

One run, loopback only, every process stopped at the end:

1. Processes (subprocesses of this script):
   * **bridge**: the real server (voice.bridge.server, route /twilio/media/<secret>, the Realtime path through
     the openai SDK) over bench/bridge.py's in-memory CRM (answers at once; the callee's last name is the
     callSid, so the session's instructions name the call and the stand-in pairs it exactly), pinned to one
     core (os.sched_setaffinity) as `leadchain worker voice-bridge` would run on one;
   * **bare**: a minimal websockets relay written here, pinned to the same core: Twilio media ->
     input_audio_buffer.append, output_audio.delta -> media + mark, speech_started -> clear. Nothing else
     (no CRM, no tools, no cancel or truncate, no record);
   * **realtime**: the sandbox's Realtime stand-in (sandbox/openai_realtime.py), on the other core(s); it
     prints the time of each response's first delta and its own delay (`server.delays`).
2. A call is the sandbox's Media Streams client (sandbox/twilio_media.py `media_call`, real espeak μ-law at
   20 ms frames, in this process) playing call_scripts.SCENARIOS["bench"]: the callee talks over the
   opening after 600 ms of it (barge-in), then answers once more. Call starts are spread over --ramp s.
3. Per reply: own = the client received the first model audio frame - the stand-in sent that response's
   first delta; that is (caller audio end as the stand-in saw it -> first model frame at Twilio) minus the
   stand-in's own delay: the bridge's downstream hop plus the client's reading. Barge-in: the callee began
   to speak over the opening -> Twilio's clear (the stand-in's VAD included, the same for both).
   CPU per call: the server process's CPU time (utime + stime) over the level / calls.
4. Prints p50/p95/p99 per level for both servers and the ratios bridge/bare. Goal: own p95 <= 20 ms at
   100 calls on one core.

Exit status: 0 when every call completed without error; 1 otherwise; 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOOPBACK = "127.0.0.1"
PATH_SECRET = "bench-" + secrets.token_urlsafe(12)
TICK = os.sysconf("SC_CLK_TCK")
GOAL_MS = 20.0


# ------------------------------------------------------------------------------------ server processes


def pin(core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})


async def serve_realtime(port: int) -> None:
    """The stand-in; stdin: `REGISTER <callSid>` / `RELEASE <callSid>`; stdout: `DELAY <callSid> <t> <ms>`
    per response (t: time.monotonic() of its first delta, system-wide on Linux)."""
    from collections import deque

    from sandbox.call_scripts import SCENARIOS
    from sandbox.openai_realtime import RealtimeServer

    class Timed(RealtimeServer):
        def record_delay(self, session_id: str, response_id: str, ms: float) -> None:
            super().record_delay(session_id, response_id, ms)
            now = time.monotonic()
            session = next((s for s in self.sessions if s.id == session_id), None)
            claimed = getattr(session, "script", None)
            call_sid = claimed[0] if claimed else "-"
            print(f"DELAY {call_sid} {now:.6f} {ms:.3f}", flush=True)

    server = Timed(LOOPBACK, port)
    server.sessions = deque(maxlen=5000)
    server.start()

    def commands() -> None:
        for line in sys.stdin:
            verb, _, call_sid = line.strip().partition(" ")
            if verb == "REGISTER":
                server.scripts.register(call_sid, SCENARIOS["bench"])
            elif verb == "RELEASE":
                server.scripts.release(call_sid)

    threading.Thread(target=commands, daemon=True).start()
    print(f"READY {server.url}", flush=True)
    await wait_for_signal()
    server.stop()


async def wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve_bridge(port: int, realtime_url: str) -> None:
    from dataclasses import replace
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bench.bridge import MemoryCrm
    from crm.config import Settings
    from crm.secrets import EnvSecrets
    from sandbox.openai_realtime import API_KEY
    from voice.bridge.config import BridgeConfig
    from voice.bridge.crm_tools import CrmToolsFactory
    from voice.bridge.dialog.factory import policy_from_env
    from voice.bridge.metrics import BridgeMetrics
    from voice.bridge.realtime_config import RealtimeConfig, RealtimeDeps
    from voice.bridge.server import Bridge, BridgeServer

    class NamedByCall(MemoryCrm):
        """The callee's last name is the callSid: the session's instructions name the call (the stand-in's
        ScriptBook pairs a session with its call by it)."""

        def lead_for_call(self, call_id, provider, metadata):
            return replace(super().lead_for_call(call_id, provider, metadata), last_name=call_id, language="en")

    settings = Settings.from_env().bridge
    config = replace(BridgeConfig.from_settings(settings), host=LOOPBACK, port=port, metrics_port=0)
    metrics = BridgeMetrics()
    factory = CrmToolsFactory(None, config=config, metrics=metrics, backend=NamedByCall())
    now = datetime(2030, 11, 18, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    bridge = Bridge(
        policy=policy_from_env({}),
        tools_factory=factory,
        config=config,
        metrics=metrics,
        secrets=EnvSecrets(
            {
                "LEADCHAIN_SECRET_BRIDGE_TWILIO_MEDIA_PATH_SECRET": PATH_SECRET_ENV(),
                "LEADCHAIN_SECRET_BRIDGE_REALTIME_API_KEY": API_KEY,
            }
        ),
        clock=lambda: now,
    )
    bridge.realtime = RealtimeDeps(config=RealtimeConfig(url=realtime_url))
    server = BridgeServer(bridge)
    await server.start()
    print("READY", flush=True)
    await wait_for_signal()
    await server.stop()
    factory.close()


def PATH_SECRET_ENV() -> str:  # noqa: N802 - the child's copy of the parent's secret
    return os.environ["BENCH_SECRET"]


async def serve_bare(port: int, realtime_url: str) -> None:
    """Twilio media <-> Realtime, μ-law passed through, marks and clear: the least a relay must do."""
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import ServerConnection, serve

    from sandbox.openai_realtime import API_KEY

    async def relay(twilio: ServerConnection) -> None:
        start: dict[str, Any] = {}
        async for raw in twilio:
            start = json.loads(raw)
            if start.get("event") == "start":
                break
        sid, call_sid = start["streamSid"], start["start"]["callSid"]
        url = f"{realtime_url}/realtime?model=gpt-realtime"
        async with connect(url, additional_headers={"Authorization": f"Bearer {API_KEY}"}, max_size=None) as model:
            session = {
                "type": "realtime",
                "instructions": f"Call {call_sid}.",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "turn_detection": {
                            "type": "server_vad",
                            "silence_duration_ms": 500,
                            "prefix_padding_ms": 300,
                            "create_response": True,
                            "interrupt_response": True,
                        },
                    },
                    "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
                },
            }
            await model.send(json.dumps({"type": "session.update", "session": session}))
            await model.send(json.dumps({"type": "response.create"}))
            marks = 0

            async def downstream() -> None:
                nonlocal marks
                async for raw in model:
                    event = json.loads(raw)
                    kind = event.get("type")
                    if kind == "response.output_audio.delta":
                        marks += 1
                        await twilio.send(
                            json.dumps({"event": "media", "streamSid": sid, "media": {"payload": event["delta"]}})
                        )
                        await twilio.send(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": str(marks)}}))
                    elif kind == "input_audio_buffer.speech_started":
                        await twilio.send(json.dumps({"event": "clear", "streamSid": sid}))

            down = asyncio.create_task(downstream())
            try:
                async for raw in twilio:
                    message = json.loads(raw)
                    if message.get("event") == "media":
                        append = {"type": "input_audio_buffer.append", "audio": message["media"]["payload"]}
                        await model.send(json.dumps(append))
                    elif message.get("event") == "stop":
                        break
            finally:
                down.cancel()

    async with serve(relay, LOOPBACK, port, max_size=None):
        print("READY", flush=True)
        await wait_for_signal()


# ------------------------------------------------------------------------------------ the load


@dataclass
class Level:
    server: str
    calls: int
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    own_ms: list[float] = field(default_factory=list)
    clear_ms: list[float] = field(default_factory=list)
    reply_ms: list[float] = field(default_factory=list)
    standin_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    unpaired: int = 0  # replies without the stand-in's record of their response (not counted in own_ms)


class Child:
    def __init__(self, argv: list[str], core: int | None, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *argv, *(["--core", str(core)] if core is not None else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        self.ready = self.proc.stdout.readline().strip()
        if not self.ready.startswith("READY"):
            raise SystemExit(f"could not start {argv[0]}: {self.ready!r}")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class StandIn(Child):
    def __init__(self, port: int, core: int | None) -> None:
        super().__init__(["--serve-realtime", str(port)], core)
        self.url = self.ready.split()[1]
        self.delays: dict[str, list[tuple[float, float]]] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 4 and parts[0] == "DELAY":
                with self.lock:
                    self.delays.setdefault(parts[1], []).append((float(parts[2]), float(parts[3])))

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def first_deltas(self, call_sid: str) -> list[tuple[float, float]]:
        with self.lock:
            return list(self.delays.get(call_sid, []))


async def one_call(url: str, standin: StandIn, n: int, level: Level, delay_s: float) -> None:
    from sandbox.call_scripts import SCENARIOS
    from sandbox.twilio_media import Pacing, media_call

    await asyncio.sleep(delay_s)
    call_sid = "CA" + secrets.token_hex(16)
    standin.command(f"REGISTER {call_sid}")
    await asyncio.sleep(0.05)  # the stand-in has read it before the bridge's session asks
    try:
        result = await media_call(
            url,
            account_sid="AC" + "0" * 32,
            call_sid=call_sid,
            stream_sid="MZ" + secrets.token_hex(16),
            custom_parameters={"direction": "outbound", "lead_id": str(n + 1), "call_key": f"bench-{call_sid}"},
            persona=SCENARIOS["bench"],
            pacing=Pacing(turn_timeout_s=15, final_wait_s=6),
        )
    finally:
        standin.command(f"RELEASE {call_sid}")
    if result.error or result.ended_by != "caller":
        level.errors.append(result.error or f"ended by {result.ended_by}")
        return
    level.completed += 1
    level.clear_ms += result.clear_latencies_ms()
    await asyncio.sleep(0.2)  # the stand-in's last DELAY lines
    deltas = standin.first_deltas(call_sid)
    for turn in result.turns:
        if turn.first_agent_audio_ms is None or turn.ended_ms is None:
            continue
        received = result.t0 + turn.first_agent_audio_ms / 1000
        # The reply's response was triggered by the end of this turn (speech_stopped), so its first delta
        # comes after the callee's last frame; none there: the stand-in's line for it is missing (unpaired).
        sent = [(t, ms) for t, ms in deltas if result.t0 + turn.ended_ms / 1000 <= t <= received]
        if not sent:
            level.unpaired += 1
            continue
        first_delta, standin_ms = max(sent)
        level.own_ms.append((received - first_delta) * 1000)
        level.standin_ms.append(standin_ms)
        level.reply_ms.append(turn.first_agent_audio_ms - turn.ended_ms)


async def run_level(name: str, url: str, server: Child, standin: StandIn, calls: int, ramp_s: float) -> Level:
    level = Level(name, calls)
    before = server.cpu_s()
    spread = ramp_s / max(1, calls - 1) if calls > 1 else 0.0
    await asyncio.gather(*(one_call(url, standin, n, level, n * spread) for n in range(calls)))
    level.cpu_s = server.cpu_s() - before
    return level


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def line(level: Level) -> str:
    own = "/".join(f"{pct(level.own_ms, q):.1f}" for q in (50, 95, 99))
    clear = "/".join(f"{pct(level.clear_ms, q):.0f}" for q in (50, 95, 99))
    return (
        f"{level.server:6} N={level.calls:<4} {level.completed}/{level.calls} calls  own p50/p95/p99 {own} ms  "
        f"clear {clear} ms  CPU {1000 * level.cpu_s / max(1, level.calls):.0f} ms/call  "
        f"(stand-in p50 {pct(level.standin_ms, 50):.0f} ms; reply after the callee {pct(level.reply_ms, 50):.0f} ms; "
        f"{len(level.own_ms)} replies timed, {level.unpaired} unpaired)"
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


async def main_async(args: argparse.Namespace) -> int:
    cores = sorted(os.sched_getaffinity(0))
    core = args.core if args.core is not None else cores[-1]
    others = [c for c in cores if c != core] or [core]
    os.sched_setaffinity(0, set(others))  # the load and the stand-in stay off the measured core
    children: list[Child] = []
    try:
        standin = StandIn(free_port(), None)
        children.append(standin)
        bridge_port, bare_port = free_port(), free_port()
        env = {"BENCH_SECRET": PATH_SECRET}
        bridge = Child(["--serve-bridge", str(bridge_port), standin.url], core, env)
        children.append(bridge)
        bare = Child(["--serve-bare", str(bare_port), standin.url], core)
        children.append(bare)
        targets = {
            "bridge": (f"ws://{LOOPBACK}:{bridge_port}/twilio/media/{PATH_SECRET}", bridge),
            "bare": (f"ws://{LOOPBACK}:{bare_port}/media", bare),
        }
        print(f"servers pinned to core {core}; stand-in and {len(args.calls)} levels of calls on {others}", flush=True)
        failed = False
        for name, (url, proc) in targets.items():  # warm-up: imports, the first SDK client, espeak's cache
            warm = await run_level(name, url, proc, standin, 1, 0.0)
            failed = failed or bool(warm.errors)
        for calls in args.calls:
            levels = {}
            for name, (url, proc) in targets.items():
                levels[name] = await run_level(name, url, proc, standin, calls, args.ramp)
                print(line(levels[name]), flush=True)
                if levels[name].errors:
                    failed = True
                    print(f"    errors: {sorted(set(levels[name].errors))[:5]}", flush=True)
            b, r = levels["bridge"], levels["bare"]
            ratios = (
                f"ratios bridge/bare at N={calls}: own p95 {pct(b.own_ms, 95) / max(0.001, pct(r.own_ms, 95)):.1f}x, "
                f"clear p95 {pct(b.clear_ms, 95) / max(0.001, pct(r.clear_ms, 95)):.2f}x, "
                f"CPU {b.cpu_s / max(0.001, r.cpu_s):.1f}x"
            )
            print(ratios, flush=True)
            if calls == max(args.calls):
                verdict = "meets" if pct(b.own_ms, 95) <= GOAL_MS else "misses"
                print(
                    f"goal own p95 <= {GOAL_MS:.0f} ms at N={calls} on one core: {verdict} ({pct(b.own_ms, 95):.1f} ms)"
                )
        return 1 if failed else 0
    finally:
        for child in children:
            child.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=lambda s: [int(x) for x in s.split(",")], default=[1, 50, 100])
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which a level's calls start")
    parser.add_argument("--core", type=int, default=None, help="the core the servers are pinned to")
    parser.add_argument("--serve-realtime", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-bridge", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-bare", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_realtime is not None:
        asyncio.run(serve_realtime(args.serve_realtime))
        return 0
    if args.serve_bridge is not None:
        pin(args.core)
        asyncio.run(serve_bridge(int(args.serve_bridge[0]), args.serve_bridge[1]))
        return 0
    if args.serve_bare is not None:
        pin(args.core)
        asyncio.run(serve_bare(int(args.serve_bare[0]), args.serve_bare[1]))
        return 0
    try:
        return asyncio.run(main_async(args))
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
