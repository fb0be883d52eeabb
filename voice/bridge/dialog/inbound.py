"""The inbound dialog (issue 17): someone called one of the company's numbers.

Rules, like the outbound policy, and stateless the same way: each turn the stage is read back from the
agent's own earlier sentences (phrases recognised in the transcript), so a reconnect or another bridge
instance carries on. The agent greets in the number's name with the AI disclosure, asks what the caller
wants and serves it:

* book: the outbound dialog's appointment steps (ask a time, offer, read back, book) run as they are;
* move: the caller's appointment is named (asked which, when there are several), then the same steps offer
  its owner's free times, and the "booking" the caller confirms is the move (crm.services.appointments);
* cancel: the appointment is read back and cancelled on a yes;
* a question: answered from the number's knowledge base, else "I'll ask a colleague" and a task;
* a person: in business hours the number's transfer target (the provider's transfer, set on the turn's
  result), outside them a message is taken and a callback promised;
* a message: taken as a task with a note on the lead.

An objection to calls never stops serving a caller who calls in; only a callback they ask for in this call
is recorded as one (voice.bridge.inbound_tools.InboundTools.outcome)."""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from voice.bridge.dialog import phrases
from voice.bridge.dialog.callee_text import e164, full_name, transfer_summary
from voice.bridge.dialog.inbound_intents import CallerReading, InboundIntent
from voice.bridge.dialog.inbound_intents import read as read_caller
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.state import STAGE_OF_PHRASE, DialogState, Said, rebuild, recognise
from voice.bridge.dialog.timetalk import TimeTalk
from voice.bridge.dialog.turn import Turn
from voice.bridge.dialog.types import (
    Booking,
    CallerAppointment,
    InboundCaller,
    SlotChoice,
    SlotOffer,
    Speech,
    Tools,
    TurnDone,
    TurnEvent,
    TurnKind,
    TurnRequest,
)
from voice.bridge.timeprefs.constraint import TimeConstraint

log = logging.getLogger(__name__)
WITHHELD = "withheld"  # InboundCaller.status of a caller whose number is not shown


class InStage(str, enum.Enum):
    START = "start"
    INTENT = "intent"  # we asked what the caller wants (or whether there is anything else)
    PICK_MOVE = "pick_move"  # which appointment to move
    PICK_CANCEL = "pick_cancel"
    CONFIRM_CANCEL = "confirm_cancel"
    QUESTION = "question"  # we asked for the question
    MESSAGE = "message"  # we asked for the message
    BOOKING = "booking"  # the outbound appointment steps are under way (a booking or a move)
    ENDED = "ended"


STAGES = {
    "in_ask_intent": InStage.INTENT,
    "in_anything_else": InStage.INTENT,
    "in_which_move": InStage.PICK_MOVE,
    "in_which_cancel": InStage.PICK_CANCEL,
    "in_confirm_cancel": InStage.CONFIRM_CANCEL,
    "in_ask_question": InStage.QUESTION,
    "in_ask_message": InStage.MESSAGE,
    "in_withheld_ask": InStage.MESSAGE,
    "goodbye": InStage.ENDED,
}


@dataclass(frozen=True)
class Where:
    """Where the inbound call is, read from the agent's earlier sentences."""

    stage: InStage
    last: Said | None  # the sentence that set the stage (its fields name an appointment)
    moving: Said | None  # the latest "your appointment on ...: when instead?" (a move under way)
    asked_callback: bool  # our last question offered a callback (a message outside hours)


def where(request: TurnRequest, language: str) -> Where:
    agent_turns = [t.text or "" for t in request.transcript if t.role == "agent"]
    stage, last, moving, asked = InStage.START, None, None, False
    for text in agent_turns:
        for said in recognise(text, (language,)):
            if said.key in STAGES:
                stage, last = STAGES[said.key], said
                asked = said.key == "in_ask_message"
            elif said.key in STAGE_OF_PHRASE:
                stage, last = InStage.BOOKING, said
            if said.key == "in_move_ask":
                moving = said
            elif said.key == "in_book_ask":
                moving = None
    return Where(stage, last, moving, asked)


