"""Why a wish found no slot, and the alternatives nearest to it (docs/voice-bridge.md §V11).

Pure code over ``BusinessCalendar``s (crm/services/business_calendar.py): no I/O. availability.py asks it
when no free slot satisfies the caller's constraint:

* ``no_match_reason``: "full" when the calendar has working time there but it is booked, "outside_hours"
  when the wish does not meet the opening hours at all (Saturday morning, after seven in the evening),
  "unavailable" otherwise (too soon, a holiday, beyond the horizon);
* ``nearest``: for a wish outside the hours, the free slots closest to the wished moment, one before and
  one after it where there are both, not the day's first slots;
* ``opening_hours``: the hours to name to the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from crm.services.business_calendar import WEEKDAY_KEYS, BusinessCalendar, Slot, local_time
from voice.bridge.offers import OpeningHours
from voice.bridge.timeprefs.constraint import TimeConstraint, TimeWindow

BERLIN = ZoneInfo("Europe/Berlin")

Reason = Literal["outside_hours", "full", "unavailable"]


def _weekdays(constraint: TimeConstraint) -> set[int]:
    days = {d.weekday() for d in constraint.dates} if constraint.dates else set(range(7))
    if constraint.weekdays:
        days &= set(constraint.weekdays)
    return days - set(constraint.excluded_weekdays)


def _fits(window: TimeWindow, opens: time, closes: time, duration: timedelta, exact: time | None) -> bool:
    """Whether a slot of ``duration`` fits in the window and the working interval [opens, closes)."""
    day = date(2000, 1, 3)
    start = max(opens, window.start) if window.start is not None else opens
    end = min(closes, window.end) if window.end is not None else closes
    if exact is not None:
        if exact < start:
            return False
        start = exact
    return datetime.combine(day, start) + duration <= datetime.combine(day, end)


# A week without holidays or clock changes: working hours are moved into Berlin time on its days.
_REFERENCE_MONDAY = date(2031, 3, 3)


def berlin_hours(calendar: BusinessCalendar, weekday: int) -> list[tuple[time, time]]:
    """The calendar's working intervals on a weekday, as Berlin wall-clock times (a rep in another zone
    works other Berlin hours); an interval running past midnight in Berlin ends at midnight."""
    day = _REFERENCE_MONDAY + timedelta(days=weekday)
    out = []
    for opens, closes in calendar.hours.get(WEEKDAY_KEYS[weekday], ()):
        start = local_time(day, opens, calendar.zone).astimezone(BERLIN)
        end = local_time(day, closes, calendar.zone).astimezone(BERLIN) if closes != time.max else None
        out.append((start.time(), end.time() if end is not None and end.date() == start.date() else time.max))
    return out


def meets_hours(constraint: TimeConstraint, calendar: BusinessCalendar, duration: timedelta) -> bool:
    """Whether the wish's weekdays and times of day meet the calendar's weekly working hours at all
    (dates, holidays and bookings aside), in Berlin wall-clock time, as the caller speaks."""
    for weekday in _weekdays(constraint):
        windows = constraint.windows_for(weekday) or (TimeWindow(),)
        for opens, closes in berlin_hours(calendar, weekday):
            if any(_fits(w, opens, closes, duration, constraint.exact) for w in windows):
                return True
    return False


def no_match_reason(
    constraint: TimeConstraint, calendars: Iterable[BusinessCalendar], duration: timedelta, *, free_without_busy: bool
) -> Reason:
    """Why no free slot satisfies the wish: ``free_without_busy`` says whether one would were nothing
    booked (the calendar is really full there)."""
    if free_without_busy:
        return "full"
    if not any(meets_hours(constraint, c, duration) for c in calendars):
        return "outside_hours"
    return "unavailable"


def wish_moment(constraint: TimeConstraint, now: datetime, horizon_days: int) -> datetime | None:
    """The first moment the wish points at, ignoring opening hours: its first allowed day from today on
    and its time (the exact time, else the first window's start, else its end)."""
    today = now.astimezone(BERLIN).date()
    first = max([today, *([min(constraint.dates)] if constraint.dates else []), constraint.date_from or today])
    for offset in range(horizon_days + 1):
        day = first + timedelta(days=offset)
        if not constraint.allows_day(day):
            continue
        windows = constraint.windows_for(day.weekday())
        clock = constraint.exact
        for w in windows:
            clock = clock or w.start or w.end
        moment = local_time(day, clock or time(12), BERLIN)
        if moment > now:
            return moment
    return None


def nearest(candidates: Iterable[Slot], target: datetime, n: int = 2) -> list[Slot]:
    """The n free slots nearest to ``target``: the closest one before and the closest one after it when
    there are both, then by distance; never two that overlap."""
    pool = sorted(candidates, key=lambda s: (abs(s.start - target), s.start))
    before = next((s for s in pool if s.start < target), None)
    after = next((s for s in pool if s.start >= target), None)
    chosen: list[Slot] = []
    for slot in [s for s in (before, after) if s is not None] + pool:
        if len(chosen) == n:
            break
        if any(c.start < slot.end and slot.start < c.end for c in chosen):
            continue
        chosen.append(slot)
    return sorted(chosen, key=lambda s: (abs(s.start - target), s.start))


def opening_hours(calendars: Iterable[BusinessCalendar]) -> OpeningHours:
    """The weekly hours to name, in Berlin time: per weekday, from the earliest opening to the latest
    closing of the calendars given (the owner's, or the team's)."""
    spans: dict[int, tuple[time, time]] = {}
    for calendar in calendars:
        for weekday in range(7):
            intervals = berlin_hours(calendar, weekday)
            if not intervals:
                continue
            opens, closes = min(a for a, _ in intervals), max(b for _, b in intervals)
            if weekday in spans:
                opens, closes = min(opens, spans[weekday][0]), max(closes, spans[weekday][1])
            spans[weekday] = (opens, closes)
    return tuple((weekday, a, b) for weekday, (a, b) in sorted(spans.items()))
