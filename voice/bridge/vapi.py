"""Vapi's side of the bridge: tool calls (server message ``tool-calls``, docs/providers.md §2.3) and the custom
LLM (OpenAI-compatible ``/chat/completions`` with streaming, 2.5). Both authenticate with the server
secret (X-Vapi-Secret, Bearer or HMAC, 2.4; providers.vapi.verify_server_auth) and find the lead
from the call's metadata, so any bridge instance can answer any request.

Tools offered to a Vapi assistant (the function names its tool definitions use):

* ``check_availability {preference}``: the callee's words ("nächsten Donnerstag ab 16 Uhr");
* ``book_appointment {start, end?, owner_id?}``: ISO 8601 start (and end; default 30 minutes);
* ``record_opt_out {reason}``; ``record_qualification {need?, timing?, decision_maker?}``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from providers.parsing import required_time
from providers.vapi import metadata_of, tool_calls
from voice.bridge.core import BRIDGE, Bridge
from voice.bridge.dialog import phrases
from voice.bridge.dialog.timetalk import TimeTalk, default_timetalk
from voice.bridge.dialog.types import SlotChoice, Speech, Tools, ToolTimeout, Turn, TurnDone, TurnKind, TurnRequest
from voice.bridge.timeprefs.constraint import TimeConstraint

log = logging.getLogger(__name__)

PROVIDER = "vapi"
DEFAULT_LENGTH = timedelta(minutes=30)
MAX_BODY = 1 << 20


class BadRequest(Exception):
    """The body is not what Vapi sends; the message names the problem (answered 400)."""


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _one_line(text: Any) -> str:
    # Vapi's results must be single-line strings: newlines break its parsing (2.3).
    return " ".join(str(text).split())


async def _authenticated_body(bridge: Bridge, request: web.Request) -> bytes | web.Response:
    body = await request.read()
    if not await bridge.vapi_authenticated(body, request.headers):
        bridge.metrics.auth_failures.labels(PROVIDER).inc()
        log.warning("vapi %s: no valid credential from %s", request.path, request.remote)
        return _error(401, "no valid X-Vapi-Secret, Bearer or HMAC credential")
    return body


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest(f"body is not UTF-8 JSON ({type(e).__name__})") from None
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    return payload


def _object(container: dict[str, Any], name: str) -> dict[str, Any]:
    """A field that must be a JSON object; empty when it is absent or of another type."""
    value = container.get(name)
    return value if isinstance(value, dict) else {}


_timetalk: TimeTalk | None = None


def _parse_preference(text: str, language: str, now: datetime) -> TimeConstraint:
    """The callee's words as a TimeConstraint, with the parser the dialog policy uses."""
    global _timetalk
    if _timetalk is None:
        _timetalk = default_timetalk()
    constraint = _timetalk.preference(text, language, now)
    if constraint is None:
        raise ValueError(f"no day or time understood in {text[:80]!r}: ask the callee when suits them")
    return constraint


# ---- tool-calls ----------------------------------------------------------------------------------


async def _run_tool(bridge: Bridge, tools: Tools, language: str, now: datetime, name: str, args: dict[str, Any]) -> str:
    if name == "check_availability":
        preference = args.get("preference") or args.get("when") or ""
        if not isinstance(preference, str) or not preference.strip():
            raise ValueError("preference is required (the callee's words)")
        constraint = _parse_preference(preference, language, now)
        offer = await tools.find_slots(constraint)
        return offer.tool_result()  # each slot marked matching the wish or not (voice/bridge/offers.py)
    if name == "book_appointment":
        start = required_time(args.get("start"), "start")
        end = required_time(args["end"], "end") if args.get("end") else start + DEFAULT_LENGTH
        owner = args.get("owner_id")
        booking = await tools.book(
            SlotChoice(
                start=start,
                end=end,
                owner_id=int(owner) if isinstance(owner, (int, str)) and str(owner).isdigit() else None,
            )
        )
        return json.dumps(
            {
                "status": booking.status,
                "appointment_id": booking.appointment_id,
                "start": booking.start.isoformat() if booking.start else None,
            }
        )
    if name == "record_opt_out":
        await tools.record_opt_out(str(args.get("reason") or "asked not to be called again"))
        return "opt-out recorded: the lead will not be contacted again"
    if name == "record_qualification":
        answers = {k: str(v) for k, v in args.items() if isinstance(v, (str, int, float, bool))}
        await tools.record_qualification(answers)
        return "qualification recorded"
    raise LookupError(f"unknown tool {name!r}")


