"""Report periods: a day, an ISO week or a calendar month in Europe/Berlin, as a half-open UTC range.

A period is a range of local calendar days [first_day, last_day]; its instants are
[first_day 00:00 local, (last_day + 1) 00:00 local), converted to UTC. Local midnight always exists
in Europe/Berlin (the clocks change at 02:00/03:00), so on DST change days the daily period is simply
shorter or longer: 2026-03-29 has 23 hours, 2026-10-25 has 25.

The previous period is the preceding calendar period of the same kind (the day before, the week
before, the month before): "equal length" in calendar units, which is what a manager compares (a DST
day against the day before; March against February). A custom range is compared with the range of the
same number of days right before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

REPORT_TZ = "Europe/Berlin"
KINDS = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class Period:
    kind: str  # daily | weekly | monthly | custom
    first_day: date  # local calendar days, both inclusive
    last_day: date
    tz: str = REPORT_TZ

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError("a period ends on or after its first day")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day, self.zone)

    @property
    def end(self) -> datetime:
        """Exclusive."""
        return local_midnight(self.last_day + timedelta(days=1), self.zone)

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)]

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def previous(self) -> Period:
        if self.kind == "daily":
            return daily(self.first_day - timedelta(days=1), self.tz)
        if self.kind == "weekly":
            return weekly(self.first_day - timedelta(days=7), self.tz)
        if self.kind == "monthly":
            return monthly(self.first_day - timedelta(days=1), self.tz)
        length = (self.last_day - self.first_day).days + 1
        return Period("custom", self.first_day - timedelta(days=length), self.first_day - timedelta(days=1), self.tz)

    def trend_days(self, count: int = 30) -> Period:
        """The `count` local days ending with the period's last day (the 30-day trend)."""
        return Period("custom", self.last_day - timedelta(days=count - 1), self.last_day, self.tz)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def daily(day: date, tz: str = REPORT_TZ) -> Period:
    return Period("daily", day, day, tz)


def weekly(day: date, tz: str = REPORT_TZ) -> Period:
    monday = day - timedelta(days=day.weekday())
    return Period("weekly", monday, monday + timedelta(days=6), tz)


def monthly(day: date, tz: str = REPORT_TZ) -> Period:
    first = day.replace(day=1)
    next_first = (first + timedelta(days=32)).replace(day=1)
    return Period("monthly", first, next_first - timedelta(days=1), tz)


def period_for(kind: str, day: date | str, tz: str = REPORT_TZ) -> Period:
    """The daily, weekly (ISO week, Monday to Sunday) or monthly period that contains `day`."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    builders = {"daily": daily, "weekly": weekly, "monthly": monthly}
    if kind not in builders:
        raise ValueError(f"unknown period {kind!r}; choose one of {', '.join(KINDS)}")
    return builders[kind](day, tz)


def local_date(moment: datetime, tz: str = REPORT_TZ) -> date:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(ZoneInfo(tz)).date()


def scheduled_period(kind: str, run_at: datetime, tz: str = REPORT_TZ) -> Period:
    """The period a scheduled run reports on: the daily run (18:00) covers its own day so far; the
    weekly run (Monday 08:00) the previous ISO week; the monthly run (the 1st, 08:00) the previous month."""
    today = local_date(run_at, tz)
    if kind == "daily":
        return daily(today, tz)
    return period_for(kind, today - timedelta(days=1), tz)
