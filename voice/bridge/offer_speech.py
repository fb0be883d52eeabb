"""The offer step of the rules policy: an answer from find_slots said under the offer invariant
(docs/voice-bridge.md §V11).

* A slot is offered plainly ("offer_one"/"offer_two") only when offers.satisfies says it satisfies the
  caller's constraint (TimeTalk.present checks each slot right before it is spoken).
* Otherwise the agent first says the real reason: outside the opening hours (and names them), the calendar
  really full there, or no slot it can offer then; and asks whether to name other times.
* Only when the caller has said yes to that question (``alternatives_agreed``, read from the transcript
  like the rest of the dialog state) are alternatives offered, in a sentence that says they are
  alternatives and why (offer_phrases.alt_*). A wish outside the hours gets the free slots nearest to it
  (availability.find_slots).

``booking_slot`` marks the slot a caller picks, so the booking records whether it matched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

from voice.bridge import offer_phrases
from voice.bridge.dialog import intents
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.timetalk import SpokenSlot, hours_text
from voice.bridge.dialog.turn import ToolFailed, Turn, constraint_json
from voice.bridge.dialog.types import Booking, Speech, Tools, TurnEvent
from voice.bridge.offers import SlotChoice, SlotOffer, satisfies
from voice.bridge.timeprefs.constraint import TimeConstraint
from workflows.vocabulary import CallOutcome


def asked_alternatives(t: Turn) -> bool:
    """Whether our last turn asked the caller whether to name other times (offer_phrases.alternatives_ask)."""
    last = next((turn.text for turn in reversed(t.request.transcript) if turn.role == "agent"), "")
    return offer_phrases.said("alternatives_ask", last or "")


def alternatives_agreed(t: Turn) -> bool:
    """The dialog flag: our last turn asked whether to name other times and the caller said yes."""
    if not asked_alternatives(t):
        return False
    reading = intents.read(t.state.utterance)
    return reading.confirm and not reading.decline


def booking_slot(t: Turn, start: datetime, length: timedelta) -> SlotChoice:
    """The slot the caller picked, marked with whether it satisfies their constraint (stored with the
    booking as Appointment.offer_matched)."""
    constraint = t.result.constraint or t.state.constraint
    end = start + length
    return SlotChoice(start=start, end=end, matches=satisfies(constraint, start, end))


def _say(t: Turn, key: str, **fields: str) -> Speech:
    text = offer_phrases.text(key, t.language, **fields)
    t.sentences.append(text)
    return Speech(text + " ")


def _plain(t: Turn, chosen: list[SpokenSlot]) -> Speech:
    if len(chosen) == 1:
        return t.say("offer_one", slot=chosen[0].text)
    return t.say("offer_two", first=chosen[0].text, second=chosen[1].text)


def _alternative(t: Turn, chosen: list[SpokenSlot], reason: str) -> Speech:
    suffix = offer_phrases.REASON_SUFFIX.get(reason, "other")
    if len(chosen) == 1:
        return _say(t, f"alt_one_{suffix}", slot=chosen[0].text)
    return _say(t, f"alt_two_{suffix}", first=chosen[0].text, second=chosen[1].text)


def _why_not(t: Turn, offer: SlotOffer) -> Speech:
    if offer.no_match_reason == "outside_hours" and offer.opening_hours:
        return _say(t, "outside_hours", hours=hours_text(offer.opening_hours, t.language))
    if offer.no_match_reason == "full":
        return _say(t, "wish_full")
    return _say(t, "wish_unavailable")


async def present(
    t: Turn, constraint: TimeConstraint, offer: SlotOffer, *, intent: str, avoid: tuple[datetime, ...] = ()
) -> AsyncIterator[TurnEvent]:
    """What the agent says about ``offer`` (find_slots' answer to ``constraint``), ending the turn."""
    avoided = set(avoid)
    slots = tuple(s for s in offer.slots if s.start not in avoided)
    matching, others = t.timetalk.present(slots, constraint, t.language, t.request.now)
    if matching:
        wished = offer.wished is not None and offer.wished.start not in avoided
        chosen = matching[:1] if wished else matching[:2]
        yield _plain(t, chosen)
        yield t.done(intent=intent, offered=tuple(s.slot for s in chosen))
        return
    reason = offer.no_match_reason or "unavailable"
    if not others:
        yield _why_not(t, offer) if reason == "outside_hours" else t.say("no_slots")
        yield t.say("ask_time")
        yield t.done(intent=intent)
        return
    if not alternatives_agreed(t):
        yield _why_not(t, offer)
        yield _say(t, "alternatives_ask")
        yield t.done(intent=intent)
        return
    chosen = others[:2]
    yield _alternative(t, chosen, reason)
    yield t.done(intent=intent, offered=tuple(s.slot for s in chosen))


class _MarkedBooking:
    """The turn's tools, with each slot booked marked by booking_slot first."""

    def __init__(self, tools: Tools, t: Turn) -> None:
        self._tools = tools
        self._turn = t

    async def find_slots(self, constraint: TimeConstraint) -> SlotOffer:
        return await self._tools.find_slots(constraint)

    async def book(self, slot: SlotChoice) -> Booking:
        marked = booking_slot(self._turn, slot.start, slot.end - slot.start)
        return await self._tools.book(replace(slot, matches=marked.matches))

    async def record_qualification(self, answers: dict[str, str]) -> None:
        await self._tools.record_qualification(answers)

    async def record_opt_out(self, reason: str) -> None:
        await self._tools.record_opt_out(reason)


class OfferRulesPolicy(RulesPolicy):
    """The rules policy with its offer step said under the offer invariant (``present``). The step is
    meant to move into RulesPolicy._offer itself (dialog/rules.py belongs to the dialog work in flight);
    until then this is the policy that keeps the invariant, and the one the offer tests talk to."""

    async def _offer(
        self, t: Turn, constraint: TimeConstraint, *, intent: str, avoid: tuple[datetime, ...] = ()
    ) -> AsyncIterator[TurnEvent]:
        t.result.constraint = constraint if not constraint.empty else t.result.constraint
        try:
            offer, record = await t.tool("find_slots", constraint_json(constraint), t.tools.find_slots(constraint))
            yield record
        except ToolFailed as failed:
            yield failed.record
            yield t.say("fallback_proposal")
            yield t.say("goodbye")
            yield t.done(intent=intent, classification=CallOutcome.INTERESTED, end_call=True)
            return
        async for event in present(t, constraint, offer, intent=intent, avoid=avoid):
            yield event

    async def _book(self, t: Turn, start: datetime) -> AsyncIterator[TurnEvent]:
        # The booking records whether the picked slot satisfied the caller's constraint (booking_slot).
        t.tools = _MarkedBooking(t.tools, t)
        async for event in super()._book(t, start):
            yield event

    async def _answer(self, t: Turn, r: intents.Reading) -> AsyncIterator[TurnEvent]:
        # A plain "no" to "shall I name other times?" turns down the alternatives, not the appointment:
        # ask for another time. A refusal, an opt-out or a new wish go the usual way.
        if asked_alternatives(t) and r.decline and not (r.refusal or r.opt_out or r.callback or r.human):
            if self.timetalk.preference(r.text, t.language, t.request.now) is None:
                yield t.say("ask_time")
                yield t.done(intent="decline")
                return
        async for event in super()._answer(t, r):
            yield event