async def tool_calls_handler(request: web.Request) -> web.Response:
    bridge: Bridge = request.app[BRIDGE]
    started = time.perf_counter()
    body = await _authenticated_body(bridge, request)
    if isinstance(body, web.Response):
        return body
    try:
        payload = _json_object(body)
        message = payload.get("message")
        if not isinstance(message, dict):
            raise BadRequest('message must be an object ({"message": {"type": ...}})')
        if message.get("type") != "tool-calls":
            return web.json_response({})  # informational messages: acknowledged, nothing to answer
        listed = message.get("toolCallList", message.get("toolCalls"))
        if not isinstance(listed, list):
            raise BadRequest("tool-calls needs a toolCallList (or toolCalls) array")
        call = _object(message, "call")
    except BadRequest as e:
        return _error(400, str(e))

    call_id = str(call.get("id") or "") or f"vapi-unknown-{uuid.uuid4().hex[:8]}"
    ctx = await bridge.tools_factory.context(call_id, PROVIDER, metadata_of(call))
    now = bridge.now()
    # No filler here: the HTTP answer is the tool's result (Vapi speaks its own "request-start" message).
    tools = bridge.tools_factory.tools(ctx, speak=None, now=now)
    results = []
    for tool_call_id, name, args in tool_calls(message):
        entry: dict[str, Any] = {"toolCallId": tool_call_id, "name": name}
        try:
            entry["result"] = _one_line(await _run_tool(bridge, tools, ctx.callee.language, now, name, args))
        except ToolTimeout:
            entry["error"] = "the calendar did not answer in time; offer to confirm the appointment by email"
        except (LookupError, ValueError, TypeError) as e:
            entry["error"] = _one_line(e)
        except Exception as e:  # noqa: BLE001 - one failing tool must not fail the others (HTTP 200 always)
            log.exception("vapi call %s: tool %s failed", call_id, name)
            entry["error"] = _one_line(f"{name} failed ({type(e).__name__})")
        results.append(entry)
    log.info("vapi call %s: %d tool call(s) in %.1f ms", call_id, len(results), (time.perf_counter() - started) * 1000)
    return web.json_response({"results": results})


# ---- custom LLM ----------------------------------------------------------------------------------


def _transcript(messages: list[Any]) -> tuple[tuple[Turn, ...], TurnKind]:
    turns: list[Turn] = []
    for m in messages:
        if not isinstance(m, dict):
            raise BadRequest("messages must be objects with role and content")
        role, content = m.get("role"), m.get("content")
        if isinstance(content, list):  # OpenAI content parts
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if role in ("assistant", "user") and isinstance(content, str) and content.strip():
            turns.append(Turn("agent" if role == "assistant" else "user", content.strip()))
    if not turns:
        kind = TurnKind.BEGIN
    elif turns[-1].role == "user":
        kind = TurnKind.RESPONSE
    else:
        kind = TurnKind.REMINDER  # asked again with the agent speaking last: the callee stayed silent
    return tuple(turns), kind


