"""Calling hours: windows of local wall-clock time by phone region, their configuration
(LEADCHAIN_CALLING_HOURS's JSON, see crm.services.compliance), German public holidays, and the time
arithmetic (is an instant inside a window, when does the next one open, across weekends, holidays and DST)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

log = logging.getLogger(__name__)

FALLBACK_ZONE = "Europe/Berlin"
# Used only when a lead has no phone_timezone. Countries spanning several zones get a default
# (US: America/New_York); intake stores the zone of the number itself when libphonenumber knows it.
REGION_ZONES = {
    "DE": "Europe/Berlin",
    "AT": "Europe/Vienna",
    "CH": "Europe/Zurich",
    "LI": "Europe/Vaduz",
    "LU": "Europe/Luxembourg",
    "NL": "Europe/Amsterdam",
    "BE": "Europe/Brussels",
    "FR": "Europe/Paris",
    "IT": "Europe/Rome",
    "ES": "Europe/Madrid",
    "PL": "Europe/Warsaw",
    "CZ": "Europe/Prague",
    "DK": "Europe/Copenhagen",
    "SE": "Europe/Stockholm",
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "US": "America/New_York",
    "CA": "America/Toronto",
}
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class GateConfigError(ValueError):
    """Calling-hours or gate configuration that cannot be used."""


@dataclass(frozen=True)
class CallingWindow:
    days: tuple[int, ...]  # 0 = Monday .. 6 = Sunday
    start: time
    end: time  # exclusive

    def __post_init__(self) -> None:
        if not self.days or any(not isinstance(d, int) or not 0 <= d <= 6 for d in self.days):
            raise GateConfigError(f"calling window days must be 0-6 (Monday = 0), got {self.days!r}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise GateConfigError("calling window times are local wall-clock times, without a zone")
        if not self.start < self.end:
            raise GateConfigError(f"calling window must start before it ends ({self.start}-{self.end})")

    def describe(self) -> str:
        days = ",".join(DAY_NAMES[d].capitalize() for d in sorted(set(self.days)))
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M}"


WEEKDAYS = (0, 1, 2, 3, 4)
DE_WINDOW = CallingWindow(WEEKDAYS, time(9), time(20))
US_WINDOW = CallingWindow(WEEKDAYS, time(8), time(21))


def _parse_days(value: Any, key: str) -> tuple[int, ...]:
    if isinstance(value, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        return tuple(sorted(set(value)))
    if isinstance(value, str):
        days: set[int] = set()
        for part in value.lower().replace(" ", "").split(","):
            first, _, last = part.partition("-")
            if first not in DAY_NAMES or (last and last not in DAY_NAMES):
                raise GateConfigError(f"{key}.days: cannot read {value!r} (use e.g. 'mon-fri' or [0,1,2,3,4])")
            a, b = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
            if b < a:
                raise GateConfigError(f"{key}.days: range {part!r} runs backwards")
            days.update(range(a, b + 1))
        return tuple(sorted(days))
    raise GateConfigError(f"{key}.days: must be a list of 0-6 or day names")


def parse_calling_hours(raw: str | Mapping) -> dict[str, CallingWindow]:
    """Parse the LEADCHAIN_CALLING_HOURS JSON (or an already parsed mapping) into windows by region."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as e:
        raise GateConfigError(f"LEADCHAIN_CALLING_HOURS is not valid JSON: {e}") from None
    if not isinstance(data, Mapping):
        raise GateConfigError("LEADCHAIN_CALLING_HOURS must be a JSON object keyed by region")
    out = {}
    for region, spec in data.items():
        key = region if region == "default" else region.upper()
        if key != "default" and (len(key) != 2 or not key.isalpha()):
            raise GateConfigError(f"LEADCHAIN_CALLING_HOURS: {region!r} is not an ISO region code")
        if (
            not isinstance(spec, Mapping)
            or set(spec) - {"days", "start", "end"}
            or "start" not in spec
            or "end" not in spec
        ):
            raise GateConfigError(f"{region}: needs start and end, optionally days (nothing else)")
        try:
            start, end = time.fromisoformat(spec["start"]), time.fromisoformat(spec["end"])
        except (TypeError, ValueError):
            raise GateConfigError(f"{region}: start and end must be HH:MM") from None
        days = _parse_days(spec.get("days", list(WEEKDAYS)), region)
        try:
            out[key] = CallingWindow(days, start, end)
        except GateConfigError as e:
            raise GateConfigError(f"{region}: {e}") from None
    return out


