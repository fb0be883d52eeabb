"""The resolver: ``TimeConstraint`` (what the callee said) → concrete bookable slots of a rep's
``BusinessCalendar`` (crm/services/business_calendar.py, working hours, holidays, closed days).

Pure code. The database side (confirmed appointments) passes them in as ``busy`` intervals.

Rules: slots lie inside working hours (per weekday, in the calendar's zone), never on a day the calendar
is closed, start no sooner than ``lead_time`` after now, and satisfy the constraint read in Europe/Berlin
wall-clock time (what the callee said). Windows are end-exclusive: a 30-minute slot "bis 12" ends at
12:00 at the latest.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from crm.services.business_calendar import BUSINESS_TZ, LEAD_TIME, BusinessCalendar, Slot, local_time
from voice.bridge.timeprefs.constraint import TimeConstraint


class ScanOptions(TypedDict, total=False):
    """The scan settings resolve() and alternatives() share, handed on as ``**options``."""

    duration: timedelta
    step: timedelta
    horizon_days: int
    lead_time: timedelta


def _wall(moment: datetime) -> datetime:
    """Naive Europe/Berlin wall-clock time: what the constraint speaks."""
    return moment.astimezone(ZoneInfo(BUSINESS_TZ)).replace(tzinfo=None)


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=ZoneInfo(BUSINESS_TZ))


def _day_range(constraint: TimeConstraint, first: date, horizon_days: int) -> tuple[date, date]:
    """The local days worth scanning: from the first day the constraint can allow (so a named day
    beyond the horizon still resolves), for the horizon."""
    lower = [first]
    if constraint.dates:
        lower.append(min(constraint.dates))
    if constraint.date_from:
        lower.append(constraint.date_from)
    start = max(lower)
    end = start + timedelta(days=horizon_days)
    if constraint.dates:
        end = min(end, max(constraint.dates))
    if constraint.date_to:
        end = min(end, constraint.date_to)
    return start, end


def resolve(
    constraint: TimeConstraint,
    calendar: BusinessCalendar,
    now: datetime,
    *,
    duration: timedelta = timedelta(minutes=30),
    step: timedelta = timedelta(minutes=30),
    horizon_days: int = 28,
    limit: int | None = None,
    busy: Iterable[tuple[datetime, datetime]] = (),
    lead_time: timedelta = LEAD_TIME,
) -> list[Slot]:
    """Every slot the constraint allows inside the calendar's working hours, strictly after now (and
    no sooner than ``lead_time``), not overlapping ``busy``; the exact wish first, then earliest."""
    if duration <= timedelta(0) or step <= timedelta(0):
        raise ValueError("duration and step must be positive")
    zone = calendar.zone
    now = _aware(now)
    earliest = now + lead_time
    blocked = _merged(sorted((_aware(a).astimezone(UTC), _aware(b).astimezone(UTC)) for a, b in busy))
    begins = [a for a, _ in blocked]  # for the binary searches
    first, last = _day_range(constraint, earliest.astimezone(ZoneInfo(BUSINESS_TZ)).date(), horizon_days)
    exact_slots: list[Slot] = []
    other_slots: list[Slot] = []
    seen: set[datetime] = set()
    day = first - timedelta(days=1)  # a zone ahead of Berlin can hold Berlin's first day a day early
    while day <= last + timedelta(days=1):
        for open_at, close_at in calendar.intervals(day):
            if _covered(blocked, begins, open_at, close_at):
                continue  # booked solid: no start in it can be free (a synced calendar's full days)
            for start in _starts(open_at, close_at, duration, step, constraint, zone):
                end = start + duration
                if start in seen or start <= now or start < earliest or end > close_at:
                    continue
                wall_start, wall_end = _wall(start), _wall(end)
                if not first <= wall_start.date() <= last:
                    continue
                if not constraint.allows(wall_start, wall_end) or _overlaps(blocked, begins, start, end):
                    continue
                seen.add(start)
                exact = constraint.exact is not None and wall_start.time() == constraint.exact
                (exact_slots if exact else other_slots).append(Slot(start, end, exact))
        if limit is not None and constraint.exact is None and len(other_slots) >= limit:
            break
        day += timedelta(days=1)
    exact_slots.sort()
    other_slots.sort()
    slots = exact_slots + other_slots
    return slots[:limit] if limit is not None else slots


def _starts(
    open_at: datetime,
    close_at: datetime,
    duration: timedelta,
    step: timedelta,
    constraint: TimeConstraint,
    zone: ZoneInfo,
) -> list[datetime]:
    """Grid starts from the opening time, plus the wished exact time when it is off the grid."""
    starts = []
    t = open_at
    while t + duration <= close_at:
        starts.append(t)
        t = (t.astimezone(UTC) + step).astimezone(zone)
    if constraint.exact is not None:
        berlin = ZoneInfo(BUSINESS_TZ)
        for d in {_wall(open_at).date(), _wall(close_at).date()}:
            wished = local_time(d, constraint.exact, berlin).astimezone(zone)
            if open_at <= wished and wished + duration <= close_at and wished not in starts:
                starts.append(wished)
        starts.sort()
    return starts


def _merged(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted intervals with the overlapping ones joined: disjoint, so one binary search answers _overlaps
    (a rep's synced calendar brings hundreds of busy times; issue 18's bench/calendar_slots.py)."""
    out: list[tuple[datetime, datetime]] = []
    for a, b in intervals:
        if out and a < out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _covered(blocked: list[tuple[datetime, datetime]], begins: list[datetime], start: datetime, end: datetime) -> bool:
    """`blocked` sorted and disjoint (_merged), `begins` their starts: one interval holds all of [start, end)."""
    i = bisect_right(begins, start)
    return i > 0 and blocked[i - 1][1] >= end


