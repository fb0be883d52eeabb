"""The offer step of the rules policy: an answer from find_slots said under the offer invariant
(docs/voice-bridge.md §V11).

* A slot is offered plainly ("offer_one"/"offer_two") only when offers.satisfies says it satisfies the
  caller's constraint (TimeTalk.present checks each slot right before it is spoken).
* Otherwise the agent first says the real reason: outside the opening hours (and names them), the calendar
  really full there, or no slot it can offer then; and asks whether to name other times.
* Only when the caller has said yes to that question (``alternatives_agreed``, read from the transcript
  like the rest of the dialog state) are alternatives offered, in a sentence that says they are
  alternatives and why (the ``alt_*`` phrases). A wish outside the hours gets the free slots nearest to it
  (availability.find_slots).

``booking_slot`` marks the slot a caller picks, so the booking records whether it matched. RulesPolicy
(dialog/rules.py) says its offers through ``present`` and books through ``booking_slot``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from voice.bridge.dialog import intents
from voice.bridge.dialog.timetalk import SpokenSlot, hours_text
from voice.bridge.dialog.turn import Turn
from voice.bridge.dialog.types import Speech, TurnEvent
from voice.bridge.offers import NoMatchReason, SlotChoice, SlotOffer, satisfies
from voice.bridge.timeprefs.constraint import TimeConstraint

# Why alternatives are offered -> the phrases offering one and two of them, each naming that reason.
ALTERNATIVES: dict[NoMatchReason, tuple[str, str]] = {
    "outside_hours": ("alt_one_hours", "alt_two_hours"),
    "full": ("alt_one_full", "alt_two_full"),
    "unavailable": ("alt_one_other", "alt_two_other"),
    "": ("alt_one_other", "alt_two_other"),
}


def asked_alternatives(t: Turn) -> bool:
    """Whether our last turn asked the caller whether to name other times (the phrase alternatives_ask)."""
    return "alternatives_ask" in t.state.said_last


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


def _plain(t: Turn, chosen: list[SpokenSlot]) -> Speech:
    if len(chosen) == 1:
        return t.say("offer_one", slot=chosen[0].text)
    return t.say("offer_two", first=chosen[0].text, second=chosen[1].text)


def _alternative(t: Turn, chosen: list[SpokenSlot], reason: NoMatchReason) -> Speech:
    one, two = ALTERNATIVES[reason]
    if len(chosen) == 1:
        return t.say(one, slot=chosen[0].text)
    return t.say(two, first=chosen[0].text, second=chosen[1].text)


def _why_not(t: Turn, offer: SlotOffer) -> Speech:
    if offer.no_match_reason == "outside_hours" and offer.opening_hours:
        return t.say("outside_hours", hours=hours_text(offer.opening_hours, t.language))
    if offer.no_match_reason == "full":
        return t.say("wish_full")
    return t.say("wish_unavailable")


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
    reason: NoMatchReason = offer.no_match_reason or "unavailable"
    if not others:
        yield _why_not(t, offer) if reason == "outside_hours" else t.say("no_slots")
        yield t.say("ask_time")
        yield t.done(intent=intent)
        return
    if not alternatives_agreed(t):
        yield _why_not(t, offer)
        yield t.say("alternatives_ask")
        yield t.done(intent=intent)
        return
    chosen = others[:2]
    yield _alternative(t, chosen, reason)
    yield t.done(intent=intent, offered=tuple(s.slot for s in chosen))
