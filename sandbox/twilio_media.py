"""Twilio's side of a bidirectional Media Stream (issue 22): the sandbox's Twilio stand-in (sandbox.twilio)
runs `run_media_call` for a created call whose TwiML is `<Connect><Stream url=...>`, and the benchmarks run
`media_call` directly. It connects to the stream URL and sends what Twilio sends (docs/providers.md §5.1):
`connected`, `start` (with the `<Parameter>`s as customParameters), then a `media`
frame every 20 ms in real time: 160 bytes of μ-law, the callee's speech (espeak-ng, sandbox.speech) or
silence. What the server sends back is played at real-time rate: a `mark` is echoed when the audio queued
before it has played, `clear` drops the unplayed audio and echoes the pending marks at once (as Twilio
does, cleared ones included). The callee speaks its next turn once the agent has been quiet for
`reply_gap_ms` after speaking, or talks over it (barge-in) when the turn says so; keys are `dtmf` messages;
after the last turn and the agent's answer it sends `stop` and closes. Everything received is recorded
with its time (ms since the stream opened) for latency figures."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sandbox import speech
from sandbox.call_scripts import CallScript, ScriptBook, script_for
from sandbox.media_playback import Playback
from sandbox.personas import Persona

FRAME_S = speech.FRAME_MS / 1000
# What a server may send on a bidirectional stream, and the fields of each (anything else: Twilio's 31951).
_SERVER_FIELDS = {
    "media": {"event", "streamSid", "media"},
    "mark": {"event", "streamSid", "mark"},
    "clear": {"event", "streamSid"},
}


@dataclass
class TurnRecord:
    index: int
    text: str
    started_ms: float
    barge_in: bool = False
    ended_ms: float | None = None  # the callee's last speech frame was sent
    first_agent_audio_ms: float | None = None  # the first agent media after ended_ms
    clear_ms: float | None = None  # the first clear after started_ms


@dataclass
class MediaCallResult:
    call_sid: str
    stream_sid: str
    agent_audio: bytearray = field(default_factory=bytearray)  # every outbound payload, in order
    media: list[tuple[float, int]] = field(default_factory=list)  # (received ms, bytes) per media message
    marks: list[tuple[float, str]] = field(default_factory=list)  # marks the server sent
    echoed: list[tuple[float, str, bool]] = field(default_factory=list)  # (ms, name, played: False if cleared)
    clears: list[tuple[float, int]] = field(default_factory=list)  # (ms, unplayed bytes dropped)
    dtmf: list[tuple[float, str]] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    sent_frames: int = 0
    protocol_errors: list[str] = field(default_factory=list)
    ended_by: str = ""  # caller (stop sent) | server (socket closed) | timeout (agent silent too long)
    error: str | None = None
    duration_ms: float = 0.0
    t0: float = 0.0  # time.monotonic() when the stream opened (the origin of every ms above; benchmarks)

    def reply_latencies_ms(self) -> list[float]:
        """Per turn: the callee's last speech frame sent -> the first agent audio received after it."""
        return [
            t.first_agent_audio_ms - t.ended_ms
            for t in self.turns
            if t.ended_ms is not None and t.first_agent_audio_ms is not None
        ]

    def clear_latencies_ms(self) -> list[float]:
        """Per barge-in turn: the callee started talking over the agent -> the server's clear."""
        return [t.clear_ms - t.started_ms for t in self.turns if t.barge_in and t.clear_ms is not None]


@dataclass(frozen=True)
class Pacing:
    reply_gap_ms: int = 500  # the agent counts as done after this much quiet (nothing left to play)
    turn_timeout_s: float = 15.0  # no agent audio for this long after a turn: the call ends (timeout)
    final_wait_s: float = 8.0  # after the last turn: hang up when the agent has answered, or after this