class InboundPolicy:
    """The inbound dialog; the outbound rules (`rules`) run its appointment steps."""

    def __init__(self, rules: RulesPolicy | None = None, *, max_reminders: int = 2) -> None:
        self.rules = rules or RulesPolicy()
        self.max_reminders = max_reminders

    def __repr__(self) -> str:
        return "InboundPolicy(rules)"

    @property
    def timetalk(self) -> TimeTalk:
        return self.rules.timetalk

    async def respond(self, request: TurnRequest, tools: Tools) -> AsyncGenerator[TurnEvent, None]:
        language = phrases.lang(request.callee.language)
        caller = request.inbound
        assert caller is not None, "the inbound dialog answers inbound calls"
        spoke = False
        turn: Turn | None = None
        try:
            state = rebuild(request.transcript, language, request.now, self.rules.timetalk)
            turn = Turn(request, tools, state, language, self.rules.timetalk)
            async for event in self._dispatch(turn, caller, state, where(request, language)):
                spoke = spoke or isinstance(event, Speech)
                yield event
                if isinstance(event, TurnDone):
                    return
        except Exception:  # noqa: BLE001 - the caller must never be left in silence by a bug here
            log.exception("inbound call %s: the inbound policy failed", request.call_id)
            if turn is None:
                turn = Turn(request, tools, DialogState(), language, self.rules.timetalk)
            if not spoke:
                yield turn.say("sorry_hiccup")
            yield turn.done(intent="unclear")

    # ---- dispatch -----------------------------------------------------------------------------------

    async def _dispatch(
        self, t: Turn, caller: InboundCaller, state: DialogState, at: Where
    ) -> AsyncIterator[TurnEvent]:
        if not state.begun:
            yield t.say("in_greeting", company=caller.greeting_name or t.request.company_name)
            name = full_name(t.request.callee)
            if name and caller.status == "known":
                yield t.say("in_hello", name=name)
            yield t.say("in_ask_intent")
            yield t.done(intent="begin")
            return
        if t.request.kind == TurnKind.BEGIN and state.utterance is None:
            yield t.say("in_ask_intent")  # a reconnect: ask again where the call stands
            yield t.done(intent="begin")
            return
        if t.request.kind == TurnKind.REMINDER or state.utterance is None:
            async for e in self._reminder(t, state):
                yield e
            return
        if at.stage == InStage.ENDED:
            yield t.say("goodbye")
            yield t.done(intent="unclear", end_call=True)
            return
        c = read_caller(state.utterance)
        if at.stage == InStage.BOOKING and not (c.reading.human or c.cancel or c.message):
            async for e in self._appointment_steps(t, caller, at):
                yield e
            return
        step: AsyncIterator[TurnEvent]
        if at.stage == InStage.MESSAGE:
            step = self._take_message(t, c, at)
        elif at.stage == InStage.CONFIRM_CANCEL:
            step = self._confirm_cancel(t, caller, c, at)
        elif at.stage in (InStage.PICK_MOVE, InStage.PICK_CANCEL):
            step = self._pick(t, caller, c, at)
        elif at.stage == InStage.QUESTION and not c.reading.human:
            step = self._question(t, c.reading.text)
        else:
            step = self._intent(t, caller, c)
        async for e in step:
            yield e

    async def _reminder(self, t: Turn, state: DialogState) -> AsyncIterator[TurnEvent]:
        if state.reminders >= self.max_reminders:
            # The caller went quiet: the call ends; with nothing done it counts as abandoned (the missed-call
            # sweep, crm.inbound.missed, leaves the callback task).
            yield t.say("goodbye")
            yield t.done(intent="silence", end_call=True)
            return
        yield t.say("reminder", state.reminders)
        yield t.done(intent="silence")

    async def _intent(self, t: Turn, caller: InboundCaller, c: CallerReading) -> AsyncIterator[TurnEvent]:
        intent = c.intent
        steps: dict[InboundIntent, Any] = {
            InboundIntent.PERSON: lambda: self._person(t, caller),
            InboundIntent.MESSAGE: lambda: self._ask_message(t, caller),
            InboundIntent.CANCEL: lambda: self._choose(t, caller, cancel=True),
            InboundIntent.MOVE: lambda: self._choose(t, caller, cancel=False),
            InboundIntent.BOOK: lambda: self._book_ask(t, caller),
            InboundIntent.QUESTION: lambda: self._question(t, c.reading.text),
            InboundIntent.ASK: lambda: self._ask_question(t),
            InboundIntent.DONE: lambda: self._goodbye(t),
        }
        step = steps.get(intent)
        if step is None:
            yield t.say("clarify")
            yield t.say("in_ask_intent")
            yield t.done(intent="unclear")
            return
        async for e in step():
            yield e

    # ---- steps --------------------------------------------------------------------------------------

    async def _ask_question(self, t: Turn) -> AsyncIterator[TurnEvent]:
        yield t.say("in_ask_question")
        yield t.done(intent="question")

    async def _goodbye(self, t: Turn) -> AsyncIterator[TurnEvent]:
        yield t.say("goodbye")
        yield t.done(intent="done", end_call=True)

    async def _anything_else(self, t: Turn, intent: str, **updates: Any) -> AsyncIterator[TurnEvent]:
        yield t.say("in_anything_else")
        yield t.done(intent=intent, **updates)

    async def _person(self, t: Turn, caller: InboundCaller) -> AsyncIterator[TurnEvent]:
        number = e164(caller.transfer_target)
        if caller.within_hours and number:
            await _tool(t, "outcome", "transferred", needed_person=True)
            yield t.say("transfer")
            summary = transfer_summary(t.request.callee, t.result, t.language)
            yield t.done(intent="transfer", transfer_number=number, transfer_summary=summary)
            return
        yield t.say("in_closed")
        async for e in self._ask_message(t, caller):
            yield e

    async def _ask_message(self, t: Turn, caller: InboundCaller) -> AsyncIterator[TurnEvent]:
        withheld = caller.status == WITHHELD
        yield t.say("in_withheld_ask") if withheld else t.say("in_ask_message")
        yield t.done(intent="message")

    async def _take_message(self, t: Turn, c: CallerReading, at: Where) -> AsyncIterator[TurnEvent]:
        # A callback is recorded only when the caller asks for one in this call (or answers yes to our
        # "shall we call you back?"); a withheld caller who leaves a number asks for one by doing so.
        callback = c.wants_callback or (at.last is not None and at.last.key == "in_withheld_ask")
        await _tool(t, "leave_task", "callback" if callback else "message", c.reading.text)
        await _tool(t, "outcome", "message", callback_requested=callback)
        yield t.say("in_message_taken")
        if callback:
            yield t.say("in_callback_promise")
        async for e in self._anything_else(t, "message"):
            yield e

    async def _question(self, t: Turn, text: str) -> AsyncIterator[TurnEvent]:
        answer = await _tool(t, "knowledge", text)
        if answer:
            await _tool(t, "outcome", "question")
            yield Speech(" ".join(str(answer).split()) + " ")
            t.sentences.append(str(answer))
            async for e in self._anything_else(t, "question"):
                yield e
            return
        yield t.say("in_ask_colleague")
        await _tool(t, "leave_task", "question", text)
        await _tool(t, "outcome", "message")
        async for e in self._anything_else(t, "question"):
            yield e

    async def _book_ask(self, t: Turn, caller: InboundCaller) -> AsyncIterator[TurnEvent]:
        if t.request.callee.lead_id is None:
            # Nobody to book for (a withheld number): the request goes to a person with the caller's details.
            async for e in self._ask_message(t, replace(caller, status=WITHHELD)):
                yield e
            return
        yield t.say("in_book_ask")
        yield t.done(intent="book")

    async def _choose(self, t: Turn, caller: InboundCaller, *, cancel: bool) -> AsyncIterator[TurnEvent]:
        found = caller.appointments
        if not found:
            yield t.say("in_no_appointment")
            async for e in self._anything_else(t, "no_appointment"):
                yield e
            return
        if len(found) == 1:
            async for e in self._named(t, found[0], cancel=cancel):
                yield e
            return
        joiner = {"de": " oder ", "en": " or ", "fr": " ou "}[t.language]
        choices = joiner.join(t.slot_text(a.start) for a in found[:3])
        yield t.say("in_which_cancel" if cancel else "in_which_move", choices=choices)
        yield t.done(intent="cancel" if cancel else "move")

    async def _named(self, t: Turn, appointment: CallerAppointment, *, cancel: bool) -> AsyncIterator[TurnEvent]:
        slot = t.slot_text(appointment.start)
        if cancel:
            yield t.say("in_confirm_cancel", slot=slot)
            yield t.done(intent="cancel")
            return
        yield t.say("in_move_ask", slot=slot)
        yield t.done(intent="move")

    async def _pick(self, t: Turn, caller: InboundCaller, c: CallerReading, at: Where) -> AsyncIterator[TurnEvent]:
        cancel = at.stage == InStage.PICK_CANCEL
        chosen = self._picked(t, caller.appointments[:3], c)
        if chosen is None:
            yield t.say("clarify")
            async for e in self._choose(t, caller, cancel=cancel):
                yield e
            return
        async for e in self._named(t, chosen, cancel=cancel):
            yield e

    def _picked(self, t: Turn, found: tuple[CallerAppointment, ...], c: CallerReading) -> CallerAppointment | None:
        r = c.reading
        if r.second and len(found) > 1:
            return found[1]
        if r.first:
            return found[0]
        wish = self.rules.timetalk.preference(r.text, t.language, t.request.now)
        if wish is not None:
            zone = t.request.now.tzinfo
            matching = [a for a in found if wish.allows(a.start.astimezone(zone).replace(tzinfo=None),
                                                        a.end.astimezone(zone).replace(tzinfo=None))]  # fmt: skip
            if len(matching) == 1:
                return matching[0]
        return None

    def _named_by(self, t: Turn, caller: InboundCaller, said: Said | None) -> CallerAppointment | None:
        """The appointment one of our sentences named (its `slot` field, as we render its start)."""
        if said is None or "slot" not in said.fields:
            return None
        spoken = phrases.normalise(said.fields["slot"]).lower()
        for a in caller.appointments:
            if phrases.normalise(t.slot_text(a.start)).lower() == spoken:
                return a
        return None

    async def _confirm_cancel(
        self, t: Turn, caller: InboundCaller, c: CallerReading, at: Where
    ) -> AsyncIterator[TurnEvent]:
        appointment = self._named_by(t, caller, at.last)
        r = c.reading
        if appointment is None or r.decline or not r.confirm:
            if appointment is not None and not r.decline:
                yield t.say("clarify")
                async for e in self._named(t, appointment, cancel=True):
                    yield e
                return
            yield t.say("in_kept")
            async for e in self._anything_else(t, "decline"):
                yield e
            return
        done = await _tool(t, "cancel", appointment)
        yield t.say("in_cancelled" if done else "in_cancel_failed", slot=t.slot_text(appointment.start))
        if not done:
            await _tool(t, "leave_task", "callback", "cancel failed")
        async for e in self._anything_else(t, "cancelled"):
            yield e

    async def _appointment_steps(self, t: Turn, caller: InboundCaller, at: Where) -> AsyncIterator[TurnEvent]:
        """The outbound rules' appointment steps, with tools that move the named appointment (a move under
        way) or book and count the booking."""
        moving = self._named_by(t, caller, at.moving) if at.moving is not None else None
        tools: Tools = _MovingTools(t.tools, moving) if moving is not None else _BookingTools(t.tools)
        async for e in self.rules.respond(t.request, tools):
            yield e


