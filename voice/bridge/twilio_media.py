"""One Twilio Media Streams call bridged to one OpenAI Realtime session (issue 22, docs/audio-agent.md).

Twilio connects to ``GET /twilio/media/{secret}`` (voice.bridge.server) from ``<Connect><Stream>``: text
frames ``connected``, ``start`` (streamSid, callSid, customParameters, mediaFormat audio/x-mulaw 8000 1),
``media`` (base64 μ-law, 20 ms), ``mark`` (our marks echoed when played), ``dtmf``, ``stop``. We send
``media`` {streamSid, media.payload}, ``mark`` {streamSid, mark.name} and ``clear`` {streamSid}.

* Audio in: each inbound ``media`` payload becomes one ``input_audio_buffer.append``, its base64 text
  passed on as it came (μ-law both ways: no decoding, no resampling). Frames that arrive while no model
  socket is open (connecting, reconnecting) are dropped.
* Audio out: each ``response.output_audio.delta`` goes to Twilio as one ``media`` at once, followed by a
  ``mark`` naming how many bytes of that assistant item have been sent; Twilio echoes the mark when the
  audio before it was played, so ``played`` is what the caller heard (8 bytes of μ-law per ms).
* Barge-in: ``input_audio_buffer.speech_started`` while audio is unplayed or a response runs: Twilio
  ``clear`` first, then ``response.cancel`` and ``conversation.item.truncate`` of the assistant item at
  ``audio_end_ms`` = the played bytes / 8 (never more than was received). Marks pending at the clear are
  echoed by Twilio too and are not counted as played; deltas of the cancelled response still in flight are
  dropped. The stored assistant text is cut to the played share.
* Tools: ``response.function_call_arguments.done`` runs the CRM tool in a task (voice.bridge.realtime_tools,
  worker threads) and answers ``function_call_output`` + ``response.create`` once no response is running.
  ``end_call`` hangs up after the goodbye was played (the socket closes, ending <Connect>); ``transfer_call``
  hands the call to the provider's transfer (RealtimeDeps.transfer) after the hand-over sentence.
* DTMF: a key press becomes a user message ``[DTMF n]`` and a response (the instructions say 1 yes, 2 no,
  0 a person).
* The model socket drops mid-call: reconnect with backoff (RealtimeConfig), send session.update again and
  the conversation so far as one system message; a tool result of the lost session goes in as a system
  message. Twilio's side stays open meanwhile (the caller hears silence). Tools answer repeated calls
  from their first result, and bookings are keyed by call and slot, so nothing is booked twice.
* The end (``stop``, our hang-up, Twilio gone): the transcript of both sides, the usage summed from each
  ``response.done`` and the outcome go to the call's interaction (voice.bridge.realtime_records) and to the
  provider's hook (RealtimeDeps.on_end). Logs carry ids and labels only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from providers.events import Turn
from voice.bridge.core import Bridge
from voice.bridge.crm_tools import CallContext
from voice.bridge.dialog.callee_text import e164
from voice.bridge.dialog.timetalk import default_timetalk
from voice.bridge.openai_realtime import (
    ModelLink,
    function_output_item,
    instructions,
    opening,
    sdk_connect,
    session_update,
    summary_item,
    user_text_item,
)
from voice.bridge.realtime_config import API_KEY_SECRET, PROVIDER, RealtimeDeps
from voice.bridge.realtime_report import EndedBy, RealtimeCallReport, UsageTally
from voice.bridge.realtime_tools import RealtimeToolbox, ToolOutcome, tool_definitions

log = logging.getLogger(__name__)

BYTES_PER_MS = 8  # G.711 μ-law, 8 kHz mono
MAX_PARAMETERS = 20
DELTA_TYPES = ("response.output_audio.delta", "response.audio.delta")
TRANSCRIPT_DONE = ("response.output_audio_transcript.done", "response.audio_transcript.done")


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def ulaw_bytes(payload: str) -> int:
    """The number of bytes in a base64 payload (without decoding it)."""
    n = len(payload)
    return n * 3 // 4 - payload[-2:].count("=") if n else 0


@dataclass
class _Item:
    """One conversation item's text, in the order the items appeared."""

    order: int
    speaker: str  # agent | callee
    at_s: float
    text: str = ""
    received: int = 0  # μ-law bytes of assistant audio received
    played: int | None = None  # set when truncated: the bytes the caller heard


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
        self.link: ModelLink | None = None
        self.generation = 0  # which model socket; a tool result of an older one is told as a message
        self.usage = UsageTally()
        self.reconnects = 0
        self.ended_by: EndedBy = "twilio_closed"
        self.closing = False
        self.reported = False
        # Audio out: the assistant item playing, its bytes sent to Twilio and confirmed played by marks.
        self.out_item: str | None = None
        self.out_sent = 0
        self.out_played = 0
        self.marks: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self.cleared: set[str] = set()
        self.mark_seq = 0
        self.drained = asyncio.Event()
        self.drained.set()
        # Responses and tools.
        self.response_active = False
        self.response_id: str | None = None
        self.cancelled: set[str] = set()
        self.want_response = False
        self.tools_running = 0
        self.seen_calls: set[str] = set()
        self.action: str | None = None
        self.transferred = False
        self.items: dict[str, _Item] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
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
            media = message.get("media")
            if isinstance(media, dict) and media.get("track", "inbound") in ("inbound", "inbound_track"):
                payload = media.get("payload")
                if isinstance(payload, str) and payload and self.link is not None:
                    await self._to_model({"type": "input_audio_buffer.append", "audio": payload})
        elif event == "mark":
            mark = message.get("mark")
            if isinstance(mark, dict) and isinstance(mark.get("name"), str):
                self._on_mark(mark["name"])
        elif event == "start":
            self._on_start(message)
        elif event == "dtmf":
            dtmf = message.get("dtmf")
            digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
            if isinstance(digit, str) and len(digit) == 1 and digit in "0123456789*#":
                await self._on_dtmf(digit)
        elif event == "stop":
            self.ended_by = "stop"
            return False
        return True  # "connected" and anything unknown: nothing to do

    def _on_start(self, message: dict[str, Any]) -> None:
        start = _dict(message.get("start"))
        self.stream_sid = str(message.get("streamSid") or start.get("streamSid") or "")[:64]
        self.call_sid = str(start.get("callSid") or "")[:64]
        params = start.get("customParameters")
        if isinstance(params, dict):
            self.parameters = {
                str(k)[:64]: v[:256] for k, v in list(params.items())[:MAX_PARAMETERS] if isinstance(v, str)
            }
        fmt = _dict(start.get("mediaFormat"))
        if (fmt.get("encoding"), fmt.get("sampleRate"), fmt.get("channels")) != ("audio/x-mulaw", 8000, 1):
            log.warning(
                "twilio stream %s: media format %s/%s/%s, expected audio/x-mulaw 8000 1",
                self.stream_sid,
                fmt.get("encoding"),
                fmt.get("sampleRate"),
                fmt.get("channels"),
            )
        log.info("twilio stream %s of call %s: started", self.stream_sid, self.call_sid)
        self.started = time.monotonic()
        if self.call_sid:
            self.bridge.sessions[self.call_sid] = self
        if self.open_task is None:
            self.open_task = asyncio.create_task(self._open())

    def metadata(self) -> dict[str, str]:
        """The stream's parameters as the CRM tools read call metadata (the call key is the ledger's
        idempotency key: company_for_call trusts a company only through it)."""
        metadata = dict(self.parameters)
        if "call_key" in metadata:
            metadata.setdefault("idempotency_key", metadata["call_key"])
        return metadata

    async def _to_twilio(self, payload: dict[str, Any]) -> bool:
        if self.ws.closed:
            return False
        try:
            await self.ws.send_str(dumps(payload))
        except (ConnectionError, RuntimeError):
            return False
        return True

    def _on_mark(self, name: str) -> None:
        if name in self.cleared:
            self.cleared.discard(name)  # echoed after a clear: that audio was never played
            return
        if name not in self.marks:
            return
        # Marks come back in the order they were sent: this one and every one before it were played.
        while self.marks:
            key, (item_id, upto) = self.marks.popitem(last=False)
            if item_id == self.out_item:
                self.out_played = max(self.out_played, upto)
            if key == name:
                break
        if not self.marks:
            self.drained.set()

    async def _on_dtmf(self, digit: str) -> None:
        log.info("twilio stream %s: a key was pressed", self.stream_sid)
        self._add_item(f"dtmf-{time.monotonic_ns()}", "callee", f"[DTMF {digit}]")
        if self.link is None:
            return
        await self._to_model(user_text_item(f"[DTMF {digit}]"))
        self.want_response = True
        await self._maybe_respond()

    # ---- the model socket ----------------------------------------------------------------------------

    async def _api_key(self) -> str | None:
        keys = await self.bridge.secret_list(API_KEY_SECRET)
        return keys[0] if keys else None

    async def _connect(self) -> ModelLink:
        connect = self.deps.connect or sdk_connect
        return await connect(self.config, await self._api_key())

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
            self.link = await self._connect()
            await self._configure(first=True)
        except Exception as e:  # noqa: BLE001 - no model: the call cannot go on
            log.warning("twilio stream %s: model session not opened (%s)", self.stream_sid, type(e).__name__)
            self.ended_by = "model_lost"
            if not await self._reconnect():
                await self.ws.close(code=WSCloseCode.OK, message=b"model unavailable")
                return
        self.model_task = asyncio.create_task(self._model_loop())

    def _instructions(self) -> str:
        assert self.ctx is not None and self.toolbox is not None
        return instructions(
            self.ctx,
            company_name=self.bridge.config.company_name,
            now=self.toolbox.now,
            transfer_available=self.toolbox.transfer_available,
        )

    async def _configure(self, *, first: bool) -> None:
        """session.update; then the opening (first connection) or the conversation so far (a reconnect)."""
        assert self.ctx is not None
        language = self.toolbox.language if self.toolbox is not None else "de"
        await self._to_model(session_update(self.config, self._instructions(), tool_definitions(), language))
        if first:
            words = opening(self.ctx, self.bridge.config.company_name, self.bridge.config.callback_number)
            self.response_active = True
            await self._to_model(
                {"type": "response.create", "response": {"instructions": f"Say exactly this, nothing else: {words}"}}
            )
            return
        summary = summary_item(self.transcript_pairs(), self.config.summary_chars)
        if summary is not None:
            await self._to_model(summary)

    async def _to_model(self, event: dict[str, Any]) -> None:
        link = self.link
        if link is None:
            return
        try:
            await link.send(event)
        except Exception as e:  # noqa: BLE001 - a dead socket: the reader reconnects
            log.debug("twilio stream %s: model send failed (%s)", self.stream_sid, type(e).__name__)

    async def _model_loop(self) -> None:
        while not self.closing:
            link = self.link
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
        old, self.link = self.link, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        self.generation += 1
        was_busy = self.response_active or self.tools_running > 0 or self.want_response
        self.response_active = False
        delay = self.config.reconnect_backoff_s
        for attempt in range(1, self.config.reconnect_attempts + 1):
            if self.closing:
                return False
            await asyncio.sleep(delay)
            delay *= 2
            try:
                link = await self._connect()
            except Exception as e:  # noqa: BLE001 - try again after the backoff
                log.info("twilio stream %s: reconnect %d failed (%s)", self.stream_sid, attempt, type(e).__name__)
                continue
            self.link = link
            self.reconnects += 1
            # Lost before the opening was complete (no assistant words yet): the opening again, so the
            # disclosure is heard whole; otherwise the conversation so far.
            log.info("twilio stream %s: model session reconnected (attempt %d)", self.stream_sid, attempt)
            greeted = any(i.speaker == "agent" and i.text for i in self.items.values())
            if not greeted:
                await self._clear_twilio()  # the half opening still queued at Twilio: it starts over
            await self._configure(first=not greeted)
            if not greeted:
                return True
            if was_busy and self.tools_running == 0:
                self.want_response = True
                await self._maybe_respond()
            return True
        return False

    async def _on_model(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in DELTA_TYPES:
            await self._on_audio(event)
        elif kind == "input_audio_buffer.speech_started":
            self._add_item(event.get("item_id"), "callee", "")
            await self._barge_in()
        elif kind == "response.created":
            response = event.get("response") or {}
            self.response_active = True
            self.response_id = response.get("id")
        elif kind == "response.output_item.added":
            item = event.get("item") or {}
            if item.get("type") == "message" and item.get("role") == "assistant":
                self._add_item(item.get("id"), "agent", "")
        elif kind in TRANSCRIPT_DONE:
            self._set_text(event.get("item_id"), "agent", event.get("transcript"))
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._set_text(event.get("item_id"), "callee", event.get("transcript"))
        elif kind == "input_audio_buffer.committed":
            self._add_item(event.get("item_id"), "callee", "")
        elif kind == "response.function_call_arguments.done":
            self._start_tool(event.get("call_id"), event.get("name"), event.get("arguments"))
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
                self.want_response = False

    async def _on_audio(self, event: dict[str, Any]) -> None:
        delta, item_id = event.get("delta"), event.get("item_id")
        if not isinstance(delta, str) or not delta or event.get("response_id") in self.cancelled:
            return  # a cancelled response's audio still in flight: never played
        if item_id != self.out_item:
            self.out_item, self.out_sent, self.out_played = item_id, 0, 0
        n = ulaw_bytes(delta)
        self.out_sent += n
        item = self.items.get(item_id) if isinstance(item_id, str) else None
        if item is not None:
            item.received += n
        # The payload goes on as it came: the model's μ-law is Twilio's μ-law.
        await self._to_twilio({"event": "media", "streamSid": self.stream_sid, "media": {"payload": delta}})
        self.mark_seq += 1
        name = f"a{self.mark_seq}"
        self.marks[name] = (str(item_id), self.out_sent)
        self.drained.clear()
        await self._to_twilio({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def _barge_in(self) -> None:
        unplayed = self.out_item is not None and self.out_sent > self.out_played
        if not unplayed and not self.response_active:
            return
        if unplayed:
            await self._clear_twilio()
        if self.response_active:
            cancel: dict[str, Any] = {"type": "response.cancel"}
            if self.response_id:
                cancel["response_id"] = self.response_id
                self.cancelled.add(self.response_id)
            await self._to_model(cancel)
            self.response_active = False
        if self.out_item is not None and self.out_sent > 0 and unplayed:
            played = min(self.out_played, self.out_sent)
            await self._to_model(
                {
                    "type": "conversation.item.truncate",
                    "item_id": self.out_item,
                    "content_index": 0,
                    "audio_end_ms": played // BYTES_PER_MS,
                }
            )
            item = self.items.get(self.out_item)
            if item is not None:
                item.played = played
            self.out_sent = played
        log.info("twilio stream %s: barge-in", self.stream_sid)

    async def _clear_twilio(self) -> None:
        """Twilio drops the audio it has not played; the marks it then echoes were not played."""
        if self.out_item is None or self.out_sent <= self.out_played:
            return
        await self._to_twilio({"event": "clear", "streamSid": self.stream_sid})
        self.cleared.update(self.marks)
        self.marks.clear()
        self.drained.set()

    async def _on_response_done(self, response: dict[str, Any]) -> None:
        self.usage = self.usage.add(response.get("usage"))
        if self.response_id is None or response.get("id") in (None, self.response_id):
            self.response_active = False  # (a response.done of an older, cancelled response changes nothing)
        for item in response.get("output") or ():
            if isinstance(item, dict) and item.get("type") == "function_call":
                self._start_tool(item.get("call_id"), item.get("name"), item.get("arguments"))
        await self._maybe_respond()
        self._maybe_act()

    # ---- tools ---------------------------------------------------------------------------------------

    def _start_tool(self, call_id: Any, name: Any, arguments: Any) -> None:
        if not isinstance(call_id, str) or not isinstance(name, str) or call_id in self.seen_calls:
            return
        self.seen_calls.add(call_id)
        self.tools_running += 1
        self._spawn(self._tool(call_id, name, arguments if isinstance(arguments, str) else None))

    async def _tool(self, call_id: str, name: str, arguments: str | None) -> None:
        generation = self.generation
        assert self.toolbox is not None
        try:
            outcome = await self.toolbox.run(call_id, name, arguments)
        except Exception as e:  # noqa: BLE001 - the toolbox reports failures itself; this is a bug
            log.exception("twilio stream %s: tool %s raised", self.stream_sid, name)
            outcome = ToolOutcome(dumps({"error": type(e).__name__}))
        finally:
            self.tools_running -= 1
        log.info("twilio stream %s: tool %s done (%s)", self.stream_sid, name, outcome.action or "answer")
        if generation == self.generation:
            await self._to_model(function_output_item(call_id, outcome.output))
        else:
            # The session that asked is gone; the new one learns the result as a message.
            await self._to_model(user_text_item(f"[system: result of {name}: {outcome.output}]"))
        if outcome.action is not None:
            self.action = self.action or outcome.action
            self._maybe_act()
            return
        self.want_response = True
        await self._maybe_respond()

    async def _maybe_respond(self) -> None:
        if not self.want_response or self.response_active or self.tools_running or self.action or self.link is None:
            return
        self.want_response = False
        self.response_active = True
        self.response_id = None
        await self._to_model({"type": "response.create"})

    def _maybe_act(self) -> None:
        if self.action is None or self.act_task is not None or self.response_active or self.tools_running:
            return
        self.act_task = asyncio.create_task(self._act(self.action))

    async def _act(self, action: str) -> None:
        """Hang up or transfer once the last words were played (or drain_timeout_s passed)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.drained.wait(), self.config.drain_timeout_s)
        if action == "transfer":
            number = self._transfer_number()
            if number is not None and self.deps.transfer is not None:
                try:
                    company = self.ctx.company_id if self.ctx is not None else None
                    summary = self._transfer_summary()
                    self.transferred = await self.deps.transfer(self.call_sid, number, summary, company)
                except Exception as e:  # noqa: BLE001 - the call goes on with the agent
                    log.warning("twilio stream %s: transfer failed (%s)", self.stream_sid, type(e).__name__)
            if self.transferred:
                self.ended_by = "transfer"
                log.info("twilio stream %s: handed to the transfer target", self.stream_sid)
                return  # Twilio sends stop when the call's TwiML changes
            self.action, self.act_task = None, None
            await self._to_model(user_text_item("[system: the transfer failed; offer a callback instead]"))
            self.want_response = True
            await self._maybe_respond()
            return
        self.ended_by = "end_call"
        log.info("twilio stream %s: hanging up after the goodbye", self.stream_sid)
        await self.ws.close(code=WSCloseCode.OK, message=b"call ended")

    def _transfer_number(self) -> str | None:
        target = self.bridge.config.transfer_number
        if self.ctx is not None and self.ctx.inbound is not None and self.ctx.inbound.transfer_target:
            target = self.ctx.inbound.transfer_target
        return e164(target)

    def _transfer_summary(self) -> str:
        facts = self.toolbox.facts if self.toolbox is not None else None
        parts = ["Call handed over by the AI assistant."]
        if facts is not None and facts.classification:
            parts.append(f"Outcome so far: {facts.classification}.")
        if facts is not None and facts.qualification:
            parts.append("Answers: " + "; ".join(f"{k}: {v}" for k, v in sorted(facts.qualification.items())))
        return " ".join(parts)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ---- the transcript --------------------------------------------------------------------------------

    def _add_item(self, item_id: Any, speaker: str, text: str) -> None:
        if isinstance(item_id, str) and item_id not in self.items:
            self.items[item_id] = _Item(len(self.items), speaker, round(time.monotonic() - self.started, 2), text)

    def _set_text(self, item_id: Any, speaker: str, text: Any) -> None:
        if not isinstance(item_id, str) or not isinstance(text, str):
            return
        self._add_item(item_id, speaker, "")
        self.items[item_id].text = text

    def transcript(self) -> tuple[Turn, ...]:
        turns = []
        for item in sorted(self.items.values(), key=lambda i: i.order):
            text = item.text.strip()
            if item.played is not None and item.received > 0:
                # Cut to the share the caller heard (interrupted): whole words, by audio length.
                words = text.split()
                text = " ".join(words[: round(len(words) * min(1.0, item.played / item.received))])
            if text:
                turns.append(Turn(item.speaker, text, item.at_s))
        return tuple(turns)

    def transcript_pairs(self) -> list[tuple[str, str]]:
        return [(t.speaker, t.text) for t in self.transcript()]

    # ---- the end -----------------------------------------------------------------------------------------

    async def _end(self) -> None:
        self.closing = True
        for task in (self.open_task, self.model_task, self.act_task):
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
        link, self.link = self.link, None
        if link is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.close(), 2)
        if not self.ws.closed:
            await self.ws.close(code=WSCloseCode.OK, message=b"stream ended")
        if self.call_sid and self.bridge.sessions.get(self.call_sid) is self:
            del self.bridge.sessions[self.call_sid]
        if self.call_sid and not self.reported:
            self.reported = True
            await self._report()

    def report(self) -> RealtimeCallReport:
        facts = self.toolbox.facts if self.toolbox is not None else None
        ctx = self.ctx
        return RealtimeCallReport(
            call_id=self.call_sid,
            stream_sid=self.stream_sid,
            ended_by=self.ended_by,
            usage=self.usage.usage(self.call_sid),
            responses=self.usage.responses,
            transcript=self.transcript(),
            classification=facts.classification if facts is not None else None,
            appointment_id=facts.appointment_id if facts is not None else None,
            transferred=self.transferred,
            reconnects=self.reconnects,
            duration_s=round(time.monotonic() - self.started, 2),
            lead_id=ctx.callee.lead_id if ctx is not None else None,
            chain_id=ctx.chain_id if ctx is not None else None,
            idempotency_key=self.metadata().get("idempotency_key"),
            metadata=dict(self.parameters),
        )

    async def _report(self) -> None:
        report = self.report()
        log.info(
            "twilio stream %s of call %s ended (%s): %d responses, audio tokens in %d out %d, %d reconnects",
            self.stream_sid,
            self.call_sid,
            report.ended_by,
            report.responses,
            report.usage.audio_tokens_in,
            report.usage.audio_tokens_out,
            report.reconnects,
        )
        if self.deps.store is not None:
            runner = getattr(self.bridge.tools_factory, "runner", None)
            try:
                if runner is not None:
                    company = self.ctx.company_id if self.ctx is not None else None
                    await runner.call("store_realtime_call", self.deps.store, report, company_id=company)
                else:
                    await asyncio.to_thread(self.deps.store, report)
            except Exception as e:  # noqa: BLE001 - the provider's webhooks still end the call
                log.warning("twilio call %s: record not stored (%s)", self.call_sid, type(e).__name__)
        if self.deps.on_end is not None:
            try:
                await self.deps.on_end(report)
            except Exception as e:  # noqa: BLE001 - the hook's failure is the hook's
                log.warning("twilio call %s: end-of-call hook failed (%s)", self.call_sid, type(e).__name__)

    # ---- pushed by the bridge (LiveSession) --------------------------------------------------------------

    async def interrupt(self, text: str, *, no_interruption_allowed: bool = False) -> bool:
        """Have the agent say `text` now (e.g. a slow tool's late answer)."""
        if self.link is None:
            return False
        await self._to_model(user_text_item(f"[system: tell the caller now: {text}]"))
        self.want_response = True
        await self._maybe_respond()
        return True

    async def finish(self, grace_s: float, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> None:
        """Shutdown: let the audio being played finish (up to grace_s), then close the stream."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.drained.wait(), grace_s)
        self.ended_by = "shutdown"
        await self.ws.close(code=code, message=message)
