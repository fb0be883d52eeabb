"""One Twilio Media Streams call bridged to one OpenAI Realtime session (issue 22, docs/audio-agent.md).

Twilio connects to ``GET /twilio/media/{secret}`` (voice.bridge.server) from ``<Connect><Stream>``. This
session runs the call; its parts, each in its own module: the frames (voice.bridge.twilio_frames), what
of the agent's audio was played (voice.bridge.twilio_playback), the model socket
(voice.bridge.realtime_model_socket), when to ask for a response (voice.bridge.realtime_response_gate), the
tool calls (voice.bridge.realtime_tool_calls), the transcript (voice.bridge.realtime_transcript), the
transfer (voice.bridge.realtime_transfer) and the end-of-call report (voice.bridge.realtime_call_end).

* Audio: each inbound ``media`` payload becomes one ``input_audio_buffer.append`` and each
  ``response.output_audio.delta`` one ``media`` + ``mark``, the base64 passed on as it came (μ-law both
  ways: no decoding, no resampling). Inbound frames while no model socket is open are dropped.
* Barge-in: ``input_audio_buffer.speech_started`` while audio is unplayed or a response runs: Twilio
  ``clear`` first, then ``response.cancel`` and ``conversation.item.truncate`` of the assistant item at
  ``audio_end_ms`` = the played bytes / 8 (never more than was received). Deltas of the cancelled response
  still in flight are dropped.
* Tools answer ``function_call_output`` + ``response.create`` once no response runs; ``end_call`` hangs up
  after the goodbye was played, ``transfer_call`` hands the call to RealtimeDeps.transfer after the
  hand-over sentence. A DTMF key becomes a user message ``[DTMF n]`` and a response.
* The model socket drops mid-call: reconnect, send session.update again and the conversation so far (or
  the opening again, when no assistant words were heard yet); Twilio's side stays open meanwhile. Tools
  answer repeated calls from their first result, and bookings are keyed by call and slot.
* The end (``stop``, our hang-up, Twilio gone): the report goes to the call's interaction and to the
  provider's hook. Logs carry ids and labels only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from providers.events import Turn
from voice.bridge.core import Bridge
from voice.bridge.crm_tools import CallContext
from voice.bridge.dialog.timetalk import default_timetalk
from voice.bridge.openai_realtime import (
    instructions,
    opening,
    session_update,
    summary_item,
    user_text_item,
)
from voice.bridge.realtime_call_end import build_report, deliver_report
from voice.bridge.realtime_config import API_KEY_SECRET, PROVIDER, RealtimeDeps
from voice.bridge.realtime_model_socket import ModelSocket
from voice.bridge.realtime_report import EndedBy, RealtimeCallReport, UsageTally
from voice.bridge.realtime_response_gate import ResponseGate
from voice.bridge.realtime_tool_calls import ToolCalls
from voice.bridge.realtime_tools import RealtimeToolbox, ToolOutcome, tool_definitions
from voice.bridge.realtime_transcript import Transcript
from voice.bridge.realtime_transfer import hand_over, transfer_number, transfer_summary
from voice.bridge.twilio_frames import (
    BYTES_PER_MS,
    call_metadata,
    dtmf_digit,
    inbound_payload,
    mark_name,
    parse_start,
    ulaw_bytes,
)
from voice.bridge.twilio_playback import TwilioPlayback

log = logging.getLogger(__name__)

DELTA_TYPES = ("response.output_audio.delta", "response.audio.delta")
TRANSCRIPT_DONE = ("response.output_audio_transcript.done", "response.audio_transcript.done")


class TwilioMediaSession:
    def __init__(self, bridge: Bridge, deps: RealtimeDeps, ws: web.WebSocketResponse) -> None:
        self.bridge = bridge
        self.deps = deps
        self.config = deps.config
        self.ws = ws
        self.stream_sid = ""
        self.call_sid = ""
        self.parameters: dict[str, str] = {}
        self.started = time.monotonic()
        self.ctx: CallContext | None = None
        self.toolbox: RealtimeToolbox | None = None
        self.model = ModelSocket(deps, self._api_key, lambda: self.stream_sid)
        self.usage = UsageTally()
        self.ended_by: EndedBy = "twilio_closed"
        self.closing = False
        self.reported = False
        self.playback = TwilioPlayback(ws, lambda: self.stream_sid)  # audio out, and what of it was played
        self.transcript_log = Transcript(lambda: time.monotonic() - self.started)
        self.gate = ResponseGate()  # responses and tool calls; the hang-up or transfer waiting for them
        self.transferred = False
        self.tools = ToolCalls(self.gate, self.model, lambda: self.stream_sid, self._after_tool)
        self.model_task: asyncio.Task[None] | None = None
        self.open_task: asyncio.Task[None] | None = None
        self.act_task: asyncio.Task[None] | None = None

    # ---- the Twilio socket ---------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    if not await self._on_twilio(msg.data):
                        break
                elif msg.type == WSMsgType.ERROR:
                    log.info("twilio stream %s: socket error %s", self.stream_sid, type(self.ws.exception()).__name__)
                    break
        finally:
            await self._end()

    async def _on_twilio(self, data: str) -> bool:
        """One Twilio message; False when the stream is over."""
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("twilio stream %s: a frame that is not JSON, ignored", self.stream_sid)
            return True
        if not isinstance(message, dict):
            return True
        event = message.get("event")
        if event == "media":
            payload = inbound_payload(message)
            if payload is not None and self.model.link is not None:
                await self.model.send({"type": "input_audio_buffer.append", "audio": payload})
        elif event == "mark":
            name = mark_name(message)
            if name is not None:
                self.playback.on_mark(name)
        elif event == "start":
            self._on_start(message)
        elif event == "dtmf":
            digit = dtmf_digit(message)
            if digit is not None:
                await self._on_dtmf(digit)
        elif event == "stop":
            self.ended_by = "stop"
            return False
        return True  # "connected" and anything unknown: nothing to do

    def _on_start(self, message: dict[str, Any]) -> None:
        start = parse_start(message)
        self.stream_sid, self.call_sid = start.stream_sid, start.call_sid
        if start.parameters is not None:
            self.parameters = start.parameters
        if not start.format_ok:
            log.warning(
                "twilio stream %s: media format %s/%s/%s, expected audio/x-mulaw 8000 1",
                self.stream_sid,
                *start.media_format,
            )
        log.info("twilio stream %s of call %s: started", self.stream_sid, self.call_sid)
        self.started = time.monotonic()
        if self.call_sid:
            self.bridge.sessions[self.call_sid] = self
        if self.open_task is None:
            self.open_task = asyncio.create_task(self._open())

    def metadata(self) -> dict[str, str]:
        """The stream's parameters as the CRM tools read call metadata (twilio_frames.call_metadata)."""
        return call_metadata(self.parameters)

    async def _on_dtmf(self, digit: str) -> None:
        log.info("twilio stream %s: a key was pressed", self.stream_sid)
        self.transcript_log.add(f"dtmf-{time.monotonic_ns()}", "callee", f"[DTMF {digit}]")
        if self.model.link is None:
            return
        await self.model.send(user_text_item(f"[DTMF {digit}]"))
        self.gate.wanted = True
        await self._maybe_respond()

    # ---- the model socket ----------------------------------------------------------------------------

    async def _api_key(self) -> str | None:
        keys = await self.bridge.secret_list(API_KEY_SECRET)
        return keys[0] if keys else None

    async def _open(self) -> None:
        """The callee from the CRM, the model session, the opening; then the model's events."""
        ctx = await self.bridge.tools_factory.context(self.call_sid, PROVIDER, self.metadata())
        self.ctx = ctx
        now = self.bridge.now()
        tools = self.bridge.tools_factory.tools(ctx, speak=None, now=now)
        self.toolbox = RealtimeToolbox(
            tools,
            language=ctx.callee.language,
            now=now,
            timetalk=default_timetalk(),
            transfer_available=self._transfer_number() is not None and self.deps.transfer is not None,
        )
        try:
            await self.model.open()
            await self._configure(first=True)
        except Exception as e:  # noqa: BLE001 - no model: the call cannot go on
            log.warning("twilio stream %s: model session not opened (%s)", self.stream_sid, type(e).__name__)
            self.ended_by = "model_lost"
            if not await self._reconnect():
                await self.ws.close(code=WSCloseCode.OK, message=b"model unavailable")
                return
        self.model_task = asyncio.create_task(self._model_loop())

    async def _configure(self, *, first: bool) -> None:
        """session.update; then the opening (first connection) or the conversation so far (a reconnect)."""
        assert self.ctx is not None and self.toolbox is not None
        company = self.bridge.config.company_name
        prompt = instructions(
            self.ctx, company_name=company, now=self.toolbox.now, transfer_available=self.toolbox.transfer_available
        )
        await self.model.send(session_update(self.config, prompt, tool_definitions(), self.toolbox.language))
        if first:
            words = opening(self.ctx, company, self.bridge.config.callback_number)
            self.gate.active = True
            await self.model.send(
                {"type": "response.create", "response": {"instructions": f"Say exactly this, nothing else: {words}"}}
            )
            return
        summary = summary_item(self.transcript_pairs(), self.config.summary_chars)
        if summary is not None:
            await self.model.send(summary)

    async def _model_loop(self) -> None:
        while not self.closing:
            link = self.model.link
            if link is None:
                return
            try:
                event = await link.recv()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - closed, reset, garbage: reconnect
                if self.closing:
                    return
                log.warning("twilio stream %s: model socket lost (%s)", self.stream_sid, type(e).__name__)
                if not await self._reconnect():
                    self.ended_by = "model_lost"
                    await self.ws.close(code=WSCloseCode.OK, message=b"model unavailable")
                    return
                continue
            try:
                await self._on_model(event)
            except Exception:  # noqa: BLE001 - one odd event must not end the call
                log.exception("twilio stream %s: model event %s failed", self.stream_sid, event.get("type"))

    async def _reconnect(self) -> bool:
        await self.model.drop()
        was_busy = self.gate.busy
        self.gate.active = False
        if not await self.model.reopen(lambda: self.closing):
            return False
        # Lost before the opening was complete (no assistant words yet): the opening again, so the
        # disclosure is heard whole; otherwise the conversation so far.
        greeted = self.transcript_log.greeted
        if not greeted:
            await self.playback.clear()  # the half opening still queued at Twilio: it starts over
        await self._configure(first=not greeted)
        if not greeted:
            return True
        if was_busy and self.gate.tools_running == 0:
            self.gate.wanted = True
            await self._maybe_respond()
        return True

    async def _on_model(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in DELTA_TYPES:
            await self._on_audio(event)
        elif kind == "input_audio_buffer.speech_started":
            self.transcript_log.add(event.get("item_id"), "callee", "")
            await self._barge_in()
        elif kind == "response.created":
            self.gate.created(event.get("response") or {})
        elif kind == "response.output_item.added":
            item = event.get("item") or {}
            if item.get("type") == "message" and item.get("role") == "assistant":
                self.transcript_log.add(item.get("id"), "agent", "")
        elif kind in TRANSCRIPT_DONE:
            self.transcript_log.set_text(event.get("item_id"), "agent", event.get("transcript"))
        elif kind == "conversation.item.input_audio_transcription.completed":
            self.transcript_log.set_text(event.get("item_id"), "callee", event.get("transcript"))
        elif kind == "input_audio_buffer.committed":
            self.transcript_log.add(event.get("item_id"), "callee", "")
        elif kind == "response.function_call_arguments.done":
            self.tools.start(self.toolbox, event.get("call_id"), event.get("name"), event.get("arguments"))
        elif kind == "response.done":
            await self._on_response_done(event.get("response") or {})
        elif kind == "error":
            error = event.get("error") or {}
            # A cancel that came after the response ended (its audio still playing at Twilio) is expected.
            quiet = error.get("code") == "response_cancel_not_active"
            log.log(
                logging.DEBUG if quiet else logging.INFO,
                "twilio stream %s: model error %s/%s",
                self.stream_sid,
                error.get("type"),
                error.get("code"),
            )
            if error.get("code") in ("conversation_already_has_active_response",):
                self.gate.wanted = False

    async def _on_audio(self, event: dict[str, Any]) -> None:
        delta, item_id = event.get("delta"), event.get("item_id")
        if not isinstance(delta, str) or not delta or event.get("response_id") in self.gate.cancelled:
            return  # a cancelled response's audio still in flight: never played
        n = ulaw_bytes(delta)
        self.transcript_log.received(item_id, n)
        await self.playback.play(item_id, delta, n)

    async def _barge_in(self) -> None:
        playback = self.playback
        unplayed = playback.unplayed
        if not unplayed and not self.gate.active:
            return
        if unplayed:
            await self.playback.clear()
        if self.gate.active:
            await self.model.send(self.gate.cancel_event())
            self.gate.active = False
        if playback.item is not None and playback.sent > 0 and unplayed:
            item_id = playback.item
            played = min(playback.played, playback.sent)
            await self.model.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": played // BYTES_PER_MS,
                }
            )
            self.transcript_log.truncated(item_id, played)
            playback.truncate()
        log.info("twilio stream %s: barge-in", self.stream_sid)

    async def _on_response_done(self, response: dict[str, Any]) -> None:
        self.usage = self.usage.add(response.get("usage"))
        self.gate.done(response)
        for item in response.get("output") or ():
            if isinstance(item, dict) and item.get("type") == "function_call":
                self.tools.start(self.toolbox, item.get("call_id"), item.get("name"), item.get("arguments"))
        await self._maybe_respond()
        self._maybe_act()

    # ---- tools, hang-up, transfer ---------------------------------------------------------------------

    async def _after_tool(self, outcome: ToolOutcome) -> None:
        if outcome.action is not None:
            self.gate.action = self.gate.action or outcome.action
            self._maybe_act()
            return
        self.gate.wanted = True
        await self._maybe_respond()

    async def _maybe_respond(self) -> None:
        if self.gate.respond(model_open=self.model.link is not None):
            await self.model.send({"type": "response.create"})

    def _maybe_act(self) -> None:
        action = self.gate.ready_action()
        if action is not None and self.act_task is None:
            self.act_task = asyncio.create_task(self._act(action))

    async def _act(self, action: str) -> None:
        """Hang up or transfer once the last words were played (or drain_timeout_s passed)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.playback.drained.wait(), self.config.drain_timeout_s)
        if action == "transfer":
            number = self._transfer_number()
            if number is not None:
                summary = transfer_summary(self.toolbox.facts if self.toolbox is not None else None)
                company = self.ctx.company_id if self.ctx is not None else None
                self.transferred = await hand_over(self.deps, self.call_sid, self.stream_sid, number, summary, company)
            if self.transferred:
                self.ended_by = "transfer"
                log.info("twilio stream %s: handed to the transfer target", self.stream_sid)
                return  # Twilio sends stop when the call's TwiML changes
            self.gate.action, self.act_task = None, None
            await self.model.send(user_text_item("[system: the transfer failed; offer a callback instead]"))
            self.gate.wanted = True
            await self._maybe_respond()
            return
        self.ended_by = "end_call"
        log.info("twilio stream %s: hanging up after the goodbye", self.stream_sid)
        await self.ws.close(code=WSCloseCode.OK, message=b"call ended")

    def _transfer_number(self) -> str | None:
        return transfer_number(self.bridge.config.transfer_number, self.ctx)

    # ---- the transcript --------------------------------------------------------------------------------

    def transcript(self) -> tuple[Turn, ...]:
        return self.transcript_log.turns()

    def transcript_pairs(self) -> list[tuple[str, str]]:
        return self.transcript_log.pairs()

    # ---- the end -----------------------------------------------------------------------------------------

    async def _end(self) -> None:
        self.closing = True
        for task in (self.open_task, self.model_task, self.act_task):
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
        await self.model.close()
        if not self.ws.closed:
            await self.ws.close(code=WSCloseCode.OK, message=b"stream ended")
        if self.call_sid and self.bridge.sessions.get(self.call_sid) is self:
            del self.bridge.sessions[self.call_sid]
        if self.call_sid and not self.reported:
            self.reported = True
            await self._report()

    def report(self) -> RealtimeCallReport:
        return build_report(
            call_sid=self.call_sid,
            stream_sid=self.stream_sid,
            ended_by=self.ended_by,
            usage=self.usage,
            transcript=self.transcript(),
            facts=self.toolbox.facts if self.toolbox is not None else None,
            ctx=self.ctx,
            transferred=self.transferred,
            reconnects=self.model.reconnects,
            duration_s=round(time.monotonic() - self.started, 2),
            parameters=self.parameters,
        )

    async def _report(self) -> None:
        runner = getattr(self.bridge.tools_factory, "runner", None)
        company = self.ctx.company_id if self.ctx is not None else None
        await deliver_report(self.report(), self.deps, runner, company)

    # ---- pushed by the bridge (LiveSession) --------------------------------------------------------------

    async def interrupt(self, text: str, *, no_interruption_allowed: bool = False) -> bool:
        """Have the agent say `text` now (e.g. a slow tool's late answer)."""
        if self.model.link is None:
            return False
        await self.model.send(user_text_item(f"[system: tell the caller now: {text}]"))
        self.gate.wanted = True
        await self._maybe_respond()
        return True

    async def finish(self, grace_s: float, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> None:
        """Shutdown: let the audio being played finish (up to grace_s), then close the stream."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.playback.drained.wait(), grace_s)
        self.ended_by = "shutdown"
        await self.ws.close(code=code, message=message)
