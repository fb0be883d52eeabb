"""One connection to the OpenAI Realtime stand-in (sandbox.openai_realtime): the GA client events in, the
server events out (GA names, docs/providers.md §5.2).

The model it plays follows the call's script (sandbox.call_scripts): its first response without a user
turn is the script's greeting; each utterance the server VAD cuts from the appended audio is heard as the
scripted callee turn whose exact audio it holds (else the next turn), transcribed when the session asks for
input transcription, and answered with that turn's tool calls (one response each, the next after the
client's `function_call_output` and `response.create`) and then its reply. Errors are the API's: a second
`response.create` while one runs, a cancel with none running, a truncate past the audio sent or of an item
that is not assistant audio, a commit of less than 100 ms, an unknown event type."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from sandbox import speech
from sandbox.call_scripts import CallScript, ScriptBook, ToolCall
from sandbox.realtime_config import SessionError, apply_update, default_session
from sandbox.realtime_responses import Call, Pace, Plan, Response, Speech
from sandbox.realtime_vad import ServerVad, VadEvent, to_pcm8k

FALLBACK = {
    "de": "Entschuldigung, könnten Sie das wiederholen?",
    "en": "Sorry, could you say that again?",
    "fr": "Pardon, pourriez-vous répéter?",
}
_ITEM_TYPES = ("message", "function_call", "function_call_output")
# A script's tool under the names a session may offer it by (the first one offered is called).
SYNONYMS = {"do_not_contact": ("do_not_contact", "record_opt_out")}


class ServerPort(Protocol):
    """What a session needs from its server (sandbox.openai_realtime.RealtimeServer)."""

    @property
    def scripts(self) -> ScriptBook | None: ...

    @property
    def pace(self) -> Pace: ...

    def new_id(self, prefix: str) -> str: ...

    def record_delay(self, session_id: str, response_id: str, ms: float) -> None: ...

    def drop_now(self, session_id: str) -> bool: ...


class RealtimeSession:
    def __init__(self, ws: ServerConnection, server: ServerPort, model: str, hints: str) -> None:
        self.ws, self.server, self.hints = ws, server, hints
        self.id = server.new_id("sess")
        self.config = default_session(self.id, model)
        self.events: list[dict[str, Any]] = []  # every server event sent (audio deltas without their audio)
        self.received: list[str] = []  # the types of the client events
        self.items: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.audio_ms: dict[str, int] = {}  # assistant audio sent per item
        self.buffer = bytearray()
        self.buffer_start_ms = 0  # session audio ms of buffer[0]
        self.user_audio_ms = 0
        self.vad: ServerVad | None = ServerVad(self.config["audio"]["input"]["turn_detection"])
        self.speech: tuple[str, int] | None = None  # (item id, audio_start_ms) while the user talks
        self.response: Response | None = None
        self.response_task: asyncio.Task[None] | None = None
        self.script: tuple[str, CallScript] | None = None
        self.turn: int | None = None
        self.tools_done = 0
        self.replied = False

    # -- plumbing ----------------------------------------------------------------------------------------

    @property
    def language(self) -> str:
        if self.script is not None:
            return self.script[1].language
        transcription = self.config["audio"]["input"].get("transcription") or {}
        return str(transcription.get("language") or "en")[:2]

    @property
    def pace(self) -> Pace:
        return self.server.pace

    @property
    def input_format(self) -> str:
        return str(self.config["audio"]["input"]["format"]["type"])

    @property
    def output_format(self) -> str:
        return str(self.config["audio"]["output"]["format"]["type"])

    def new_id(self, prefix: str) -> str:
        return self.server.new_id(prefix)

    async def send(self, event: dict[str, Any]) -> None:
        event = {"event_id": self.new_id("event"), **event}
        if event["type"] == "response.output_audio.delta":
            if self.server.drop_now(self.id):
                self.ws.transport.abort()  # the fault hook: the line dies mid-answer
                raise ConnectionClosed(None, None)
            self.events.append({**event, "delta": len(event["delta"])})
        else:
            self.events.append(event)
        await self.ws.send(json.dumps(event))

    async def error(self, code: str, message: str, param: str | None, client_event_id: Any) -> None:
        body = {"type": "invalid_request_error", "code": code, "message": message, "param": param}
        await self.send({"type": "error", "error": {**body, "event_id": client_event_id}})

    def add_item(self, item: dict[str, Any]) -> str | None:
        previous = self.order[-1] if self.order else None
        self.items[item["id"]] = item
        self.order.append(item["id"])
        return previous

    def add_audio(self, item_id: str, ms: int) -> None:
        self.audio_ms[item_id] = self.audio_ms.get(item_id, 0) + ms

    def usage_base(self) -> tuple[int, int]:
        text = len(str(self.config.get("instructions") or "")) // 4 + 20 * len(self.config.get("tools") or [])
        return self.user_audio_ms // 100 + sum(self.audio_ms.values()) // 50, max(1, text)

    def record_delay(self, response_id: str, ms: float) -> None:
        self.server.record_delay(self.id, response_id, ms)

    # -- the connection ----------------------------------------------------------------------------------

    async def serve(self) -> None:
        try:
            await self.send({"type": "session.created", "session": self.config})
            async for raw in self.ws:
                await self.handle(raw, time.monotonic())
        except ConnectionClosed:
            pass
        finally:
            if self.response_task is not None:
                self.response_task.cancel()
            if self.server.scripts is not None:
                self.server.scripts.unclaim(self.id)

    async def handle(self, raw: str | bytes, at: float) -> None:
        try:
            event = json.loads(raw)
            if not isinstance(event, dict):
                raise ValueError("not an object")
        except ValueError:
            await self.error("invalid_json", "The server could not parse the event as JSON.", None, None)
            return
        kind = str(event.get("type"))
        self.received.append(kind)
        handler = _HANDLERS.get(kind)
        if handler is None:
            supported = ", ".join(f"'{name}'" for name in _HANDLERS)
            await self.error(
                "invalid_value",
                f"Invalid value: '{kind}'. Supported values are: {supported}.",
                "type",
                event.get("event_id"),
            )
            return
        await handler(self, event, at)

    async def on_session_update(self, event: dict[str, Any], at: float) -> None:
        try:
            config = apply_update(self.config, event.get("session"), voiced=bool(self.audio_ms))
        except SessionError as exc:
            await self.error(exc.code, exc.message, exc.param, event.get("event_id"))
            return
        before = self.config["audio"]["input"]["turn_detection"]
        self.config = config
        after = config["audio"]["input"]["turn_detection"]
        if after != before:
            self.vad = ServerVad(after) if after and after.get("type") else None
            self.speech = None
        await self.send({"type": "session.updated", "session": self.config})

    # -- input audio -------------------------------------------------------------------------------------

    async def on_append(self, event: dict[str, Any], at: float) -> None:
        try:
            audio = base64.b64decode(str(event.get("audio", "")), validate=True)
        except (binascii.Error, ValueError):
            await self.error("invalid_value", "Invalid 'audio': not base64.", "audio", event.get("event_id"))
            return
        self.buffer += audio
        if self.vad is None:
            return
        for vad_event in self.vad.feed(to_pcm8k(audio, self.input_format)):
            await self.on_vad(vad_event, at)

    async def on_vad(self, vad_event: VadEvent, at: float) -> None:
        detection = self.config["audio"]["input"]["turn_detection"] or {}
        if vad_event.kind == "started":
            item_id = self.new_id("item")
            self.speech = (item_id, vad_event.ms)
            await self.send(
                {"type": "input_audio_buffer.speech_started", "audio_start_ms": vad_event.ms, "item_id": item_id}
            )
            if self.response is not None and detection.get("interrupt_response", True):
                await self.cancel_response("turn_detected")
            return
        if self.speech is None:
            return
        item_id, start_ms = self.speech
        self.speech = None
        await self.send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": vad_event.ms, "item_id": item_id})
        segment = self.take_buffer(start_ms, vad_event.ms)
        await self.commit(item_id, segment)
        if detection.get("create_response", True) and self.response is None:
            self.start_response(at)

    def take_buffer(self, start_ms: int, end_ms: int) -> bytes:
        """The audio between the two session times; the buffer then starts at end_ms."""
        per_ms = speech.bytes_per_ms(self.input_format)
        begin = max(0, (start_ms - self.buffer_start_ms) * per_ms)
        end = max(begin, (end_ms - self.buffer_start_ms) * per_ms)
        segment = bytes(self.buffer[begin:end])
        del self.buffer[:end]
        self.buffer_start_ms = end_ms
        return segment

    async def commit(self, item_id: str, segment: bytes) -> None:
        self.user_audio_ms += len(segment) // speech.bytes_per_ms(self.input_format)
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message", "role": "user"}
        item["status"] = "completed"
        item["content"] = [{"type": "input_audio", "transcript": None}]
        previous = self.add_item(item)
        await self.send({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item_id})
        await self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        await self.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})
        transcript = self.hear(segment)
        if self.config["audio"]["input"].get("transcription"):
            seconds = round(len(segment) / speech.bytes_per_ms(self.input_format) / 1000, 3)
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": transcript,
                    "usage": {"type": "duration", "seconds": seconds},
                }
            )

    async def on_commit(self, event: dict[str, Any], at: float) -> None:
        ms = len(self.buffer) // speech.bytes_per_ms(self.input_format)
        if ms < 100:
            message = (
                "Error committing input audio buffer: buffer too small. "
                f"Expected at least 100ms of audio, but buffer only has {ms:.2f}ms of audio."
            )
            await self.error("input_audio_buffer_commit_empty", message, None, event.get("event_id"))
            return
        await self.commit(self.new_id("item"), self.take_buffer(self.buffer_start_ms, self.buffer_start_ms + ms))

    async def on_clear(self, event: dict[str, Any], at: float) -> None:
        self.buffer_start_ms += len(self.buffer) // speech.bytes_per_ms(self.input_format)
        self.buffer.clear()
        await self.send({"type": "input_audio_buffer.cleared"})

    # -- the script --------------------------------------------------------------------------------------

    def claim(self) -> tuple[str, CallScript] | None:
        if self.script is None and self.server.scripts is not None:
            self.script = self.server.scripts.claim(self.id, self.hints + json.dumps(self.config))
        return self.script

    def hear(self, segment: bytes) -> str:
        """The scripted turn this utterance is (its text), and the session's place in the script."""
        book = self.server.scripts
        if book is None:
            return ""
        matched = book.hear(self.id, segment) if self.input_format == speech.PCMU else None
        if matched is not None:
            call_sid, script, index = matched
            self.script = (call_sid, script)
        else:
            claimed = self.claim()
            if claimed is None:
                return ""
            call_sid, script = claimed
            index = book.progress(call_sid)[1]
        if index >= len(script.turns):
            return ""
        self.turn, self.tools_done, self.replied = index, 0, False
        book.advance(call_sid, next_turn=index + 1)
        return script.turns[index].text

    def plan(self) -> Plan:
        fallback = Speech(FALLBACK.get(self.language, FALLBACK["en"]))
        claimed = self.claim()
        if claimed is None or self.server.scripts is None:
            return fallback
        call_sid, script = claimed
        if self.turn is None:
            if script.greeting and not self.server.scripts.progress(call_sid)[0]:
                self.server.scripts.advance(call_sid, greeted=True)
                return Speech(script.greeting)
            return fallback
        turn = script.turns[self.turn]
        offered = {tool.get("name") for tool in self.config.get("tools") or []}
        while self.tools_done < len(turn.tools):
            tool = turn.tools[self.tools_done]
            self.tools_done += 1
            name = next((n for n in SYNONYMS.get(tool.name, (tool.name,)) if n in offered), None)
            if name is not None:
                return Call(ToolCall(name, tool.arguments))
        if turn.reply and not self.replied:
            self.replied = True
            return Speech(turn.reply)
        return fallback

    # -- responses ---------------------------------------------------------------------------------------

    def start_response(self, at: float) -> None:
        self.response = Response(self, self.plan(), at)
        self.response_task = asyncio.create_task(self._run_response(self.response))

    async def _run_response(self, response: Response) -> None:
        try:
            await response.run()
        except ConnectionClosed:
            pass
        finally:
            if self.response is response:
                self.response = None

    async def cancel_response(self, reason: str) -> None:
        if self.response is None or self.response_task is None:
            return
        self.response.cancel(reason)
        await asyncio.shield(self.response_task)

    async def on_response_create(self, event: dict[str, Any], at: float) -> None:
        if self.response is not None:
            message = (
                f"Conversation already has an active response in progress: {self.response.id}. "
                "Wait until the response is finished before creating a new one."
            )
            await self.error("conversation_already_has_active_response", message, None, event.get("event_id"))
            return
        self.start_response(at)

    async def on_response_cancel(self, event: dict[str, Any], at: float) -> None:
        if self.response is None:
            message = "Cancellation failed: no active response found"
            await self.error("response_cancel_not_active", message, None, event.get("event_id"))
            return
        await self.cancel_response("client_cancelled")

    # -- conversation items ------------------------------------------------------------------------------

    async def on_item_create(self, event: dict[str, Any], at: float) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") not in _ITEM_TYPES:
            kind = item.get("type") if isinstance(item, dict) else item
            supported = "'message', 'function_call', and 'function_call_output'"
            message = f"Invalid value: '{kind}'. Supported values are: {supported}."
            await self.error("invalid_value", message, "item.type", event.get("event_id"))
            return
        if item["type"] == "function_call_output" and not isinstance(item.get("output"), str):
            await self.error(
                "missing_required_parameter",
                "Missing required parameter: 'item.output'.",
                "item.output",
                event.get("event_id"),
            )
            return
        item = {**item, "id": item.get("id") or self.new_id("item"), "object": "realtime.item", "status": "completed"}
        previous = self.add_item(item)
        await self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        await self.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    async def on_item_truncate(self, event: dict[str, Any], at: float) -> None:
        item_id, end_ms = str(event.get("item_id")), event.get("audio_end_ms")
        item = self.items.get(item_id)
        if item is None or item.get("role") != "assistant" or item_id not in self.audio_ms:
            message = "Only model output audio messages can be truncated"
            await self.error("unsupported_content_type", message, None, event.get("event_id"))
            return
        if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
            await self.error("invalid_value", "Invalid 'audio_end_ms'.", "audio_end_ms", event.get("event_id"))
            return
        if end_ms > self.audio_ms[item_id]:
            message = f"Audio content of {self.audio_ms[item_id]}ms is already shorter than {end_ms}ms"
            await self.error("invalid_value", message, "audio_end_ms", event.get("event_id"))
            return
        self.audio_ms[item_id] = end_ms
        truncated = {"item_id": item_id, "content_index": int(event.get("content_index") or 0), "audio_end_ms": end_ms}
        await self.send({"type": "conversation.item.truncated", **truncated})

    async def on_item_delete(self, event: dict[str, Any], at: float) -> None:
        item_id = str(event.get("item_id"))
        if self.items.pop(item_id, None) is None:
            message = f"Error deleting item: the item with id '{item_id}' does not exist."
            await self.error("item_delete_invalid_item_id", message, "item_id", event.get("event_id"))
            return
        self.order.remove(item_id)
        await self.send({"type": "conversation.item.deleted", "item_id": item_id})


_HANDLERS = {
    "session.update": RealtimeSession.on_session_update,
    "input_audio_buffer.append": RealtimeSession.on_append,
    "input_audio_buffer.commit": RealtimeSession.on_commit,
    "input_audio_buffer.clear": RealtimeSession.on_clear,
    "conversation.item.create": RealtimeSession.on_item_create,
    "conversation.item.truncate": RealtimeSession.on_item_truncate,
    "conversation.item.delete": RealtimeSession.on_item_delete,
    "response.create": RealtimeSession.on_response_create,
    "response.cancel": RealtimeSession.on_response_cancel,
}
