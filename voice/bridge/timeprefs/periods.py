"""Named periods of the year callers put a callback after or before: Christmas, New Year, Easter and
"the holidays". Each is the next occurrence that is not over yet (under way counts), as a day span.

* ``christmas`` = 24.-26.12.; ``newyear`` = 1.1.; ``easter`` = Good Friday to Easter Monday;
* ``holidays`` ("nach den Feiertagen", "after the holidays") = the year-end holidays 24.12.-1.1. from
  October to January, else Easter when it is nearer than the year end, else the year-end holidays;
* ``nextyear`` ("im neuen Jahr", "in the new year") = the whole next calendar year;
* ``weekend`` ("nach dem Wochenende", "before the weekend") = the coming Saturday and Sunday; only
  with a side (a bare "am Wochenende" is recurring weekdays, read by the grammars).

A phrase puts a side on it (``Ref.mod``): "after" = from the day after its end, "before" = up to the
day before its start, "during" = the span itself.
"""

from __future__ import annotations

from datetime import date, timedelta

NAMES = frozenset({"christmas", "newyear", "easter", "holidays", "nextyear", "weekend"})
SIDE_ONLY = frozenset({"weekend"})


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _next(today: date, spans: list[tuple[date, date]]) -> tuple[date, date]:
    """The first span that has not ended before today."""
    return next(s for s in sorted(spans) if s[1] >= today)


def span(name: str, today: date) -> tuple[date, date]:
    """The days of the named period that comes next (or is under way) as of `today`."""
    years = (today.year - 1, today.year, today.year + 1)
    year_end = [(date(y, 12, 24), date(y + 1, 1, 1)) for y in years]
    easter = [(easter_sunday(y) - timedelta(days=2), easter_sunday(y) + timedelta(days=1)) for y in years]
    if name == "christmas":
        return _next(today, [(date(y, 12, 24), date(y, 12, 26)) for y in years])
    if name == "newyear":
        return _next(today, [(date(y, 1, 1), date(y, 1, 1)) for y in years])
    if name == "easter":
        return _next(today, easter)
    if name == "weekend":
        if today.weekday() == 6:
            return today, today  # Sunday: the weekend under way
        saturday = today + timedelta(days=5 - today.weekday())
        return saturday, saturday + timedelta(days=1)
    if name == "nextyear":
        return date(today.year + 1, 1, 1), date(today.year + 1, 12, 31)
    if name != "holidays":
        raise ValueError(f"unknown period {name!r}")
    if today.month in (10, 11, 12, 1):
        return _next(today, year_end)
    return _next(today, [*year_end, *easter])


def bounds(name: str, side: str, today: date) -> tuple[date, date]:
    """The day (or days) a phrase about the period names: "after" the day after it, "before" the day
    before it, "from" its first day, "until" its last, "during" its span."""
    start, end = span(name, today)
    if side == "from":
        return start, start
    if side == "until":
        return end, end
    if side == "after":
        return end + timedelta(days=1), end + timedelta(days=1)
    if side == "before":
        return start - timedelta(days=1), start - timedelta(days=1)
    return start, end