def calling_windows(raw: str | Mapping | None) -> tuple[dict[str, CallingWindow], CallingWindow | None]:
    """(windows by region, default window) from LEADCHAIN_CALLING_HOURS's JSON (or a mapping of that
    shape), merged over the DE and US defaults; None or empty: the defaults. The one reading of calling
    hours: the environment and the admin's stored override both go through it."""
    windows, default = {"DE": DE_WINDOW, "US": US_WINDOW}, None
    for region, window in (parse_calling_hours(raw) if raw else {}).items():
        if region == "default":
            default = window
        else:
            windows[region] = window
    return windows, default


class _Holidays:
    """German public holidays: national ones plus those of the given states."""

    def __init__(self, states: tuple[str, ...]) -> None:
        self._calendars = [holidays.country_holidays("DE")] + [
            holidays.country_holidays("DE", subdiv=s) for s in states
        ]

    def __contains__(self, day: date) -> bool:
        return any(day in cal for cal in self._calendars)

    def get(self, day: date) -> str | None:
        return next((cal.get(day) for cal in self._calendars if day in cal), None)


@lru_cache(maxsize=8)
def german_holidays(states: tuple[str, ...] = ()) -> _Holidays:
    return _Holidays(states)


# ---------------------------------------------------------------- calling windows


def aware_utc(now_utc: datetime) -> datetime:
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    return now_utc.astimezone(UTC)


def is_within_window(now_utc: datetime, tz: str, window: CallingWindow, holiday_calendar=None) -> bool:
    local = aware_utc(now_utc).astimezone(ZoneInfo(tz))
    if local.weekday() not in window.days:
        return False
    if holiday_calendar is not None and local.date() in holiday_calendar:
        return False
    return window.start <= local.time() < window.end


def _transition(lo: datetime, hi: datetime, zone: ZoneInfo) -> datetime | None:
    """The first instant in (lo, hi] with a different UTC offset than lo, if the offset changes."""

    def offset(ts: int) -> timedelta | None:
        return datetime.fromtimestamp(ts, UTC).astimezone(zone).utcoffset()

    a, b = int(lo.timestamp()), int(hi.timestamp())
    first = offset(a)
    if offset(b) == first:
        return None
    while b - a > 1:  # offsets change on whole seconds
        mid = (a + b) // 2
        if offset(mid) == first:
            a = mid
        else:
            b = mid
    return datetime.fromtimestamp(b, UTC)


def _candidates(day: date, zone: ZoneInfo, window: CallingWindow) -> list[datetime]:
    """Every instant at which the window can open on local `day`: its start time (both readings of an
    ambiguous wall time) and a DST transition that day (when the start falls in a skipped hour)."""
    out = [datetime.combine(day, window.start, zone).replace(fold=f).astimezone(UTC) for f in (0, 1)]
    lo = datetime.combine(day, time(0), zone).astimezone(UTC) - timedelta(hours=3)
    hi = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC) + timedelta(hours=3)
    switch = _transition(lo, hi, zone)
    if switch is not None:
        out.append(switch)
    return out


def next_window_start(now_utc: datetime, tz: str, window: CallingWindow, holiday_calendar=None) -> datetime:
    """The first instant >= now_utc inside the window, in UTC (now_utc itself when it is inside).

    Works on local calendar days of `tz`, so weekends, holidays and DST changes fall out naturally.
    """
    now = aware_utc(now_utc)
    if is_within_window(now, tz, window, holiday_calendar):
        return now
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    best: datetime | None = None
    for offset in range(-1, 400):
        day = today + timedelta(days=offset)
        if best is not None and datetime.combine(day, time(0), zone).astimezone(UTC) > best:
            return best  # later days only open later
        if day.weekday() not in window.days or (holiday_calendar is not None and day in holiday_calendar):
            continue
        found = [
            c for c in _candidates(day, zone, window) if c >= now and is_within_window(c, tz, window, holiday_calendar)
        ]
        if found:
            best = min([*found, best] if best else found)
    if best is None:
        raise ValueError(f"no calling window within 400 days for {window.describe()} in {tz}")
    return best


def start_of_next_day(now: datetime, zone: ZoneInfo) -> datetime:
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), zone).astimezone(UTC)


def zone_for(phone_timezone: str | None, region: str | None) -> str:
    """The callee's zone: the number's own zone if known and valid, else the region's, else Berlin."""
    for name in (phone_timezone, REGION_ZONES.get((region or "").upper())):
        if name:
            try:
                ZoneInfo(name)
                return name
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("unknown time zone %r on a lead; falling back", name)
    return FALLBACK_ZONE
