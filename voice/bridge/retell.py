"""One Retell Custom LLM WebSocket session (docs/providers.md §1.8, docs/voice-bridge.md §V1/§V3/§V7/§V8).

The bridge speaks first: ``config`` (auto_reconnect, call_details, transcript_with_tool_calls), then the
begin message (response_id 0) once the callee is known (call_details, or the CRM by call id). After a
reconnect, recognised by call_details saying "ongoing" or by a transcript that already exists, the begin
message is empty: the call goes on instead of starting again. ``ping_pong`` is echoed, ``update_only``
only tracked, and every ``response_required`` / ``reminder_required`` runs one turn of the policy as a
task whose chunks are streamed with its response_id. A newer response_id cancels the running turn at
once; a chunk is sent only while its id is the current one, so nothing with an old id follows a newer
request (V1). Nothing here outlives the socket: every turn is rebuilt from its transcript and the CRM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import time
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from voice.bridge.core import Bridge
from voice.bridge.crm_tools import CallContext
from voice.bridge.dialog import phrases
from voice.bridge.dialog.types import Speech, ToolRecord, Turn, TurnDone, TurnKind, TurnRequest
from voice.bridge.retell_frames import ConfigFrame, Frame, ResponseFrame, TurnFrame

log = logging.getLogger(__name__)

PROVIDER = "retell"
CONFIG: ConfigFrame = {
    "response_type": "config",
    "config": {"auto_reconnect": True, "call_details": True, "transcript_with_tool_calls": True},
}
# Spoken when the policy itself fails, so the caller does not sit in silence.
TURN_KINDS = {"response_required": TurnKind.RESPONSE, "reminder_required": TurnKind.REMINDER}


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def transcript_of(items: Any) -> tuple[Turn, ...]:
    """Retell's transcript ([{role: agent|user, content, words}]) as the policy's turns."""
    turns = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("role") in ("agent", "user") and isinstance(item.get("content"), str):
            turns.append(Turn(item["role"], item["content"]))
    return tuple(turns)


class RetellSession:
    def __init__(self, bridge: Bridge, ws: web.WebSocketResponse, call_id: str) -> None:
        self.bridge = bridge
        self.ws = ws
        self.call_id = call_id
        self.latest_id = -1  # the highest response_id Retell asked for
        self.current_id: int | None = None  # the id chunks may be sent for now (None: none)
        self.turn_task: asyncio.Task[None] | None = None
        self.begin_task: asyncio.Task[None] | None = None
        self.transcript: tuple[Turn, ...] = ()
        self.call_details: dict[str, Any] | None = None
        self.reconnect = False
        self._informed = asyncio.Event()  # call_details or a transcript arrived
        self._context: asyncio.Future[CallContext] | None = None
        self._interrupt_id = 0
        self.turn_times: list[float] = []
        self.ended = False

    # ---- the socket ------------------------------------------------------------------------------

    async def run(self) -> None:
        await self._send(CONFIG)
        self.begin_task = asyncio.create_task(self._begin())
        try:
            async for msg in self.ws:
                received = time.perf_counter()
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(msg.data, received)
                elif msg.type == WSMsgType.BINARY:
                    # Retell itself closes with 1007 on binary; we answer its (impossible) binary the same way.
                    log.warning("retell call %s: binary frame, closing 1007", self.call_id)
                    await self.ws.close(code=WSCloseCode.INVALID_TEXT, message=b"binary frames are not accepted")
                    break
                elif msg.type == WSMsgType.ERROR:
                    log.info("retell call %s: socket error %s", self.call_id, type(self.ws.exception()).__name__)
                    break
        finally:
            self.ended = True
            for task in (self.begin_task, self.turn_task):
                if task is not None and not task.done():
                    task.cancel()
            self._log_summary()

    async def _on_text(self, data: str, received: float) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("retell call %s: a frame that is not JSON, ignored", self.call_id)
            return
        if not isinstance(message, dict):
            return
        kind = message.get("interaction_type")
        if kind == "ping_pong":
            await self._send({"response_type": "ping_pong", "timestamp": message.get("timestamp")})
        elif kind == "call_details":
            call = message.get("call")
            self.call_details = call if isinstance(call, dict) else {}
            if self.call_details.get("call_status") == "ongoing":
                self.reconnect = True
            self._informed.set()
        elif kind == "update_only":
            self._track(message)
        elif kind in TURN_KINDS:
            self._track(message)
            try:
                response_id = int(message["response_id"])
            except (KeyError, TypeError, ValueError):
                log.warning("retell call %s: %s without a response_id, ignored", self.call_id, kind)
                return
            self._start_turn(response_id, TURN_KINDS[kind], self.transcript, received)

    def _track(self, message: dict[str, Any]) -> None:
        if "transcript" in message:
            self.transcript = transcript_of(message.get("transcript"))
            if self.transcript and self.latest_id < 0:
                # A conversation exists before we said anything: Retell reconnected to us.
                self.reconnect = True
            self._informed.set()

    async def _send(self, payload: Frame) -> bool:
        if self.ws.closed:
            return False
        try:
            await self.ws.send_str(dumps(payload))
        except (ConnectionError, RuntimeError):
            return False
        return True

    # ---- turns -------------------------------------------------------------------------------------

    async def context(self) -> CallContext:
        """The callee from the CRM (once per connection: a reconnect looks it up again)."""
        if self._context is None:
            metadata = dict((self.call_details or {}).get("metadata") or {})
            self._context = asyncio.ensure_future(self.bridge.tools_factory.context(self.call_id, PROVIDER, metadata))
        return await asyncio.shield(self._context)

    async def _begin(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._informed.wait(), self.bridge.config.call_details_wait_s)
        await self.context()
        if self.latest_id >= 0:
            return  # Retell already asked for a response: the begin message would be stale
        if self.reconnect:
            self.latest_id = self.current_id = 0
            log.info("retell call %s: reconnected, continuing the conversation", self.call_id)
            await self._send({"response_type": "response", "response_id": 0, "content": "", "content_complete": True})
            return
        self._start_turn(0, TurnKind.BEGIN, self.transcript, None)

    def _start_turn(
        self, response_id: int, kind: TurnKind, transcript: tuple[Turn, ...], received: float | None
    ) -> None:
        if response_id < self.latest_id:
            log.info("retell call %s: request %s is older than %s, ignored", self.call_id, response_id, self.latest_id)
            return
        if self.turn_task is not None and not self.turn_task.done():
            self.turn_task.cancel()
            self.bridge.metrics.superseded.labels(PROVIDER).inc()
        self.latest_id = self.current_id = response_id
        self.turn_task = asyncio.create_task(self._turn(response_id, kind, transcript, received))

    async def _turn(
        self, response_id: int, kind: TurnKind, transcript: tuple[Turn, ...], received: float | None
    ) -> None:
        first = [True]

        async def emit(payload: TurnFrame) -> None:
            if self.current_id != response_id:
                # Superseded (or interrupted): stop this turn right here.
                raise asyncio.CancelledError
            await self._send(payload)
            # The turn's time ends at its first "response" frame (what Retell starts speaking), not at a
            # tool-call record.
            if first[0] and payload["response_type"] == "response":
                first[0] = False
                if received is not None:
                    self._observe(time.perf_counter() - received)

        async def speak(text: str) -> None:
            await emit(
                {"response_type": "response", "response_id": response_id, "content": text, "content_complete": False}
            )

        ctx = await self.context()
        now = self.bridge.now()
        request = TurnRequest(
            call_id=self.call_id,
            provider=PROVIDER,
            kind=kind,
            transcript=transcript,
            callee=ctx.callee,
            now=now,
            company_name=self.bridge.config.company_name,
            transfer_number=self.bridge.config.transfer_number,
            callback_number=self.bridge.config.callback_number or (self.call_details or {}).get("from_number"),
            inbound=ctx.inbound,
        )
        tools = self.bridge.tools_factory.tools(ctx, speak=speak, now=now)
        final: ResponseFrame = {
            "response_type": "response",
            "response_id": response_id,
            "content": "",
            "content_complete": True,
        }
        try:
            async with contextlib.aclosing(self.bridge.policy.respond(request, tools)) as events:
                async for event in events:
                    if isinstance(event, Speech):
                        if event.text:
                            await speak(event.text)
                    elif isinstance(event, ToolRecord):
                        await emit(
                            {
                                "response_type": "tool_call_invocation",
                                "tool_call_id": event.tool_call_id,
                                "name": event.name,
                                "arguments": dumps(event.arguments),
                            }
                        )
                        await emit(
                            {
                                "response_type": "tool_call_result",
                                "tool_call_id": event.tool_call_id,
                                "content": event.result,
                                "successful": event.successful,
                            }
                        )
                    elif isinstance(event, TurnDone):
                        result = event.result
                        if result.end_call:
                            final["end_call"] = True
                        if result.transfer_number:
                            final["transfer_number"] = result.transfer_number
                        self.bridge.log_result(self.call_id, PROVIDER, response_id, result)
                        break
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a failing policy must not leave the caller in silence
            log.exception("retell call %s: the policy failed on response %s", self.call_id, response_id)
            final["content"] = phrases.say("apology", phrases.lang(ctx.callee.language))
        await emit(final)

    def _observe(self, seconds: float) -> None:
        self.turn_times.append(seconds)
        self.bridge.metrics.turn_seconds.labels(PROVIDER).observe(seconds)

    # ---- pushed by the bridge ------------------------------------------------------------------------

    async def interrupt(self, text: str, *, no_interruption_allowed: bool = False) -> bool:
        """Speak `text` now as an agent_interrupt (e.g. a slow tool finished). Retell cancels the response
        in flight; so do we. Interrupt ids rise with the clock, so they stay new across reconnects."""
        if self.ws.closed:
            return False
        if self.turn_task is not None and not self.turn_task.done():
            self.turn_task.cancel()
        self.current_id = None
        self._interrupt_id = max(self._interrupt_id + 1, int(time.time() * 1000))
        return await self._send(
            {
                "response_type": "agent_interrupt",
                "interrupt_id": self._interrupt_id,
                "content": text,
                "content_complete": True,
                "no_interruption_allowed": no_interruption_allowed,
            }
        )

    async def finish(self, grace_s: float, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> None:
        """Let a running turn finish (up to grace_s), then close; Retell reconnects elsewhere on 1001."""
        if self.turn_task is not None and not self.turn_task.done():
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self.turn_task), grace_s)
        await self.ws.close(code=code, message=message)

    def _log_summary(self) -> None:
        times = sorted(t * 1000 for t in self.turn_times)
        if times:
            log.info(
                "retell call %s ended: %d turns, bridge time per turn p50 %.2f ms, max %.2f ms",
                self.call_id,
                len(times),
                statistics.median(times),
                times[-1],
            )
        else:
            log.info("retell call %s ended: no turns", self.call_id)