class _MediaCall:
    def __init__(
        self, ws: ClientConnection, script: CallScript, result: MediaCallResult, account_sid: str, pacing: Pacing
    ) -> None:
        self.ws, self.script, self.result, self.account_sid, self.pacing = ws, script, result, account_sid, pacing
        self.playback = Playback()
        self.sequence = 0
        self.t0 = time.monotonic()
        self.speaking: list[bytes] = []  # frames of the utterance in progress
        self.next_turn = 0
        self.heard_since_turn_ms = 0  # agent audio played since the callee last spoke
        self.agent_spoke = False  # agent audio arrived since the callee last spoke
        self.quiet_since_ms = 0.0
        self.waiting_since_ms = 0.0
        self.in_utterance = False  # frames of a turn are being sent
        self.done = False

    def now_ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000

    async def send(self, event: str, body: dict[str, Any] | None = None, *, numbered: bool = True) -> None:
        message: dict[str, Any] = {"event": event}
        if numbered:
            self.sequence += 1
            message["sequenceNumber"] = str(self.sequence)
        message.update(body or {})
        if numbered:
            message["streamSid"] = self.result.stream_sid
        await self.ws.send(json.dumps(message))

    async def open(self, custom_parameters: dict[str, str]) -> None:
        await self.send("connected", {"protocol": "Call", "version": "1.0.0"}, numbered=False)
        start = {
            "accountSid": self.account_sid,
            "streamSid": self.result.stream_sid,
            "callSid": self.result.call_sid,
            "tracks": ["inbound"],
            "customParameters": dict(custom_parameters),
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": speech.SAMPLE_RATE, "channels": 1},
        }
        await self.send("start", {"start": start})

    async def stop(self) -> None:
        await self.send("stop", {"stop": {"accountSid": self.account_sid, "callSid": self.result.call_sid}})

    async def echo_marks(self, names: list[str], played: bool) -> None:
        for name in names:
            self.result.echoed.append((self.now_ms(), name, played))
            await self.send("mark", {"mark": {"name": name}})

    # -- what the server sends -------------------------------------------------------------------------

    async def receive(self) -> None:
        async for raw in self.ws:
            if isinstance(raw, bytes):
                self.result.protocol_errors.append("binary frame (Twilio: 31950)")
                continue
            try:
                message = json.loads(raw)
            except ValueError:
                self.result.protocol_errors.append(f"not JSON: {raw[:80]!r}")
                continue
            await self.on_message(message if isinstance(message, dict) else {})

    async def on_message(self, message: dict[str, Any]) -> None:
        event, now = message.get("event"), self.now_ms()
        allowed = _SERVER_FIELDS.get(str(event))
        if allowed is None:
            self.result.protocol_errors.append(f"unknown event {event!r} (Twilio: 31951)")
            return
        if set(message) - allowed or message.get("streamSid") != self.result.stream_sid:
            self.result.protocol_errors.append(f"{event}: fields {sorted(message)} or streamSid (Twilio: 31951)")
            return
        if event == "media":
            payload = base64.b64decode(str((message.get("media") or {}).get("payload", "")))
            self.result.agent_audio += payload
            self.result.media.append((now, len(payload)))
            self.playback.add_audio(payload)
            # Only audio after the callee's words is an answer: what still arrives while they talk over the
            # agent is the interrupted response (it would otherwise count as the reply to that turn).
            self.agent_spoke = self.agent_spoke or not self.in_utterance
            for turn in self.result.turns:
                if turn.ended_ms is not None and turn.first_agent_audio_ms is None:
                    turn.first_agent_audio_ms = now
        elif event == "mark":
            name = str((message.get("mark") or {}).get("name", ""))
            self.result.marks.append((now, name))
            if self.playback.add_mark(name):
                await self.echo_marks([name], played=True)
        else:
            dropped, pending = self.playback.clear()
            self.result.clears.append((now, dropped))
            for turn in self.result.turns:
                if turn.barge_in and turn.clear_ms is None:
                    turn.clear_ms = now
            await self.echo_marks(pending, played=False)

    # -- the callee, one 20 ms tick at a time ----------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start, tick = loop.time(), 0
        while not self.done:
            tick += 1
            late = loop.time() - (start + tick * FRAME_S)
            if late > 2 * FRAME_S:
                # A stalled loop (a loaded host) does not send the missed frames in a burst: the schedule starts
                # again from now, so the far side hears 20 ms frames at 20 ms and its VAD's silence in audio time
                # is silence in wall time too (the reply latencies measured against it stay comparable).
                start = loop.time() - tick * FRAME_S
            await asyncio.sleep(max(0.0, start + tick * FRAME_S - loop.time()))
            played, marks = self.playback.tick()
            self.heard_since_turn_ms += played
            await self.echo_marks(marks, played=True)
            if self.playback.pending_bytes or played:
                self.quiet_since_ms = self.now_ms()
            await self.direct()
            if self.done:
                break
            frame = self.speaking.pop(0) if self.speaking else speech.silence(speech.FRAME_MS)
            await self.send_media(frame, tick)
            if self.in_utterance and not self.speaking:
                self.result.turns[-1].ended_ms = self.waiting_since_ms = self.now_ms()
                self.in_utterance = False

    async def send_media(self, frame: bytes, tick: int) -> None:
        payload = base64.b64encode(frame).decode()
        media = {"track": "inbound", "chunk": str(tick), "timestamp": str(int(self.now_ms())), "payload": payload}
        await self.send("media", {"media": media})
        self.result.sent_frames += 1

    async def direct(self) -> None:
        """Start the next turn, hang up, or give up, as the agent's audio so far allows."""
        if self.speaking or self.in_utterance:
            return
        now = self.now_ms()
        quiet = (
            self.agent_spoke
            and not self.playback.pending_bytes
            and now - self.quiet_since_ms >= self.pacing.reply_gap_ms
        )
        if self.next_turn >= len(self.script.turns):
            if quiet or now - self.waiting_since_ms >= self.pacing.final_wait_s * 1000:
                self.result.ended_by = "caller"
                self.done = True
            return
        turn = self.script.turns[self.next_turn]
        barge = turn.barge_in_ms is not None and self.heard_since_turn_ms >= turn.barge_in_ms
        if quiet or barge:
            await self.speak(barge and bool(self.playback.pending_bytes))
        elif now - self.waiting_since_ms >= self.pacing.turn_timeout_s * 1000:
            self.result.error = (
                f"the agent said nothing for {self.pacing.turn_timeout_s:g} s before turn {self.next_turn}"
            )
            self.result.ended_by = "timeout"
            self.done = True

    async def speak(self, barge_in: bool) -> None:
        turn = self.script.turns[self.next_turn]
        record = TurnRecord(self.next_turn, turn.text, self.now_ms(), barge_in=barge_in)
        self.result.turns.append(record)
        for digit in turn.dtmf:
            self.result.dtmf.append((self.now_ms(), digit))
            await self.send("dtmf", {"dtmf": {"track": "inbound_track", "digit": digit}})
        self.speaking = list(speech.frames(speech.speak(turn.text, self.script.language))) if turn.text else []
        self.in_utterance = bool(self.speaking)
        if not self.speaking:
            record.ended_ms = record.started_ms
        self.next_turn += 1
        self.heard_since_turn_ms, self.agent_spoke = 0, False
        self.waiting_since_ms = self.now_ms()


