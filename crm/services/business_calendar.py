"""A rep's business calendar: working hours per weekday in the rep's zone, German public holidays
(national plus the state: the rep's company's, Company.state) and the office's own closed days, and the
bookable ``Slot``.

Pure code, shared by the CRM (a task's due time inside the owner's working day) and the voice bridge
(which resolves a spoken time wish against it in voice/bridge/timeprefs/calendar.py). It lives in the
CRM layer because the CRM needs it and must not import the bridge above it.

The office's closed days default to 24.12 and 31.12: not statutory, but German offices are closed or
half-staffed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

BUSINESS_TZ = "Europe/Berlin"
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TEAM_HOURS: Mapping[str, tuple[tuple[time, time], ...]] = {key: ((time(9), time(17)),) for key in WEEKDAY_KEYS[:5]}
DEFAULT_CLOSED_EVERY_YEAR = frozenset({(12, 24), (12, 31)})
LEAD_TIME = timedelta(hours=1)

Hours = Mapping[str, tuple[tuple[time, time], ...]]


class CompanyPlace(Protocol):
    """Where a company is (crm.models.Company has both): its time zone and Bundesland (None: national
    holidays only)."""

    @property
    def timezone(self) -> str | None: ...

    @property
    def state(self) -> str | None: ...


@lru_cache(maxsize=64)
def _holidays(subdiv: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("DE", subdiv=subdiv, years=year))


def _clock(value: str | time) -> time:
    if isinstance(value, time):
        return value
    text = str(value).strip()
    if text in ("24:00", "24:00:00"):
        return time.max
    try:
        hour, minute = text.split(":")[:2]
        return time(int(hour), int(minute))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a clock time: {value!r}") from exc


def parse_hours(hours: Mapping[str, Iterable] | None) -> Hours:
    """{"mon": [["09:00", "12:00"], ["13:00", "17:00"]], ...} → intervals per weekday key; a missing
    weekday is closed. None means the team default."""
    if hours is None:
        return dict(TEAM_HOURS)
    result: dict[str, tuple[tuple[time, time], ...]] = {}
    for key, intervals in hours.items():
        k = str(key).strip().lower()[:3]
        if k not in WEEKDAY_KEYS:
            raise ValueError(f"unknown weekday key: {key!r}")
        parsed = []
        for interval in intervals or ():
            start, end = (_clock(v) for v in interval)
            if not start < end:
                raise ValueError(f"empty working-hours interval on {key}: {interval!r}")
            parsed.append((start, end))
        result[k] = tuple(sorted(parsed))
    return result


@dataclass(frozen=True)
class BusinessCalendar:
    tz: str = BUSINESS_TZ
    hours: Hours = field(default_factory=lambda: dict(TEAM_HOURS))
    subdiv: str | None = None
    closed_dates: frozenset[date] = frozenset()
    closed_every_year: frozenset[tuple[int, int]] = DEFAULT_CLOSED_EVERY_YEAR

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone: {self.tz!r}") from exc
        try:
            _holidays(self.subdiv, 2026)
        except NotImplementedError as exc:
            raise ValueError(f"unknown German state: {self.subdiv!r}") from exc

    @classmethod
    def from_user_hours(
        cls,
        hours: Mapping[str, Iterable] | None,
        tz: str | None,
        subdiv: str | None = None,
        *,
        company: CompanyPlace | None = None,
        **extra,
    ) -> BusinessCalendar:
        """A rep's calendar from User.working_hours / User.timezone (None = the team default). With `company`
        (the rep's Company row), its time zone stands in for a rep without one and its state's holidays
        apply unless `subdiv` names another."""
        if company is not None:
            tz = tz or company.timezone
            subdiv = subdiv or company.state
        return cls(tz=tz or BUSINESS_TZ, hours=parse_hours(hours), subdiv=subdiv, **extra)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def is_holiday(self, day: date) -> bool:
        return day in _holidays(self.subdiv, day.year)

    def is_closed(self, day: date) -> bool:
        return (
            self.is_holiday(day)
            or day in self.closed_dates
            or (day.month, day.day) in self.closed_every_year
            or not self.hours.get(WEEKDAY_KEYS[day.weekday()])
        )

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """Working intervals of a local day, as aware datetimes in the calendar's zone."""
        if self.is_closed(day):
            return []
        return [
            (local_time(day, a, self.zone), local_time(day, b, self.zone))
            for a, b in self.hours.get(WEEKDAY_KEYS[day.weekday()], ())
        ]

    def is_open(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end) lies inside one working interval of a working day."""
        local = start.astimezone(self.zone)
        return any(a <= start and end <= b for a, b in self.intervals(local.date()))


@dataclass(frozen=True, order=True)
class Slot:
    start: datetime
    end: datetime
    exact_match: bool = False


def local_time(day: date, clock: time, zone: ZoneInfo) -> datetime:
    # Through UTC so that a wall-clock time in a DST gap lands on a real instant.
    return datetime.combine(day, clock, zone).astimezone(UTC).astimezone(zone)
