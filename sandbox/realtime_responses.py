"""One response of the Realtime stand-in (GA event names, docs/providers.md §5.2): `response.created`, then
either a function call (`response.output_item.added`, `response.function_call_arguments.delta`/`.done`,
`response.output_item.done`) or speech (`response.output_item.added`, `response.content_part.added`,
`response.output_audio_transcript.delta` and `response.output_audio.delta` in chunks of real espeak-ng
audio, their `.done` events), then `response.done` with `usage` counted as the API bills (user audio 1 token
per 100 ms, assistant audio 1 per 50 ms, the conversation so far as input each time).

A cancel (`response.cancel`, or the VAD hearing the user start) stops the deltas before the next one is sent:
the item ends `incomplete` and `response.done` says `cancelled` with its reason. The first delta's delay
after what triggered the response (speech stopped, `response.create`) is the stand-in's own processing
time, kept so benchmarks can subtract it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox import speech
from sandbox.call_scripts import ToolCall


@dataclass(frozen=True)
class Speech:
    text: str


@dataclass(frozen=True)
class Call:
    tool: ToolCall


Plan = Speech | Call


@dataclass(frozen=True)
class Pace:
    chunk_ms: int = 100  # audio per response.output_audio.delta
    speed: float = 2.0  # audio is streamed this many times faster than it plays (0: as fast as possible)
    think_ms: int = 0  # a model's time to first token, added before the first delta


class SessionPort(Protocol):
    """What a response needs from its session (sandbox.realtime_session)."""

    @property
    def language(self) -> str: ...

    @property
    def output_format(self) -> str: ...

    @property
    def pace(self) -> Pace: ...

    async def send(self, event: dict[str, Any]) -> None: ...

    def new_id(self, prefix: str) -> str: ...

    def add_item(self, item: dict[str, Any]) -> str | None: ...

    def add_audio(self, item_id: str, size: int) -> None: ...

    def usage_base(self) -> tuple[int, int]: ...

    def record_delay(self, response_id: str, ms: float) -> None: ...


class Response:
    def __init__(self, session: SessionPort, plan: Plan, triggered_at: float) -> None:
        self.session = session
        self.plan = plan
        self.id = session.new_id("resp")
        self.triggered_at = triggered_at
        self.status = "in_progress"
        self.reason: str | None = None
        self.output: list[dict[str, Any]] = []
        self.audio_ms = 0
        self.text = ""
        self.first_delta_at: float | None = None
        self._stopped = asyncio.Event()
        self._base = (0, 0)

    def cancel(self, reason: str) -> None:
        if self.status == "in_progress":
            self.status, self.reason = "cancelled", reason
            self._stopped.set()

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once on a cancel."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), max(0.0, seconds))

    def body(self) -> dict[str, Any]:
        out_format: dict[str, Any] = {"type": self.session.output_format}
        if out_format["type"] == speech.PCM24K:
            out_format["rate"] = 24000
        body: dict[str, Any] = {
            "object": "realtime.response",
            "id": self.id,
            "status": self.status,
            "status_details": None,
            "output": self.output,
            "conversation_id": "conv_sandbox",
            "output_modalities": ["audio"],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": out_format, "voice": "alloy"}},
            "usage": None,
            "metadata": None,
        }
        if self.status == "cancelled":
            body["status_details"] = {"type": "cancelled", "reason": self.reason}
        return body

    async def _delta_sent(self) -> None:
        if self.first_delta_at is None:
            self.first_delta_at = time.monotonic()
            self.session.record_delay(self.id, (self.first_delta_at - self.triggered_at) * 1000)

    async def run(self) -> None:
        self._base = self.session.usage_base()  # the conversation before this response is its input
        await self.session.send({"type": "response.created", "response": self.body()})
        if self.session.pace.think_ms:
            await self._pause(self.session.pace.think_ms / 1000)
        if isinstance(self.plan, Call):
            await self._call(self.plan.tool)
        else:
            await self._speak(self.plan.text)
        if self.status == "in_progress":
            self.status = "completed"
        body = self.body()
        body["usage"] = self._usage()
        await self.session.send({"type": "response.done", "response": body})

    async def _item(self, item: dict[str, Any]) -> dict[str, Any]:
        self.output.append(item)
        previous = self.session.add_item(item)
        base = {"response_id": self.id, "output_index": len(self.output) - 1}
        await self.session.send({"type": "response.output_item.added", **base, "item": dict(item)})
        await self.session.send({"type": "conversation.item.added", "previous_item_id": previous, "item": dict(item)})
        return base

    async def _item_done(self, item: dict[str, Any], base: dict[str, Any]) -> None:
        item["status"] = "incomplete" if self.status == "cancelled" else "completed"
        await self.session.send({"type": "response.output_item.done", **base, "item": dict(item)})
        await self.session.send({"type": "conversation.item.done", "item": dict(item)})

    async def _call(self, tool: ToolCall) -> None:
        item_id, call_id = self.session.new_id("item"), self.session.new_id("call")
        item = {"id": item_id, "object": "realtime.item", "type": "function_call", "status": "in_progress"}
        item.update({"name": tool.name, "call_id": call_id, "arguments": ""})
        base = await self._item(item)
        arguments = json.dumps(tool.arguments)
        ids = {**base, "item_id": item_id, "call_id": call_id}
        for start in range(0, len(arguments), 24):
            if self.status != "in_progress":
                break
            await self.session.send(
                {"type": "response.function_call_arguments.delta", **ids, "delta": arguments[start : start + 24]}
            )
            await self._delta_sent()
        if self.status == "in_progress":
            item["arguments"] = self.text = arguments
            await self.session.send(
                {"type": "response.function_call_arguments.done", **ids, "name": tool.name, "arguments": arguments}
            )
        await self._item_done(item, base)

    async def _speak(self, text: str) -> None:
        item_id = self.session.new_id("item")
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message", "status": "in_progress"}
        item.update({"role": "assistant", "content": []})
        base = await self._item(item)
        ids = {**base, "item_id": item_id, "content_index": 0}
        await self.session.send(
            {"type": "response.content_part.added", **ids, "part": {"type": "audio", "transcript": ""}}
        )
        fmt = self.session.output_format
        audio = await asyncio.to_thread(speech.speak, text, self.session.language, fmt)
        await self._stream(audio, text.split(" "), ids)
        part = {"type": "audio", "transcript": self.text}
        await self.session.send({"type": "response.output_audio.done", **ids})
        await self.session.send({"type": "response.output_audio_transcript.done", **ids, "transcript": self.text})
        await self.session.send({"type": "response.content_part.done", **ids, "part": part})
        item["content"] = [{"type": "output_audio", "transcript": self.text}]
        await self._item_done(item, base)

    async def _stream(self, audio: bytes, words: list[str], ids: dict[str, Any]) -> None:
        pace, per_ms = self.session.pace, speech.bytes_per_ms(self.session.output_format)
        size = pace.chunk_ms * per_ms
        chunks = [audio[i : i + size] for i in range(0, len(audio), size)] or [b""]
        loop = asyncio.get_running_loop()
        start = loop.time()
        said = 0
        for n, chunk in enumerate(chunks):
            if self.status != "in_progress":
                return
            upto = round(len(words) * (n + 1) / len(chunks))
            if upto > said:
                delta = (" " if said else "") + " ".join(words[said:upto])
                said, self.text = upto, self.text + delta
                await self.session.send({"type": "response.output_audio_transcript.delta", **ids, "delta": delta})
            delta_b64 = base64.b64encode(chunk).decode()
            await self.session.send({"type": "response.output_audio.delta", **ids, "delta": delta_b64})
            await self._delta_sent()
            self.audio_ms += len(chunk) // per_ms
            self.session.add_audio(ids["item_id"], len(chunk) // per_ms)
            if pace.speed > 0:
                await self._pause(start + (n + 1) * pace.chunk_ms / 1000 / pace.speed - loop.time())

    def _usage(self) -> dict[str, Any]:
        input_audio, input_text = self._base
        output_audio, output_text = self.audio_ms // 50, max(1, len(self.text) // 4)
        return {
            "total_tokens": input_audio + input_text + output_audio + output_text,
            "input_tokens": input_audio + input_text,
            "output_tokens": output_audio + output_text,
            "input_token_details": {
                "text_tokens": input_text,
                "audio_tokens": input_audio,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
        }
