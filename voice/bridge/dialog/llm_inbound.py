"""The LLM policy for inbound calls (issue 17): the same OpenAI-compatible loop as the outbound one
(voice.bridge.dialog.llm), told it answers the company's phone, offered the inbound tools, and falling back
to the inbound rules (voice.bridge.dialog.inbound) for the greeting, reminders, opt-outs and any failure.

The tools act through the same CRM actions as the rules (voice.bridge.inbound_tools): an appointment is
named by its id from the prompt's list (only the caller's own are listed, and the CRM checks it again), a
move or a cancel happens only after the caller confirmed the read-back, and a transfer goes to the
number's target within its business hours only."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from voice.bridge.dialog.callee_text import e164
from voice.bridge.dialog.llm import LLMPolicy
from voice.bridge.dialog.llm_schema import SPOKEN, TOOLS, loads, start_from
from voice.bridge.dialog.types import (
    CallerAppointment,
    InboundCaller,
    SlotChoice,
    ToolRecord,
    Tools,
    TurnRequest,
    TurnResult,
)
from voice.bridge.offers import BUSINESS_TZ

_APPOINTMENT_ID = {"type": "integer", "description": "the appointment's id from the list in the instructions"}
INBOUND_ONLY: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "move_appointment",
            "description": "Move the caller's appointment to a start find_slots returned, after the caller confirmed "
            "both the appointment and the new time.",
            "parameters": {
                "type": "object",
                "properties": {"appointment_id": _APPOINTMENT_ID, "start": {"type": "string"}},
                "required": ["appointment_id", "start"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "cancel_appointment",
            "description": "Cancel the caller's appointment, after reading it back and the caller said yes.",
            "parameters": {
                "type": "object",
                "properties": {"appointment_id": _APPOINTMENT_ID},
                "required": ["appointment_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "answer_question",
            "description": "Look the caller's question up in the company's knowledge base. Say the answer it "
            "returns; when it returns none, say you will ask a colleague (a task is made).",
            "parameters": {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "leave_message",
            "description": "Take the caller's message for a person; callback true only when they asked for one.",
            "parameters": {
                "type": "object",
                "properties": {"text": {"type": "string"}, "callback": {"type": "boolean"}},
                "required": ["text", "callback"],
            },
        },
    },
]
INBOUND_TOOLS = [
    *(t for t in TOOLS if t["function"]["name"] in ("find_slots", "book", "turn_result")),
    *INBOUND_ONLY,
]
INBOUND_CRM_TOOLS = ("find_slots", "book", "move_appointment", "cancel_appointment", "answer_question", "leave_message")


def inbound_prompt(request: TurnRequest, caller: InboundCaller, language: str, render: Any) -> str:
    callee = request.callee
    name = " ".join(p for p in (callee.first_name, callee.last_name) if p) or "not known"
    listed = "; ".join(f"id {a.appointment_id}: {render(a.start)}" for a in caller.appointments) or "none"
    person = (
        "A colleague can take the call now: when the caller asks for a person, set transfer in turn_result."
        if caller.within_hours and caller.transfer_target
        else "Nobody can take the call now: offer to take a message and promise a callback."
    )
    return (
        f"You are the AI phone assistant answering calls to {caller.greeting_name}. Speak "
        f"{SPOKEN.get(language, SPOKEN['de'])} only, in short spoken sentences. Now is {request.now.isoformat()} "
        f"(Europe/Berlin). The caller: {name} (status {caller.status}). The caller's upcoming appointments: "
        f"{listed}. The greeting with the AI and recording disclosure has been given; never deny being an AI. "
        "Find out what the caller wants: book an appointment (find_slots, then book after a yes), move one "
        "(name it, find_slots for the new time, move_appointment after a yes), cancel one (read it back, "
        "cancel_appointment after a yes), a question (answer_question), a person, or a message (leave_message). "
        f"{person} Serve callers who objected to calls like anyone else; record a callback only when they ask "
        "for one. Whenever you end the call, say a goodbye in the same turn and set end_call. At the end of "
        "every turn call turn_result exactly once."
    )


class InboundLLMPolicy(LLMPolicy):
    tools_schema = INBOUND_TOOLS
    crm_tools = INBOUND_CRM_TOOLS

    def __repr__(self) -> str:
        return "Inbound" + super().__repr__()

    def _messages(self, request: TurnRequest, language: str) -> list[dict[str, Any]]:
        messages = super()._messages(request, language)
        if request.inbound is not None:
            render = lambda start: self.timetalk.render(start, language, request.now)  # noqa: E731
            messages[0] = {"role": "system", "content": inbound_prompt(request, request.inbound, language, render)}
        return messages

    def _apply(self, args: dict[str, Any], request: TurnRequest, language: str, result: TurnResult) -> None:
        super()._apply(args, request, language, result)
        caller = request.inbound
        # The number's own target, and only within its hours (the outbound transfer number is not ours here).
        ok = caller is not None and caller.within_hours and bool(args.get("transfer"))
        result.transfer_number = e164(caller.transfer_target) if ok and caller is not None else None

    async def _run_tool(
        self, call: Any, tools: Tools, request: TurnRequest, language: str, result: TurnResult
    ) -> ToolRecord:
        if call.name in ("find_slots", "book") or request.inbound is None:
            return await super()._run_tool(call, tools, request, language, result)
        args = loads(call.arguments)
        actions: Any = tools  # the CRM tools' InboundTools (voice.bridge.inbound_tools)
        try:
            content = await self._inbound_tool(call.name, args, actions, request.inbound)
        except Exception as e:  # noqa: BLE001 - reported to the model, not raised into the call
            return ToolRecord(call.id, call.name, args, json.dumps({"error": type(e).__name__}), False)
        return ToolRecord(call.id, call.name, args, json.dumps(content, ensure_ascii=False), "error" not in content)

    async def _inbound_tool(
        self, name: str, args: dict[str, Any], actions: Any, caller: InboundCaller
    ) -> dict[str, Any]:
        if name == "answer_question":
            question = str(args.get("question") or "")[:500]
            answer = await actions.knowledge(question)
            if answer:
                await actions.outcome("question")
                return {"answer": answer}
            await actions.leave_task("question", question)
            await actions.outcome("message")
            return {"answer": None, "say": "a colleague will get back to the caller"}
        if name == "leave_message":
            callback = bool(args.get("callback"))
            await actions.leave_task("callback" if callback else "message", str(args.get("text") or "")[:2000])
            await actions.outcome("message", callback_requested=callback)
            return {"ok": True}
        appointment = _named(caller, args.get("appointment_id"))
        if appointment is None:
            return {"error": "not one of the caller's appointments"}
        if name == "cancel_appointment":
            return {"cancelled": bool(await actions.cancel(appointment))}
        start = start_from(args.get("start"), BUSINESS_TZ)
        if start is None:
            return {"error": "no valid start"}
        slot = SlotChoice(start, start + (appointment.end - appointment.start or timedelta(minutes=30)))
        booking = await actions.move(appointment, slot)
        return {"status": booking.status}


def _named(caller: InboundCaller, raw: Any) -> CallerAppointment | None:
    try:
        wanted = int(raw)
    except (TypeError, ValueError):
        return None
    return next((a for a in caller.appointments if a.appointment_id == wanted), None)
