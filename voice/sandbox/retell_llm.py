"""The sandbox as Retell's side of the Custom LLM WebSocket (PROVIDERS.md 1.8): it connects to
`{llm_websocket_url}/{call_id}`, waits for the begin message, then speaks the persona's lines one turn at a
time (update_only, then response_required with a rising response_id) and collects the agent's streamed
answers until content_complete; it answers ping_pong and stops at end_call. The voice bridge is tested
against exactly this."""
from __future__ import annotations

import json
import logging
import time

from websockets.sync.client import connect

log = logging.getLogger(__name__)


class LlmSessionError(RuntimeError):
    pass


def _turns(transcript: list[tuple[str, str]]) -> list[dict]:
    return [{"role": "agent" if who == "agent" else "user", "content": text, "words": []} for who, text in transcript]


def converse(url: str, call: dict, callee_lines: list[str], *, turn_timeout_s: float = 10.0,
             open_timeout_s: float = 7.0) -> list[tuple[str, str]]:
    """Run one call's conversation; returns the transcript as (agent|callee, text) pairs."""
    transcript: list[tuple[str, str]] = []
    with connect(f"{url.rstrip('/')}/{call['call_id']}", open_timeout=open_timeout_s,
                 close_timeout=2) as ws:
        config: dict = {}
        begin = _collect(ws, 0, turn_timeout_s, config)
        if config.get("call_details"):
            ws.send(json.dumps({"interaction_type": "call_details", "call": call}))
        if begin["content"]:
            transcript.append(("agent", begin["content"]))
        if begin["end_call"]:
            return transcript
        for response_id, line in enumerate(callee_lines, start=1):
            transcript.append(("callee", line))
            ws.send(json.dumps({"interaction_type": "update_only", "transcript": _turns(transcript),
                                "turntaking": "agent_turn"}))
            ws.send(json.dumps({"interaction_type": "response_required", "response_id": response_id,
                                "transcript": _turns(transcript)}))
            answer = _collect(ws, response_id, turn_timeout_s, config)
            if answer["content"]:
                transcript.append(("agent", answer["content"]))
            if answer["end_call"]:
                break
    return transcript


def _collect(ws, response_id: int, timeout_s: float, config: dict) -> dict:
    """Read frames until the response for `response_id` is complete (older or other ids are dropped, as
    Retell drops them)."""
    parts: list[str] = []
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LlmSessionError(f"no complete response {response_id} within {timeout_s}s")
        frame = ws.recv(timeout=remaining)
        if isinstance(frame, bytes):
            ws.close(code=1007)
            raise LlmSessionError("binary frame from the LLM server")
        message = json.loads(frame)
        kind = message.get("response_type")
        if kind == "config":
            config.update(message.get("config") or {})
        elif kind == "ping_pong":
            continue
        elif kind == "response" and message.get("response_id") == response_id:
            parts.append(message.get("content") or "")
            if message.get("content_complete"):
                return {"content": "".join(parts).strip(), "end_call": bool(message.get("end_call")),
                        "transfer_number": message.get("transfer_number")}
