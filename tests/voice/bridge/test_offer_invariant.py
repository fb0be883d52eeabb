"""Property test of the offer invariant (issue 15: "for random constraints, calendars and caller answers, no
slot is ever offered as matching without satisfying the constraint").

Random calendars (working hours per weekday, one or two reps, busy times), random constraints (days,
weekdays, windows, exact times, negations), a random moment and a random last exchange (our question
"shall I name other times?" or not, then yes / no / something else) go through the real offer path:
availability.offer_for (find_slots without the database), offers.mark (what crm_tools applies) and
offer_speech.present (what the agent says). The checks:

* no slot is marked matching, offered as the wish, or offered in a plain offer sentence unless it
  satisfies the constraint (read in Berlin wall-clock time, the exact time when one was said);
* a slot that does not is offered only in an "as an alternative, since ..." sentence, and only when our
  last turn asked and the caller said yes;
* "fully booked" is said only when the calendar has working time for the wish that bookings fill.

A second property feeds ``present`` offers whose labels lie (a non-matching "wished" slot, wrong flags),
as a broken backend could: the words still follow the check, not the labels.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from crm.services.business_calendar import WEEKDAY_KEYS, BusinessCalendar
from voice.bridge.availability import MIN_NOTICE, Rep, offer_for
from voice.bridge.dialog import phrases
from voice.bridge.dialog.state import rebuild
from voice.bridge.dialog.timetalk import default_timetalk
from voice.bridge.dialog.turn import Turn as PolicyTurn
from voice.bridge.dialog.types import Callee, Speech, Turn, TurnDone, TurnKind, TurnRequest
from voice.bridge.offer_speech import present
from voice.bridge.offers import SlotChoice, SlotOffer, mark
from voice.bridge.timeprefs.calendar import resolve
from voice.bridge.timeprefs.constraint import TimeConstraint, TimeWindow

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2031, 3, 3)  # no holidays in the weeks after it
TIMETALK = default_timetalk()
ANSWERS = ("Ja, gerne.", "Nein.", "Yes please.", "Okay.", "Hm, weiß nicht.", "No thanks.")


def wall(moment: datetime) -> datetime:
    return moment.astimezone(BERLIN).replace(tzinfo=None)


def satisfied(constraint: TimeConstraint, slot: SlotChoice) -> bool:
    """The specification, restated: the constraint's days and windows on the Berlin wall clock, and the
    exact start when one was said."""
    if constraint.exact is not None and wall(slot.start).time() != constraint.exact:
        return False
    return constraint.empty or constraint.allows(wall(slot.start), wall(slot.end))


clocks = st.integers(12, 44).map(lambda half_hours: time(half_hours // 2, 30 * (half_hours % 2)))  # 06:00-22:00


@st.composite
def windows(draw) -> TimeWindow:
    start, end = draw(st.one_of(st.none(), clocks)), draw(st.one_of(st.none(), clocks))
    if start is not None and end is not None and end <= start:
        start, end = end, start if end < start else None
    return TimeWindow(start, end)


@st.composite
def constraints(draw) -> TimeConstraint:
    days = st.integers(0, 20).map(lambda n: MONDAY + timedelta(days=n))
    return TimeConstraint(
        dates=tuple(draw(st.lists(days, max_size=2, unique=True))),
        weekdays=frozenset(draw(st.sets(st.integers(0, 6), max_size=3))),
        windows=tuple(draw(st.lists(windows(), max_size=2))),
        exact=draw(st.one_of(st.none(), st.none(), clocks)),
        excluded_weekdays=frozenset(draw(st.sets(st.integers(0, 6), max_size=2))),
        excluded_windows=tuple(draw(st.lists(windows(), max_size=1))),
        language=draw(st.sampled_from(("de", "en"))),
    )


@st.composite
def calendars(draw) -> BusinessCalendar:
    hours = {}
    for key in WEEKDAY_KEYS:
        if draw(st.booleans()):
            opens = draw(st.integers(6, 12))
            closes = draw(st.integers(opens + 1, 22))
            hours[key] = ((time(opens), time(closes)),)
    return BusinessCalendar(hours=hours)


@st.composite
def reps(draw) -> list[Rep]:
    out = []
    for user_id in range(1, draw(st.integers(1, 2)) + 1):
        busy = []
        for _ in range(draw(st.integers(0, 25))):
            start = datetime.combine(MONDAY, time(0), BERLIN) + timedelta(
                days=draw(st.integers(0, 16)), minutes=30 * draw(st.integers(12, 44))
            )
            busy.append((start, start + timedelta(minutes=30 * draw(st.integers(1, 8)))))
        out.append(Rep(user_id, draw(calendars()), sorted(busy)))
    return out


moments = st.builds(
    lambda days, half_hours: datetime.combine(MONDAY, time(0), BERLIN) + timedelta(days=days, minutes=30 * half_hours),
    st.integers(0, 6),
    st.integers(12, 42),
)


def spoken(constraint: TimeConstraint, offer: SlotOffer, asked: bool, answer: str, now: datetime):
    """What the agent says about the offer after the given last exchange: (sentences, offered slots)."""
    language = constraint.language
    transcript: list[Turn] = []
    if asked:
        transcript.append(Turn("agent", phrases.say("alternatives_ask", language)))
    transcript.append(Turn("user", answer))
    request = TurnRequest("call-p", "retell", TurnKind.RESPONSE, tuple(transcript), Callee(language=language), now)
    turn = PolicyTurn(request, None, rebuild(request.transcript, language, now, TIMETALK), language, TIMETALK)  # type: ignore[arg-type]

    async def run() -> list:
        return [e async for e in present(turn, constraint, offer, intent="time_preference")]

    events = asyncio.run(run())
    done = events[-1]
    assert isinstance(done, TurnDone) and sum(isinstance(e, TurnDone) for e in events) == 1
    return [e.text.strip() for e in events if isinstance(e, Speech)], done.result.offered


def check_words(constraint: TimeConstraint, asked: bool, answer: str, sentences: list[str], offered) -> None:
    said_yes = asked and answer in ("Ja, gerne.", "Yes please.", "Okay.")
    plain = any(
        s.startswith(("Ein freier Termin", "Frei wären", "I have a free slot", "I could offer")) for s in sentences
    )
    alternative = any(s.startswith(("Als Alternative", "As an alternative")) for s in sentences)
    assert not (plain and alternative)
    if plain:
        assert all(satisfied(constraint, s) for s in offered), (constraint, offered, sentences)
    if offered and not all(satisfied(constraint, s) for s in offered):
        assert alternative and said_yes, (constraint, offered, sentences)
    if alternative:
        assert said_yes and not any(satisfied(constraint, s) for s in offered)


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(constraints(), reps(), moments, st.booleans(), st.sampled_from(ANSWERS))
def test_no_slot_is_presented_as_matching_without_satisfying_the_constraint(constraint, team, now, asked, answer):
    offer = mark(constraint, offer_for(constraint, team, now, owner_id=None))
    for slot in offer.slots:
        assert slot.matches == satisfied(constraint, slot), slot
    assert offer.wished is None or satisfied(constraint, offer.wished)
    sentences, offered = spoken(constraint, offer, asked, answer, now)
    check_words(constraint, asked, answer, sentences, offered)
    if any(phrases.pattern("wish_full", constraint.language).search(s) for s in sentences):
        # Really full: without the bookings some rep would have a slot for the wish.
        free = [resolve(constraint, r.calendar, now, horizon_days=14, lead_time=MIN_NOTICE, limit=1) for r in team]
        assert any(free), (constraint, now)


@st.composite
def lying_offers(draw) -> SlotOffer:
    def slot() -> SlotChoice:
        start = datetime.combine(MONDAY, time(0), BERLIN) + timedelta(
            days=draw(st.integers(0, 20)), minutes=30 * draw(st.integers(12, 44))
        )
        return SlotChoice(start, start + timedelta(minutes=30), 1, matches=draw(st.sampled_from((True, False, None))))

    wished = slot() if draw(st.booleans()) else None
    return SlotOffer(
        wished,
        tuple(slot() for _ in range(draw(st.integers(0, 3)))),
        wish_free=wished is not None,
        no_match_reason=draw(st.sampled_from(("", "full", "outside_hours", "unavailable"))),
        opening_hours=((0, time(9), time(17)),),
    )


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(constraints(), lying_offers(), moments, st.booleans(), st.sampled_from(ANSWERS))
def test_labels_that_lie_do_not_change_what_is_said(constraint, offer, now, asked, answer):
    sentences, offered = spoken(constraint, offer, asked, answer, now)
    check_words(constraint, asked, answer, sentences, offered)
    marked = mark(constraint, offer)
    assert marked.wished is None or satisfied(constraint, marked.wished)
    assert all(s.matches == satisfied(constraint, s) for s in marked.slots)
