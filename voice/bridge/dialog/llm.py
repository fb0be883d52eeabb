"""The LLM policy: an OpenAI-compatible chat-completions endpoint (base URL, model, API key), streamed.

Each turn sends the system prompt, the transcript and the function schemas (llm_schema.py), streams the
model's text out sentence by sentence as ``Speech``, runs the CRM tool calls it makes through the same
``Tools`` (then asks it again with the results, a few rounds at most) and reads the structured
``turn_result`` call into the ``TurnResult``.

What must not depend on a model stays with the rules policy: the opening (AI and recording disclosure),
an opt-out (recorded at once), silence reminders. When the endpoint errors, stalls (no byte within
``read_timeout_s``) or runs past ``turn_timeout_s`` before anything was said, the turn is answered by
the rules policy instead; after something was said, the turn ends with what was said. The API key is
only ever put into the Authorization header; it is never logged or shown in ``repr``."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time as clock
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx

from providers.events import CLASSIFICATIONS
from voice.bridge.dialog import intents, phrases
from voice.bridge.dialog.callee_text import e164
from voice.bridge.dialog.llm_schema import (
    CRM_TOOLS,
    QUALIFICATION_KEYS,
    TOOLS,
    constraint_from,
    loads,
    messages_for,
    start_from,
)
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.speech import SentenceSplitter, has_goodbye
from voice.bridge.dialog.state import Stage, rebuild
from voice.bridge.dialog.timetalk import TimeTalk
from voice.bridge.dialog.turn import constraint_json
from voice.bridge.dialog.types import (
    SlotChoice,
    SlotOffer,
    Speech,
    ToolRecord,
    Tools,
    ToolTimeout,
    TurnDone,
    TurnEvent,
    TurnKind,
    TurnRequest,
    TurnResult,
)
from voice.bridge.offers import mark, satisfies
from voice.bridge.timeprefs.constraint import TimeConstraint
from workflows.vocabulary import CallOutcome

log = logging.getLogger(__name__)
BUSINESS_TZ = ZoneInfo("Europe/Berlin")


class LLMError(Exception):
    """The endpoint failed (status, stream, timeout or garbage); the turn falls back to the rules."""


@dataclass
class _Call:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class _Round:
    """One streamed completion: the text said and the function calls made."""

    text: str = ""
    calls: dict[int, _Call] = field(default_factory=dict)


class Fallback(Protocol):
    """The rules a turn falls back to (RulesPolicy; the inbound rules for the inbound variant)."""

    @property
    def timetalk(self) -> TimeTalk: ...

    def respond(self, request: TurnRequest, tools: Tools) -> AsyncGenerator[TurnEvent, None]: ...


class LLMPolicy:
    # The functions the model is offered and those that reach the CRM (the inbound variant,
    # voice.bridge.dialog.llm_inbound, offers its own).
    tools_schema: list[dict[str, Any]] = TOOLS
    crm_tools: tuple[str, ...] = CRM_TOOLS

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        fallback: Fallback | None = None,
        timetalk: TimeTalk | None = None,
        connect_timeout_s: float = 1.5,
        read_timeout_s: float = 2.5,
        turn_timeout_s: float = 8.0,
        max_tool_rounds: int = 3,
        temperature: float = 0.2,
        slot_minutes: int = 30,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key
        self.fallback: Fallback = fallback or RulesPolicy(timetalk)
        self.timetalk = timetalk or self.fallback.timetalk
        self.timeout = httpx.Timeout(
            connect=connect_timeout_s, read=read_timeout_s, write=read_timeout_s, pool=connect_timeout_s
        )
        self.turn_timeout_s = turn_timeout_s
        self.max_tool_rounds = max_tool_rounds
        self.temperature = temperature
        self.slot_minutes = slot_minutes
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def inbound_variant(self, cls: type[LLMPolicy], fallback: Fallback) -> LLMPolicy:
        """A policy of class `cls` (the inbound one) on the same endpoint, key and limits, over `fallback`."""
        twin = copy.copy(self)
        twin.__class__ = cls
        twin.fallback = fallback
        twin._client = None  # a pooled client of its own
        twin._client_loop = None
        return twin

    def __repr__(self) -> str:
        return f"LLMPolicy(url={self.url!r}, model={self.model!r}, api_key={'set' if self._api_key else 'none'})"

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        # One pooled client per event loop (a client cannot cross loops); nothing per call.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(timeout=self.timeout, transport=self._transport)
            self._client_loop = loop
        return self._client

    # ---- the turn -----------------------------------------------------------------------------------

    async def respond(self, request: TurnRequest, tools: Tools) -> AsyncGenerator[TurnEvent, None]:
        language = phrases.lang(request.callee.language)
        state = rebuild(request.transcript, language, request.now, self.timetalk)
        utterance = intents.read(state.utterance) if state.utterance is not None else None
        if (
            not state.begun
            or request.kind != TurnKind.RESPONSE
            or utterance is None
            or utterance.opt_out
            or utterance.opt_out_unsure
            or state.stage == Stage.REMOVE_OFFER
            or request.callee.do_not_contact
        ):
            # Disclosure, opt-out (a hedged one asked about, and the answer to that question) and reminders
            # are never left to a model.
            async for event in self.fallback.respond(request, tools):
                yield event
            return
        spoke = False
        result = TurnResult(recording_declined=state.recording_declined, qualification=dict(state.answers))
        said: list[str] = []
        try:
            async for event in self._converse(request, tools, language, result, said):
                spoke = spoke or isinstance(event, Speech)
                yield event
        except Exception as e:  # noqa: BLE001 - endpoint errors, stalls, garbage: never into the call
            log.warning(
                "call %s: LLM turn failed (%s), %s",
                request.call_id,
                type(e).__name__,
                "ending the turn with what was said" if spoke else "the rules policy answers",
            )
            if not spoke:
                async for event in self.fallback.respond(request, tools):
                    yield event
                return
        if not said and not result.end_call and not result.transfer_number:
            # The model said nothing at all: the rules answer rather than leave the callee in silence.
            async for event in self.fallback.respond(request, tools):
                yield event
            return
        if result.end_call and not has_goodbye(" ".join(said)):
            goodbye = phrases.say("goodbye", language)
            said.append(goodbye)
            yield Speech(goodbye + " ")
        result.text = " ".join(s.strip() for s in said).strip()
        yield TurnDone(result)

    async def _converse(
        self, request: TurnRequest, tools: Tools, language: str, result: TurnResult, said: list[str]
    ) -> AsyncIterator[TurnEvent]:
        deadline = clock.monotonic() + self.turn_timeout_s
        messages = self._messages(request, language)
        for round_number in range(self.max_tool_rounds + 1):
            current = _Round()
            async for event in self._complete(messages, current, deadline, final=round_number == self.max_tool_rounds):
                said.append(event.text)
                yield event
            crm_calls = [c for c in current.calls.values() if c.name in self.crm_tools]
            for call in current.calls.values():
                if call.name == "turn_result":
                    self._apply(loads(call.arguments), request, language, result)
            if not crm_calls:
                if result.end_call and result.classification == CallOutcome.CALLBACK_REQUESTED and result.constraint:
                    yield await self._record_callback(tools, request, result.constraint)
                return
            messages.append(
                {
                    "role": "assistant",
                    "content": current.text or None,
                    "tool_calls": [
                        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments or "{}"}}
                        for c in current.calls.values()
                    ],
                }
            )
            for call in current.calls.values():
                if call.name in self.crm_tools:
                    record = await self._run_tool(call, tools, request, language, result)
                    yield record
                    content = record.result
                else:
                    content = "ok"
                messages.append({"role": "tool", "tool_call_id": call.id, "content": content})

    async def _complete(
        self, messages: list[dict[str, Any]], current: _Round, deadline: float, final: bool
    ) -> AsyncIterator[Speech]:
        """One streamed completion: its text spoken sentence by sentence as it arrives, its function
        calls collected into ``current``."""
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = self._body(messages, final)
        splitter = SentenceSplitter()
        async with self._http().stream("POST", self.url, json=body, headers=headers) as response:
            if response.status_code != 200:
                raise LLMError(f"status {response.status_code}")
            async for chunk in _stream_chunks(response, deadline):
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or choice.get("message") or {}
                    text = delta.get("content")
                    if isinstance(text, str) and text:
                        current.text += text
                        for sentence in splitter.feed(text):
                            yield Speech(sentence)
                    _add_tool_calls(current, delta.get("tool_calls") or ())
        rest = splitter.flush()
        if rest:
            yield Speech(rest)

    def _body(self, messages: list[dict[str, Any]], final: bool) -> dict[str, Any]:
        """The completion request; the final round may only report the turn's result."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "temperature": self.temperature,
            "tools": self.tools_schema,
            "tool_choice": "auto",
        }
        if final:
            body["tools"] = [t for t in self.tools_schema if t["function"]["name"] == "turn_result"]
        return body

    def _messages(self, request: TurnRequest, language: str) -> list[dict[str, Any]]:
        return messages_for(request, language)

    # ---- tools and results --------------------------------------------------------------------------

    async def _run_tool(
        self, call: _Call, tools: Tools, request: TurnRequest, language: str, result: TurnResult
    ) -> ToolRecord:
        args = loads(call.arguments)
        try:
            if call.name == "find_slots":
                constraint = constraint_from(args.get("time_preference"), language)
                if constraint is None:
                    constraint = TimeConstraint(language=language)
                else:
                    result.constraint = constraint
                # Every slot marked by the one check, whatever the tools did (voice/bridge/offers.py).
                offer = mark(constraint, await tools.find_slots(constraint))
                content = self._offer_json(offer, language, request)
                slots = (offer.wished,) if offer.wished else tuple(offer.alternatives[:2])
                result.offered = slots
            elif call.name == "book":
                start = start_from(args.get("start"), BUSINESS_TZ)
                if start is None:
                    return ToolRecord(call.id, call.name, args, json.dumps({"error": "no valid start"}), False)
                end = start + timedelta(minutes=self.slot_minutes)
                # The booking records whether the slot satisfied the caller's wish (offers.satisfies).
                matched = satisfies(result.constraint, start, end) if result.constraint is not None else None
                slot = SlotChoice(start, end, matches=matched)
                booking = await tools.book(slot)
                result.booking = booking
                if booking.status in ("booked", "already_booked"):
                    result.classification = CallOutcome.BOOKED
                content = json.dumps(
                    {
                        "status": booking.status,
                        "spoken": self.timetalk.render(booking.start or start, language, request.now),
                    }
                )
            elif call.name == "record_qualification":
                answers = {
                    k: str(v)[:300] for k, v in (args.get("answers") or {}).items() if k in QUALIFICATION_KEYS and v
                }
                result.qualification.update(answers)
                await tools.record_qualification(dict(result.qualification))
                content = "ok"
            else:  # record_opt_out
                result.classification = CallOutcome.DO_NOT_CALL
                await tools.record_opt_out(str(args.get("reason") or "asked in the call")[:200])
                content = "ok"
        except ToolTimeout:
            if call.name in ("find_slots", "book"):
                result.classification = result.classification or CallOutcome.INTERESTED
            return ToolRecord(
                call.id,
                call.name,
                args,
                json.dumps({"error": "timeout", "say": phrases.say("fallback_mail", language)}),
                False,
            )
        except Exception as e:  # noqa: BLE001 - reported to the model, not raised into the call
            log.warning("call %s: tool %s failed: %s", request.call_id, call.name, type(e).__name__)
            return ToolRecord(call.id, call.name, args, json.dumps({"error": type(e).__name__}), False)
        return ToolRecord(call.id, call.name, args, content, True)

    async def _record_callback(self, tools: Tools, request: TurnRequest, window: TimeConstraint) -> ToolRecord:
        """The model ended the call with a callback in a window the callee named: the chain calls back then
        (the rules policy does the same in steer.callback). A failure is recorded, never raised into the call."""
        tool_call_id = f"{request.call_id}-{len(request.transcript)}-record_callback"
        arguments = constraint_json(window)
        try:
            await tools.record_callback(window)
        except Exception as e:  # noqa: BLE001 - the chain's next-day callback still happens
            log.warning("call %s: record_callback failed: %s", request.call_id, type(e).__name__)
            return ToolRecord(
                tool_call_id, "record_callback", arguments, json.dumps({"error": type(e).__name__}), False
            )
        return ToolRecord(tool_call_id, "record_callback", arguments, json.dumps({"ok": True}), True)

    def _offer_json(self, offer: SlotOffer, language: str, request: TurnRequest) -> str:
        # Each slot marked matching the wish or not (voice/bridge/offers.py), with the words to say it in.
        two = replace(offer, alternatives=offer.alternatives[:2])
        return two.tool_result(lambda start: self.timetalk.render(start, language, request.now))

    def _apply(self, args: dict[str, Any], request: TurnRequest, language: str, result: TurnResult) -> None:
        intent = args.get("intent")
        result.intent = str(intent) if intent else result.intent
        classification = args.get("classification")
        if classification in CLASSIFICATIONS and result.classification not in (
            CallOutcome.BOOKED,
            CallOutcome.DO_NOT_CALL,
        ):
            result.classification = classification
        result.end_call = bool(args.get("end_call")) or result.end_call
        result.recording_declined = result.recording_declined or bool(args.get("recording_declined"))
        for key, value in (args.get("qualification") or {}).items():
            if key in QUALIFICATION_KEYS and value:
                result.qualification.setdefault(key, str(value)[:300])
        constraint = constraint_from(args.get("time_preference"), language)
        if constraint is not None:
            result.constraint = constraint
        if args.get("transfer"):
            result.transfer_number = e164(request.transfer_number)


def _sse_data(line: str) -> str | None:
    """The payload of one server-sent-events line ("data: ..."), None for comments and other fields."""
    if not line or line.startswith(":") or not line.startswith("data:"):
        return None
    return line[5:].strip()


async def _stream_chunks(response: httpx.Response, deadline: float) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of a streamed completion up to "[DONE]"; an error chunk or the deadline ends the turn."""
    async for line in response.aiter_lines():
        if clock.monotonic() > deadline:
            raise LLMError("turn timeout")
        data = _sse_data(line)
        if data is None:
            continue
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            raise LLMError("error in stream")
        yield chunk


def _add_tool_calls(current: _Round, pieces: Any) -> None:
    """Function calls arrive in pieces by index: the id and name once, the arguments in parts."""
    for piece in pieces:
        slot = current.calls.setdefault(int(piece.get("index", 0)), _Call())
        slot.id = piece.get("id") or slot.id or f"call_{len(current.calls)}"
        function = piece.get("function") or {}
        slot.name = function.get("name") or slot.name
        slot.arguments += function.get("arguments") or ""