async def _tool(t: Turn, name: str, *args: Any, **kwargs: Any) -> Any:
    """An inbound tool of the turn's tools (voice.bridge.inbound_tools.InboundTools); a failure is logged
    and answers None, so the dialog speaks its fallback instead of breaking off."""
    fn = getattr(t.tools, name, None)
    if fn is None:
        log.warning("call %s: the tools have no %s (not a CRM bridge)", t.request.call_id, name)
        return None
    try:
        return await fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - ToolTimeout and CRM failures alike
        log.warning("call %s: inbound tool %s failed: %s", t.request.call_id, name, type(e).__name__)
        return None


class _Delegating:
    def __init__(self, tools: Tools) -> None:
        self.tools = tools

    async def record_qualification(self, answers: dict[str, str]) -> None:
        await self.tools.record_qualification(answers)

    async def record_opt_out(self, reason: str) -> None:
        await self.tools.record_opt_out(reason)

    async def record_callback(self, window: TimeConstraint) -> None:
        await self.tools.record_callback(window)


class _BookingTools(_Delegating):
    """The turn's tools, with a booking counted as the call's outcome."""

    async def find_slots(self, constraint: TimeConstraint) -> SlotOffer:
        return await self.tools.find_slots(constraint)

    async def book(self, slot: SlotChoice) -> Booking:
        booking = await self.tools.book(slot)
        if booking.status in ("booked", "already_booked"):
            # The call's outcome and the booking's confirmation mail (the CRM tools' InboundTools; a test
            # double may lack them).
            for name, argument in (("outcome", "booked"), ("confirm_booking", booking)):
                action = getattr(self.tools, name, None)
                if action is not None:
                    await action(argument)
        return booking