def _chunk(completion_id: str, created: int, model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def _tool_names(payload: dict[str, Any]) -> set[str]:
    names = set()
    for tool in payload.get("tools") or []:
        if isinstance(tool, dict):
            names.add(str((tool.get("function") or {}).get("name") or ""))
    return names


def _closing_tool_call(payload: dict[str, Any], end_call: bool, transfer: str | None) -> dict[str, str] | None:
    """Vapi ends or transfers a call when the model calls its endCall / transferCall tool: emitted only
    when the assistant offers that tool."""
    names = _tool_names(payload)
    if transfer and "transferCall" in names:
        return {"name": "transferCall", "arguments": json.dumps({"destination": transfer})}
    if end_call and "endCall" in names:
        return {"name": "endCall", "arguments": "{}"}
    return None


def _caller_id(payload: dict[str, Any], call: dict[str, Any]) -> str | None:
    """The number the call comes from (Vapi's phoneNumber object), said in the opening as a callback number."""
    for spot in (_object(payload, "phoneNumber"), _object(call, "phoneNumber")):
        number = spot.get("number")
        if isinstance(number, str):
            return number
    return None


async def chat_completions_handler(request: web.Request) -> web.StreamResponse:
    bridge: Bridge = request.app[BRIDGE]
    received = time.perf_counter()
    body = await _authenticated_body(bridge, request)
    if isinstance(body, web.Response):
        return body
    try:
        payload = _json_object(body)
        messages = payload.get("messages")
        if not isinstance(messages, list):
            raise BadRequest("messages must be an array")
        transcript, kind = _transcript(messages)
    except BadRequest as e:
        return _error(400, str(e))
    call = _object(payload, "call")
    metadata = {**metadata_of(call), **_object(payload, "metadata")}
    call_id = str(call.get("id") or metadata.get("call_id") or "") or f"vapi-llm-{uuid.uuid4().hex[:8]}"
    stream = bool(payload.get("stream"))
    model = str(payload.get("model") or "leadchain-bridge")
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    ctx = await bridge.tools_factory.context(call_id, PROVIDER, metadata)
    now = bridge.now()
    response: web.StreamResponse | None = None
    parts: list[str] = []
    first = [True]

    async def out(text: str) -> None:
        nonlocal response
        parts.append(text)
        if not stream:
            return
        if response is None:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            await response.prepare(request)
            await response.write(_chunk(completion_id, created, model, {"role": "assistant", "content": ""}))
        await response.write(_chunk(completion_id, created, model, {"content": text}))
        if first[0]:
            first[0] = False
            bridge.metrics.turn_seconds.labels(PROVIDER).observe(time.perf_counter() - received)

    tools = bridge.tools_factory.tools(ctx, speak=out, now=now)
    turn = TurnRequest(
        call_id=call_id,
        provider=PROVIDER,
        kind=kind,
        transcript=transcript,
        callee=ctx.callee,
        now=now,
        company_name=bridge.config.company_name,
        transfer_number=bridge.config.transfer_number,
        callback_number=bridge.config.callback_number or _caller_id(payload, call),
        inbound=ctx.inbound,
    )
    try:
        return await _complete(
            bridge, payload, turn, tools, out, stream, completion_id, created, model, received, parts, lambda: response
        )
    except ConnectionResetError:
        log.info("vapi call %s: the client went away mid-answer", call_id)
        return response if response is not None else web.Response(status=499)


async def _complete(
    bridge: Bridge,
    payload: dict[str, Any],
    turn: TurnRequest,
    tools: Tools,
    out: Callable[[str], Awaitable[None]],
    stream: bool,
    completion_id: str,
    created: int,
    model: str,
    received: float,
    parts: list[str],
    current: Callable[[], web.StreamResponse | None],
) -> web.StreamResponse:
    """The policy's turn as one completion (streamed through `out`, or collected in `parts`)."""
    call_id, ctx_language = turn.call_id, turn.callee.language
    end_call, transfer = False, None
    try:
        async for event in bridge.policy.respond(turn, tools):
            if isinstance(event, Speech) and event.text:
                await out(event.text)
            elif isinstance(event, TurnDone):
                end_call, transfer = event.result.end_call, event.result.transfer_number
                bridge.log_result(call_id, PROVIDER, None, event.result)
                break
    except ConnectionResetError:
        raise
    except Exception:  # noqa: BLE001 - the caller must hear something
        log.exception("vapi call %s: the policy failed", call_id)

        await out(phrases.say("apology", phrases.lang(ctx_language)))
    closing = _closing_tool_call(payload, end_call, transfer)
    if not stream:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(parts)}
        if closing:
            message["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:16]}", "type": "function", "function": closing}]
        bridge.metrics.turn_seconds.labels(PROVIDER).observe(time.perf_counter() - received)
        return web.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if closing else "stop"}],
            }
        )
    if current() is None:
        await out("")  # nothing was spoken: the first call of out() opens the stream
    response = current()
    if response is None:  # out() opens it whenever the answer streams
        raise RuntimeError("the event stream did not open")
    if closing:
        await response.write(
            _chunk(
                completion_id,
                created,
                model,
                {
                    "tool_calls": [
                        {"index": 0, "id": f"call_{uuid.uuid4().hex[:16]}", "type": "function", "function": closing}
                    ]
                },
            )
        )
    await response.write(_chunk(completion_id, created, model, {}, "tool_calls" if closing else "stop"))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response