def _overlaps(blocked: list[tuple[datetime, datetime]], begins: list[datetime], start: datetime, end: datetime) -> bool:
    """`blocked` sorted and disjoint (_merged), `begins` their starts: only the last interval starting before
    `end` can overlap."""
    i = bisect_left(begins, end)
    return i > 0 and blocked[i - 1][1] > start


def rank_alternatives(
    constraint: TimeConstraint, candidates: Iterable[Slot], n: int = 2, *, wished: datetime | None = None
) -> list[Slot]:
    """The n best alternatives to a wish that is not free: on the wished day first, closest in time;
    then the nearest other days, at the time of day closest to the wish (earlier on a tie); never the
    wished start itself, never two that overlap each other."""
    pool = sorted(candidates, key=lambda s: s.start)
    if not pool or n <= 0:
        return []
    target = _aware(wished) if wished is not None else _wish_of(constraint, pool)
    target_day = _wall(target).date()

    wish_minutes = _wall(target).hour * 60 + _wall(target).minute

    def key(slot: Slot) -> tuple[int, int, datetime]:
        local = _wall(slot.start)
        return (abs((local.date() - target_day).days), abs(local.hour * 60 + local.minute - wish_minutes), slot.start)

    chosen: list[Slot] = []
    for slot in sorted(pool, key=key):
        if slot.start == target or any(c.start < slot.end and slot.start < c.end for c in chosen):
            continue
        chosen.append(slot)
        if len(chosen) == n:
            break
    return chosen


def _wish_of(constraint: TimeConstraint, pool: list[Slot]) -> datetime:
    """The moment the callee wished, as far as the constraint says (a missing day: the first
    candidate's; a missing time: the first window's start, else the first candidate's)."""
    first = _wall(pool[0].start)
    day = (min(constraint.dates) if constraint.dates else constraint.date_from) or first.date()
    windows = constraint.windows_for(day.weekday())
    clock = constraint.exact or next((w.start for w in windows if w.start is not None), None) or first.time()
    return local_time(day, clock, ZoneInfo(BUSINESS_TZ))


def alternatives(
    constraint: TimeConstraint,
    calendar: BusinessCalendar,
    now: datetime,
    *,
    duration: timedelta = timedelta(minutes=30),
    step: timedelta = timedelta(minutes=30),
    horizon_days: int = 28,
    count: int = 2,
    busy: Iterable[tuple[datetime, datetime]] = (),
    lead_time: timedelta = LEAD_TIME,
) -> list[Slot]:
    """The `count` best free slots to offer when the wish itself is taken: ranked against the wish
    among slots the constraint allows; if too few, the wished days at any time, then any day (the
    callee's negations always hold)."""
    busy = list(busy)
    kwargs: ScanOptions = {"duration": duration, "step": step, "horizon_days": horizon_days, "lead_time": lead_time}
    wish_slots = resolve(constraint, calendar, now, limit=1, **kwargs)
    wished = wish_slots[0].start if wish_slots else None
    relaxed = [
        constraint,
        TimeConstraint(
            dates=constraint.dates,
            date_from=constraint.date_from,
            date_to=constraint.date_to,
            weekdays=constraint.weekdays,
            exact=constraint.exact,
            excluded_weekdays=constraint.excluded_weekdays,
            excluded_dates=constraint.excluded_dates,
            excluded_windows=constraint.excluded_windows,
        ),
        TimeConstraint(
            exact=constraint.exact,
            excluded_weekdays=constraint.excluded_weekdays,
            excluded_dates=constraint.excluded_dates,
            excluded_windows=constraint.excluded_windows,
        ),
    ]
    picked: list[Slot] = []
    for c in relaxed:
        free = [s for s in resolve(c, calendar, now, busy=busy, **kwargs) if all(s.start != p.start for p in picked)]
        for slot in rank_alternatives(constraint, free, count - len(picked), wished=wished):
            if not any(p.start < slot.end and slot.start < p.end for p in picked):
                picked.append(slot)
        if len(picked) >= count:
            break
    return picked[:count]
