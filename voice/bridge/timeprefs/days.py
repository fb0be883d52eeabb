"""Day arithmetic for spoken day references, all "future only": a named day that has passed means
its next occurrence, never the past one.

Rules (reference Mon 23.11.2026):
* a bare weekday ("Donnerstag", "Friday") is its next occurrence from tomorrow on (26.11); a callee
  who means today says "heute";
* "nächsten Donnerstag" / "next Thursday" is the Thursday of the next calendar week (03.12), the
  same day as "nächste Woche Donnerstag" (docs/voice-bridge.md §2.2, D1). Said on a Sunday that is the coming
  week, so "nächsten Montag" said on Sunday is tomorrow, which is how people use it;
* "diesen Donnerstag" / "this Thursday" is the one of the current week, or the next if it passed;
  "kommenden Donnerstag" / "this coming Thursday" is the next occurrence from tomorrow on;
* "am 17." is the next 17th from today on (17.12); "1. Dezember" without a year is the next 1 Dec;
* weeks are ISO weeks (Monday to Sunday); "Anfang" = Mon-Wed, "Mitte" = Tue-Thu, "Ende" = Thu-Fri;
  "in zwei Wochen" is the calendar week that contains today + 14 days.
"""

from __future__ import annotations

import calendar as _calendar
from datetime import date, timedelta

WEEK_PARTS = {"all": (0, 6), "start": (0, 2), "mid": (1, 3), "end": (3, 4)}


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekday_after(today: date, weekday: int, *, include_today: bool = False) -> date:
    """The next given weekday from tomorrow (or from today)."""
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and not include_today:
        ahead = 7
    return today + timedelta(days=ahead)


def weekday_in_week(today: date, weekday: int, week_offset: int) -> date:
    """The weekday in the calendar week `week_offset` weeks from today's; a past day rolls a week on."""
    day = week_start(today) + timedelta(weeks=week_offset, days=weekday)
    while day < today:
        day += timedelta(weeks=1)
    return day


def week_range(today: date, week_offset: int, part: str = "all") -> tuple[date, date]:
    """The days of (a part of) a calendar week; a part already over rolls to the next week, a part
    under way starts today."""
    first, last = WEEK_PARTS[part]
    monday = week_start(today) + timedelta(weeks=week_offset)
    start, end = monday + timedelta(days=first), monday + timedelta(days=last)
    if end < today:
        start, end = start + timedelta(weeks=1), end + timedelta(weeks=1)
    return max(start, today), end


def next_day_of_month(today: date, day: int) -> date | None:
    """The next date from today on whose day of the month is `day` (skips months too short)."""
    if not 1 <= day <= 31:
        return None
    year, month = today.year, today.month
    for _ in range(14):
        if day <= _calendar.monthrange(year, month)[1]:
            candidate = date(year, month, day)
            if candidate >= today:
                return candidate
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return None


def next_date(today: date, day: int, month: int, year: int | None = None) -> date | None:
    """A calendar date; without a year the next one from today on (29 Feb waits for a leap year)."""
    if year is not None:
        try:
            return date(year if year >= 100 else 2000 + year, month, day)
        except ValueError:
            return None
    for y in range(today.year, today.year + 9):
        try:
            candidate = date(y, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def month_range(today: date, month: int, part: str = "all", year: int | None = None) -> tuple[date, date]:
    """A month (or its first, middle, last ten days); a month already over is next year's."""
    y = year if year is not None else (today.year if month >= today.month else today.year + 1)
    last = _calendar.monthrange(y, month)[1]
    first_day, last_day = {"all": (1, last), "start": (1, 10), "mid": (11, 20), "end": (21, last)}[part]
    start, end = date(y, month, first_day), date(y, month, last_day)
    if end < today and year is None:
        return month_range(today, month, part, year=y + 1)
    return max(start, today), end


def add_months(day: date, months: int) -> date:
    m = day.month - 1 + months
    return date(day.year + m // 12, m % 12 + 1, 1)


def month_week(today: date, month: int, n: int, year: int | None = None) -> tuple[date, date]:
    """The n-th week of a month (n = -1: the last), cut to the month. As with ISO weeks, a week belongs
    to the month that holds its Thursday: "die zweite Dezemberwoche" 2026 = 7.-13.12., "die erste
    Januarwoche" 2027 = 4.-10.1. (1.1. is a Friday), "the last week of November" 2026 = 23.-29.11. A
    week already over is next year's; a fifth week the month does not have is an empty span."""
    y = year if year is not None else (today.year if month >= today.month else today.year + 1)
    first, last = date(y, month, 1), date(y, month, _calendar.monthrange(y, month)[1])
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    last_thursday = last - timedelta(days=(last.weekday() - 3) % 7)
    thursday = last_thursday if n == -1 else first_thursday + timedelta(weeks=n - 1)
    if thursday.month != month:
        return first, first - timedelta(days=1)  # no such week: an empty span
    start, end = max(thursday - timedelta(days=3), first), min(thursday + timedelta(days=3), last)
    if end < today and year is None:
        return month_week(today, month, n, year=y + 1)
    return max(start, today), end