async def media_call(
    ws_url: str,
    *,
    account_sid: str,
    call_sid: str,
    stream_sid: str,
    custom_parameters: dict[str, str],
    persona: CallScript | Persona,
    language: str = "en",
    scripts: ScriptBook | None = None,
    pacing: Pacing | None = None,
    headers: dict[str, str] | None = None,
) -> MediaCallResult:
    """One call's Media Stream, start to stop (the asyncio core of run_media_call).

    Args:
        ws_url: the `<Stream url=...>` of the call's TwiML (ws:// on loopback).
        persona: the callee: a script, or a persona (sandbox.personas) spoken in `language`.
        scripts: where the Realtime stand-in finds the script: registered under `call_sid` for the call.
        headers: extra handshake headers (Twilio sends `X-Twilio-Signature` on the upgrade request).
    """
    script = persona if isinstance(persona, CallScript) else script_for(persona, language)
    for turn in script.turns:  # synthesised now, not in the middle of the 20 ms ticks
        if turn.text:
            await asyncio.to_thread(speech.speak, turn.text, script.language)
    result = MediaCallResult(call_sid, stream_sid)
    if scripts is not None:
        scripts.register(call_sid, script)
    try:
        async with connect(ws_url, additional_headers=headers, open_timeout=10, close_timeout=2) as ws:
            call = _MediaCall(ws, script, result, account_sid, pacing or Pacing())
            result.t0 = call.t0
            await call.open(custom_parameters)
            receiver = asyncio.create_task(call.receive())
            runner = asyncio.create_task(call.run())
            finished, _ = await asyncio.wait({receiver, runner}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in finished:  # the server closed the socket
                call.done = True
                result.ended_by = result.ended_by or "server"
                await asyncio.gather(runner, return_exceptions=True)
            else:
                runner.result()
                await call.stop()
                await ws.close()
                await asyncio.gather(receiver, return_exceptions=True)
            result.duration_ms = call.now_ms()
    except (OSError, ConnectionClosed) as exc:
        result.error = result.error or f"{type(exc).__name__}: {exc}"
        result.ended_by = result.ended_by or "server"
    finally:
        if scripts is not None:
            scripts.release(call_sid)
    return result


def run_media_call(
    ws_url: str,
    *,
    account_sid: str,
    call_sid: str,
    stream_sid: str,
    custom_parameters: dict[str, str],
    persona: CallScript | Persona,
    language: str = "en",
    scripts: ScriptBook | None = None,
    pacing: Pacing | None = None,
    headers: dict[str, str] | None = None,
) -> MediaCallResult:
    """media_call, blocking, on an event loop of its own: call it from any thread without a running loop
    (a Flask request thread, or the thread start_media_call makes)."""
    return asyncio.run(
        media_call(
            ws_url,
            account_sid=account_sid,
            call_sid=call_sid,
            stream_sid=stream_sid,
            custom_parameters=custom_parameters,
            persona=persona,
            language=language,
            scripts=scripts,
            pacing=pacing,
            headers=headers,
        )
    )


class MediaCallThread(threading.Thread):
    """run_media_call in a daemon thread: `join()` then read `result` (None if it raised: see `error`)."""

    def __init__(self, ws_url: str, **kwargs: Any) -> None:
        super().__init__(daemon=True, name=f"twilio-media-{kwargs.get('call_sid', '')}")
        self.ws_url, self.kwargs = ws_url, kwargs
        self.result: MediaCallResult | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = run_media_call(self.ws_url, **self.kwargs)
        except BaseException as exc:  # handed to whoever joins
            self.error = exc


def start_media_call(ws_url: str, **kwargs: Any) -> MediaCallThread:
    """Start run_media_call(ws_url, **kwargs) in the background (the Twilio stand-in answers its REST
    request at once, as Twilio does, while the stream runs)."""
    thread = MediaCallThread(ws_url, **kwargs)
    thread.start()
    return thread
