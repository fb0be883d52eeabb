"""Slot offers and the offer invariant (docs/voice-bridge.md §V11).

One ``SlotChoice`` and one ``SlotOffer`` for the whole bridge: availability.py builds them, the CRM tools
(crm_tools.py) hand them to the dialog policies, the tool results sent to Retell and Vapi are their JSON.

The invariant: a slot is presented as matching the caller's wish only when ``satisfies`` says so. Every
path that presents slots asks ``satisfies`` (or reads ``SlotChoice.matches``, which only ``mark`` sets from
it); whatever it refuses is an alternative, said as one. Pure code: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Literal, TypedDict
from zoneinfo import ZoneInfo

from voice.bridge.timeprefs.constraint import TimeConstraint

BUSINESS_TZ = ZoneInfo("Europe/Berlin")

# Why no slot matched the wish: it lies outside the opening hours, the calendar is really full there, or
# neither (too soon, a holiday, beyond the horizon). Empty: a slot matched (or nothing was asked).
NoMatchReason = Literal["", "outside_hours", "full", "unavailable"]

# Opening hours as said to the caller: (weekday 0 = Monday, opens, closes), Berlin wall clock.
OpeningHours = tuple[tuple[int, time, time], ...]


def satisfies(constraint: TimeConstraint | None, start: datetime, end: datetime) -> bool:
    """The one check: does the slot [start, end) (aware) satisfy what the caller said? Read in Berlin
    wall-clock time, as the caller speaks. An exact wished time ("um 14 Uhr") is only met by a slot that
    starts then. No constraint (or an empty one) is satisfied by every slot."""
    if constraint is None or constraint.empty:
        return True
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("naive datetime: slots are aware")
    wall_start = start.astimezone(BUSINESS_TZ).replace(tzinfo=None)
    wall_end = end.astimezone(BUSINESS_TZ).replace(tzinfo=None)
    if constraint.exact is not None and wall_start.time() != constraint.exact:
        return False
    return constraint.allows(wall_start, wall_end)


class SlotJson(TypedDict):
    start: str
    end: str
    owner_id: int | None
    matches: bool | None
    spoken: str | None


class OfferJson(TypedDict):
    wished: SlotJson | None
    alternatives: list[SlotJson]
    wish_free: bool
    # "outside_hours" | "full" | "unavailable" | null: why no slot matched
    no_match_reason: str | None
    opening_hours: list[list[str]]


@dataclass(frozen=True)
class SlotChoice:
    start: datetime  # aware
    end: datetime
    owner_id: int | None = None
    # Satisfies the caller's constraint: set by ``mark`` from ``satisfies``; None when nobody checked (a
    # speaker then checks itself, and a booking of it records "not known").
    matches: bool | None = None

    def to_json(self, spoken: str | None = None) -> SlotJson:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "owner_id": self.owner_id,
            "matches": self.matches,
            "spoken": spoken,
        }


@dataclass(frozen=True)
class SlotOffer:
    """The answer to a wish. ``wished``: the slot that satisfies the wish, when one is free (``wish_free``);
    ``alternatives``: the best other slots when none is. Each slot names the rep it is for (the owner, or
    the team member who is free then). ``no_match_reason`` says why nothing matched and ``opening_hours``
    are the hours to name when the wish lies outside them."""

    wished: SlotChoice | None
    alternatives: tuple[SlotChoice, ...] = ()
    wish_free: bool = False
    # The owner asked for, or None when the team's calendars were used.
    owner_id: int | None = None
    no_match_reason: NoMatchReason = ""
    opening_hours: OpeningHours = ()

    @property
    def slots(self) -> tuple[SlotChoice, ...]:
        return ((self.wished,) if self.wished else ()) + self.alternatives

    def to_json(self, render: Callable[[datetime], str] | None = None) -> OfferJson:
        def one(slot: SlotChoice) -> SlotJson:
            return slot.to_json(render(slot.start) if render is not None else None)

        return {
            "wished": one(self.wished) if self.wished else None,
            "alternatives": [one(s) for s in self.alternatives],
            "wish_free": self.wish_free,
            "no_match_reason": self.no_match_reason or None,
            "opening_hours": [[str(day), a.strftime("%H:%M"), b.strftime("%H:%M")] for day, a, b in self.opening_hours],
        }

    def tool_result(self, render: Callable[[datetime], str] | None = None) -> str:
        """The JSON text a provider's LLM reads (Retell tool_call_result content, Vapi result)."""
        return json.dumps(self.to_json(render), ensure_ascii=False)


def mark(constraint: TimeConstraint | None, offer: SlotOffer) -> SlotOffer:
    """The offer with every slot's ``matches`` set by ``satisfies``. A ``wished`` slot that does not
    satisfy the constraint is moved to the alternatives: nothing unchecked is ever called the wish."""

    def checked(slot: SlotChoice) -> SlotChoice:
        return replace(slot, matches=satisfies(constraint, slot.start, slot.end))

    wished = checked(offer.wished) if offer.wished is not None else None
    alternatives = tuple(checked(s) for s in offer.alternatives)
    if wished is not None and not wished.matches:
        return replace(offer, wished=None, alternatives=(wished, *alternatives), wish_free=False)
    return replace(offer, wished=wished, alternatives=alternatives)


def split(
    constraint: TimeConstraint | None, slots: tuple[SlotChoice, ...]
) -> tuple[list[SlotChoice], list[SlotChoice]]:
    """(matching, alternatives) by ``satisfies``, whatever the slots' flags say: what a speaker checks
    right before it speaks."""
    matching = [s for s in slots if satisfies(constraint, s.start, s.end)]
    others = [s for s in slots if not satisfies(constraint, s.start, s.end)]
    return matching, others