class _MovingTools(_Delegating):
    """The turn's tools where finding slots and booking mean moving the caller's appointment."""

    def __init__(self, tools: Tools, appointment: CallerAppointment) -> None:
        super().__init__(tools)
        # The CRM tools' InboundTools actions (voice.bridge.inbound_tools), which the Tools protocol lacks.
        self.inbound: Any = tools
        self.appointment = appointment

    async def find_slots(self, constraint: TimeConstraint) -> SlotOffer:
        offer: SlotOffer = await self.inbound.move_slots(self.appointment, constraint)
        return offer

    async def book(self, slot: SlotChoice) -> Booking:
        booking: Booking = await self.inbound.move(self.appointment, slot)
        return booking


class DirectionPolicy:
    """The policy by the call's direction: the inbound dialog for a call to one of our numbers, the
    configured (outbound) policy otherwise."""

    def __init__(self, outbound: Any, inbound: Any) -> None:
        self.outbound = outbound
        self.inbound = inbound

    def __repr__(self) -> str:
        return f"DirectionPolicy(outbound={self.outbound!r}, inbound={self.inbound!r})"

    def respond(self, request: TurnRequest, tools: Tools) -> AsyncGenerator[TurnEvent, None]:
        policy = self.inbound if request.inbound is not None else self.outbound
        result: AsyncGenerator[TurnEvent, None] = policy.respond(request, tools)
        return result
