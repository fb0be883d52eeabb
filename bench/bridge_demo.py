"""The per-turn CPU rival of bench/bridge.py: a minimal server in the shape of Retell's Python custom-LLM demo
(RetellAI/retell-custom-llm-python-demo, app/server.py + app/llm.py), with an instant stub in place of the LLM.

Written for the bench, not copied. What it keeps from the demo, because that is what a turn costs there:

* one WebSocket per call at ``/llm-websocket/{secret}/{call_id}``; on connect a ``config`` frame
  (auto_reconnect, call_details) and the begin message (response_id 0, content_complete) from a fresh
  per-call LLM client;
* every incoming frame parsed with ``json.loads`` and handled in a task of its own, as the demo's
  ``asyncio.create_task(handle_message(data))``; ``call_details`` and ``update_only`` are not answered,
  ``ping_pong`` is echoed;
* ``response_required`` / ``reminder_required`` validated into a pydantic request (transcript as a list of
  utterances), turned into chat messages (system prompt, agent -> assistant, user -> user, a reminder
  line), handed to the LLM client, and each streamed delta sent as a ``response`` frame
  (``model.__dict__`` through ``json.dumps``), then the closing empty frame with ``content_complete``;
  a stream stops when a newer response_id has arrived.

Differences, on purpose: aiohttp instead of FastAPI/uvicorn (neither is a leadchain dependency; the demo's
first versions used aiohttp, and the bridge runs on it, so both servers pay the same framework), no
printing of the transcript to the terminal, and the LLM is a stub that yields ``REPLY`` at once, in
``len(REPLY)`` deltas (sentence-sized, as the bridge streams), with no network and no tokens.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel

SYSTEM_PROMPT = (
    "##Objective\nYou are a voice AI agent in a human-like phone conversation. Answer from the transcript, "
    "briefly, one question at a time.\n\n## Style\n- Be concise.\n- Do not repeat the transcript.\n"
    "- Be conversational.\n\n## Role\nYou call on behalf of the company to qualify the lead and book a meeting."
)
BEGIN_SENTENCE = "Guten Tag, hier ist die KI-Assistenz der Firma, dieses Gespräch wird aufgezeichnet."
REMINDER_LINE = "(Now the user has not responded in a while, you would say:)"
# The stub's fixed reply, one delta per item.
REPLY = ("Verstanden, vielen Dank. ", "Darf ich Ihnen noch eine Frage stellen?")


class Utterance(BaseModel):
    role: Literal["agent", "user", "system"]
    content: str


class ResponseRequiredRequest(BaseModel):
    interaction_type: Literal["reminder_required", "response_required"]
    response_id: int
    transcript: list[Utterance]


class ConfigResponse(BaseModel):
    response_type: Literal["config"] = "config"
    config: dict[str, bool]


class ResponseResponse(BaseModel):
    response_type: Literal["response"] = "response"
    response_id: int
    content: str
    content_complete: bool
    end_call: bool | None = False
    transfer_number: str | None = None


class StubLlmClient:
    """The demo's LlmClient with the OpenAI call replaced by a fixed, instant reply."""

    def draft_begin_message(self) -> ResponseResponse:
        return ResponseResponse(response_id=0, content=BEGIN_SENTENCE, content_complete=True, end_call=False)

    def convert_transcript_to_messages(self, transcript: list[Utterance]) -> list[dict[str, str]]:
        return [{"role": "assistant" if u.role == "agent" else "user", "content": u.content} for u in transcript]

    def prepare_prompt(self, request: ResponseRequiredRequest) -> list[dict[str, str]]:
        prompt = [{"role": "system", "content": SYSTEM_PROMPT}]
        prompt.extend(self.convert_transcript_to_messages(request.transcript))
        if request.interaction_type == "reminder_required":
            prompt.append({"role": "user", "content": REMINDER_LINE})
        return prompt

    async def complete(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        """The stub LLM: the fixed reply, delta by delta, without waiting."""
        for delta in REPLY:
            yield delta

    async def draft_response(self, request: ResponseRequiredRequest) -> AsyncIterator[ResponseResponse]:
        prompt = self.prepare_prompt(request)
        async for delta in self.complete(prompt):
            yield ResponseResponse(
                response_id=request.response_id, content=delta, content_complete=False, end_call=False
            )
        yield ResponseResponse(response_id=request.response_id, content="", content_complete=True, end_call=False)


def send_json_text(data: Any) -> str:
    # What Starlette's WebSocket.send_json writes (the demo's FastAPI server).
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


async def serve_demo(host: str, port: int) -> None:
    from aiohttp import WSMsgType, web

    async def websocket_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        llm_client = StubLlmClient()
        config = ConfigResponse(config={"auto_reconnect": True, "call_details": True})
        await ws.send_str(send_json_text(config.__dict__))
        response_id = 0
        await ws.send_str(send_json_text(llm_client.draft_begin_message().__dict__))
        tasks: set[asyncio.Task[None]] = set()

        async def handle_message(request_json: dict[str, Any]) -> None:
            nonlocal response_id
            kind = request_json["interaction_type"]
            if kind in ("call_details", "update_only"):
                return
            if kind == "ping_pong":
                await ws.send_str(
                    send_json_text({"response_type": "ping_pong", "timestamp": request_json["timestamp"]})
                )
                return
            if kind in ("response_required", "reminder_required"):
                response_id = request_json["response_id"]
                turn = ResponseRequiredRequest(
                    interaction_type=kind, response_id=response_id, transcript=request_json["transcript"]
                )
                async for event in llm_client.draft_response(turn):
                    await ws.send_str(send_json_text(event.__dict__))
                    if turn.response_id < response_id:
                        break  # a newer request arrived: drop this stream

        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            task = asyncio.create_task(handle_message(json.loads(msg.data)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return ws

    app = web.Application()
    app.router.add_get("/llm-websocket/{secret}/{call_id}", websocket_handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    await stop.wait()
    await runner.cleanup()
