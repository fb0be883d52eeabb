"""The one object every availability phrase becomes. Parsers fill it (rules or an LLM's function call);
the resolver turns it into slots. All times are wall-clock times in the business zone (Europe/Berlin)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Any


@dataclass(frozen=True)
class TimeWindow:
    """[start, end) on one day; None means open on that side ("ab 16 Uhr" = (16:00, None))."""

    start: time | None = None
    end: time | None = None

    def contains(self, moment: time, until: time | None = None) -> bool:
        """True when [moment, until) lies inside the window (until defaults to moment)."""
        end = until or moment
        if self.start is not None and moment < self.start:
            return False
        if self.end is not None and end > self.end:
            return False
        return True


@dataclass(frozen=True)
class TimeConstraint:
    """What a callee said about when they can, as a conjunction of parts; empty parts mean "any".

    * ``dates``: the callee named specific days (any of them);
    * ``date_from`` / ``date_to``: a range of days, inclusive ("nächste Woche", "ab dem 10.");
    * ``weekdays``: allowed weekdays, 0 = Monday ("nur montags und mittwochs");
    * ``windows``: allowed time windows on a day (any of them; "vormittags" = 08:00-12:00);
    * ``exact``: a wished start time ("um halb drei" = 14:30), preferred but other times of the day
      inside ``windows`` are acceptable alternatives;
    * ``day_windows``: windows that apply to one weekday only ("Mittwoch oder Freitag vormittags" ties
      the morning to Friday): weekday -> windows; takes precedence over ``windows`` for that weekday;
    * ``excluded_weekdays`` / ``excluded_dates`` / ``excluded_windows``: negations ("nicht freitags",
      "not before 10" = excluded (None, 10:00));
    * ``raw`` / ``language``: the utterance it came from;
    * ``unsure``: the parser found no time information it could trust.
    """

    dates: tuple[date, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    weekdays: frozenset[int] = frozenset()
    windows: tuple[TimeWindow, ...] = ()
    exact: time | None = None
    day_windows: tuple[tuple[int, tuple[TimeWindow, ...]], ...] = ()
    excluded_weekdays: frozenset[int] = frozenset()
    excluded_dates: tuple[date, ...] = ()
    excluded_windows: tuple[TimeWindow, ...] = ()
    raw: str = ""
    language: str = "de"
    unsure: bool = field(default=False, compare=False)

    @property
    def empty(self) -> bool:
        return not (
            self.dates
            or self.date_from
            or self.date_to
            or self.weekdays
            or self.windows
            or self.exact
            or self.day_windows
            or self.excluded_weekdays
            or self.excluded_dates
            or self.excluded_windows
        )

    def allows_day(self, day: date) -> bool:
        if day in self.excluded_dates or day.weekday() in self.excluded_weekdays:
            return False
        if self.dates and day not in self.dates:
            return False
        if self.date_from and day < self.date_from:
            return False
        if self.date_to and day > self.date_to:
            return False
        if self.weekdays and day.weekday() not in self.weekdays:
            return False
        return True

    def windows_for(self, weekday: int) -> tuple[TimeWindow, ...]:
        for wd, windows in self.day_windows:
            if wd == weekday:
                return windows
        return self.windows

    def allows(self, start: datetime, end: datetime) -> bool:
        """True when a slot [start, end) (naive or aware wall-clock in the business zone) satisfies it."""
        day = start.date()
        if not self.allows_day(day):
            return False
        windows = self.windows_for(day.weekday())
        t0, t1 = start.time(), end.time() if end.date() == day else time.max
        if windows and not any(w.contains(t0, t1) for w in windows):
            return False
        for w in self.excluded_windows:
            # A slot touching an excluded window at all is out ("nicht vor 10": a 09:30 slot is out).
            if (w.start is None or t1 > w.start) and (w.end is None or t0 < w.end):
                return False
        return True

    def merged(self, correction: TimeConstraint) -> TimeConstraint:
        """A later utterance corrects this one ("doch lieber Freitag"): each part the correction names
        replaces ours; negations accumulate."""
        updates: dict[str, Any] = {}
        for name in ("dates", "date_from", "date_to", "weekdays", "windows", "exact", "day_windows"):
            value = getattr(correction, name)
            if value:
                updates[name] = value
        if correction.dates or correction.weekdays:
            # A new day choice drops the old day choice of the other kind.
            updates.setdefault("dates", correction.dates)
            updates.setdefault("weekdays", correction.weekdays)
            if not correction.date_from and not correction.date_to and correction.dates:
                updates.update(date_from=None, date_to=None)
        updates["excluded_weekdays"] = self.excluded_weekdays | correction.excluded_weekdays
        updates["excluded_dates"] = tuple(dict.fromkeys(self.excluded_dates + correction.excluded_dates))
        updates["excluded_windows"] = tuple(dict.fromkeys(self.excluded_windows + correction.excluded_windows))
        updates["raw"] = f"{self.raw} | {correction.raw}".strip(" |")
        return replace(self, **updates)
