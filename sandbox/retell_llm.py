"""The sandbox as Retell's side of the Custom LLM WebSocket (docs/providers.md §1.8): it connects to
`{llm_websocket_url}/{call_id}`, reads the server's config and sends `call_details` at once when asked for,
waits for the begin message, then speaks the persona's lines one turn at a time (update_only, then
response_required with a rising response_id) and collects the agent's streamed answers until
content_complete; it stops at end_call. With auto_reconnect it sends ping_pong every 2 s and expects
answers (no answer for 5 s: reconnect, at most twice, as Retell does). tool_call_invocation /
tool_call_result frames are recorded into the transcript with tool calls. For tests, `drop_after` drops
the line once in the middle of that turn's answer and reconnects with the same call id. The voice bridge
is tested against exactly this."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

log = logging.getLogger(__name__)

PING_INTERVAL_S = 2.0
PING_SILENCE_S = 5.0
MAX_RECONNECTS = 2


class LlmSessionError(RuntimeError):
    pass


class _LineDropped(Exception):
    """The socket went away (or stayed silent past the keepalive limit): reconnect."""


def _turns(transcript: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"role": "agent" if who == "agent" else "user", "content": text, "words": []} for who, text in transcript]


@dataclass
class _Line:
    """One WebSocket connection and its keepalive bookkeeping."""

    ws: ClientConnection
    stack: contextlib.ExitStack[bool | None]
    config: dict[str, Any] = field(default_factory=dict)
    next_ping: float = 0.0
    last_heard: float = field(default_factory=time.monotonic)


class _Conversation:
    def __init__(
        self,
        url: str,
        call: dict[str, Any],
        *,
        turn_timeout_s: float,
        open_timeout_s: float,
        record: dict[str, Any] | None,
    ) -> None:
        self.url = f"{url.rstrip('/')}/{call['call_id']}"
        self.call = call
        self.turn_timeout_s = turn_timeout_s
        self.open_timeout_s = open_timeout_s
        self.record = record if record is not None else {}
        self.with_tools: list[dict[str, Any]] = []  # transcript_with_tool_calls
        self.record["transcript_with_tool_calls"] = self.with_tools
        self.record.setdefault("reconnects", 0)
        self.record.setdefault("ping_pongs_answered", 0)
        self.line: _Line | None = None

    def open(self, ongoing: bool) -> dict[str, Any]:
        """Connect; returns the begin response (an empty one after a reconnect)."""
        stack = contextlib.ExitStack()
        ws = stack.enter_context(connect(self.url, open_timeout=self.open_timeout_s, close_timeout=2))
        self.line = _Line(ws, stack)
        call = dict(self.call, call_status="ongoing") if ongoing else self.call
        return self.collect(0, details=call)

    def _open_line(self) -> _Line:
        if self.line is None:
            raise LlmSessionError("no open line (open() first)")
        return self.line

    def close(self) -> None:
        if self.line is not None:
            with contextlib.suppress(Exception):  # closing a dead line
                self.line.stack.close()
            self.line = None

    def drop(self) -> None:
        """An abrupt loss of the line (no close handshake: the peer sees 1006)."""
        if self.line is not None:
            with contextlib.suppress(OSError):
                self.line.ws.socket.shutdown(2)
            self.close()

    def send(self, message: dict[str, Any]) -> None:
        line = self._open_line()
        try:
            line.ws.send(json.dumps(message))
        except (ConnectionClosed, OSError) as e:
            raise _LineDropped(str(e)) from None

    def collect(
        self, response_id: int, *, details: dict[str, Any] | None = None, drop_midway: bool = False
    ) -> dict[str, Any]:
        """Read frames until the response for `response_id` is complete (older or other ids are dropped, as
        Retell drops them). `details`: send call_details as soon as the config asks for it."""
        line = self._open_line()
        parts: list[str] = []
        deadline = time.monotonic() + self.turn_timeout_s
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise LlmSessionError(f"no complete response {response_id} within {self.turn_timeout_s}s")
            if line.config.get("auto_reconnect"):
                if now - line.last_heard > PING_SILENCE_S:
                    raise _LineDropped("no ping_pong answer for 5 s")
                if now >= line.next_ping:
                    self.send({"interaction_type": "ping_pong", "timestamp": int(time.time() * 1000)})
                    line.next_ping = now + PING_INTERVAL_S
                wait = min(deadline, line.next_ping) - now
            else:
                wait = deadline - now
            try:
                frame = line.ws.recv(timeout=max(0.01, wait))
            except TimeoutError:
                continue
            except (ConnectionClosed, OSError) as e:
                raise _LineDropped(str(e)) from None
            if isinstance(frame, bytes):
                line.ws.close(code=1007)
                raise LlmSessionError("binary frame from the LLM server")
            message = json.loads(frame)
            line.last_heard = time.monotonic()
            kind = message.get("response_type")
            if kind == "config":
                line.config.update(message.get("config") or {})
                if details is not None and line.config.get("call_details"):
                    self.send({"interaction_type": "call_details", "call": details})
                    details = None
                if line.config.get("auto_reconnect") and not line.next_ping:
                    line.next_ping = time.monotonic() + PING_INTERVAL_S
            elif kind == "ping_pong":
                self.record["ping_pongs_answered"] += 1
            elif kind == "tool_call_invocation" and line.config.get("transcript_with_tool_calls"):
                self.with_tools.append(
                    {
                        "role": "tool_call_invocation",
                        "tool_call_id": message.get("tool_call_id"),
                        "name": message.get("name"),
                        "arguments": message.get("arguments"),
                    }
                )
            elif kind == "tool_call_result" and line.config.get("transcript_with_tool_calls"):
                self.with_tools.append(
                    {
                        "role": "tool_call_result",
                        "tool_call_id": message.get("tool_call_id"),
                        "content": message.get("content"),
                        "successful": message.get("successful", True),
                    }
                )
            elif kind == "response" and message.get("response_id") == response_id:
                parts.append(message.get("content") or "")
                if drop_midway:
                    raise _LineDropped("scripted drop")
                if message.get("content_complete"):
                    return {
                        "content": "".join(parts).strip(),
                        "end_call": bool(message.get("end_call")),
                        "transfer_number": message.get("transfer_number"),
                    }


def converse(
    url: str,
    call: dict[str, Any],
    callee_lines: list[str],
    *,
    turn_timeout_s: float = 10.0,
    open_timeout_s: float = 7.0,
    drop_after: int | None = None,
    record: dict[str, Any] | None = None,
) -> list[tuple[str, str]]:
    """Run one call's conversation; returns the transcript as (agent|callee, text) pairs. `record` (a dict)
    receives transcript_with_tool_calls, reconnects and ping_pongs_answered, and end_call / transfer_number
    when the agent ended or transferred the call. `drop_after`: drop the line
    during the answer to the callee's line number `drop_after` (1-based) and reconnect."""
    talk = _Conversation(url, call, turn_timeout_s=turn_timeout_s, open_timeout_s=open_timeout_s, record=record)
    transcript: list[tuple[str, str]] = []

    def spoken(who: str, text: str) -> None:
        transcript.append((who, text))
        talk.with_tools.append({"role": "agent" if who == "agent" else "user", "content": text})

    try:
        try:
            begin = talk.open(ongoing=False)
        except _LineDropped as e:  # gone before the first word: the call fails like any lost session
            raise LlmSessionError(f"LLM WebSocket lost before the begin message: {e}") from None
        if begin["content"]:
            spoken("agent", begin["content"])
        if begin["end_call"]:
            return transcript
        response_id = 0
        for number, line in enumerate(callee_lines, start=1):
            spoken("callee", line)
            drop = drop_after == number
            while True:
                response_id += 1
                try:
                    talk.send(
                        {
                            "interaction_type": "update_only",
                            "transcript": _turns(transcript),
                            "turntaking": "agent_turn",
                        }
                    )
                    talk.send(
                        {
                            "interaction_type": "response_required",
                            "response_id": response_id,
                            "transcript": _turns(transcript),
                        }
                    )
                    answer = talk.collect(response_id, drop_midway=drop)
                    break
                except _LineDropped as e:
                    drop = False
                    if talk.record["reconnects"] >= MAX_RECONNECTS + (1 if drop_after else 0):
                        raise LlmSessionError(f"LLM WebSocket lost: {e}") from None
                    talk.record["reconnects"] += 1
                    log.info("sandbox retell call %s: line lost (%s), reconnecting", call["call_id"], e)
                    talk.drop()
                    # After a reconnect the server must not start over: its begin message is empty.
                    again = talk.open(ongoing=True)
                    if again["content"]:
                        spoken("agent", again["content"])
            if answer["content"]:
                spoken("agent", answer["content"])
            if answer["transfer_number"]:
                # Retell transfers the call there: the conversation with the agent is over.
                talk.record["transfer_number"] = answer["transfer_number"]
                break
            if answer["end_call"]:
                talk.record["end_call"] = True
                break
    finally:
        talk.close()
    return transcript
