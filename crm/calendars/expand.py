"""iCalendar data → the UTC busy intervals it blocks, within a window (recurring-ical-events does the RFC 5545
work: RRULE/RDATE, EXDATE, overridden instances by RECURRENCE-ID, VTIMEZONE and TZIDs of other zones).

What counts as busy: VEVENTs that are not TRANSP:TRANSPARENT ("free" in most clients) and not
STATUS:CANCELLED. All-day events (DATE values) and floating times are the rep's local days and times, so
they are read in the rep's zone. An event without an end (or a zero-length one) blocks nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import recurring_ical_events  # type: ignore[import-untyped]
from icalendar import Calendar


@dataclass(frozen=True)
class Occurrence:
    start: datetime  # UTC
    end: datetime  # UTC
    uid: str
    recurrence_id: str | None
    all_day: bool


def _utc(value: date | datetime, zone: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), zone).astimezone(UTC)
    if value.tzinfo is None:  # floating: the rep's wall clock
        return value.replace(tzinfo=zone).astimezone(UTC)
    return value.astimezone(UTC)


def parse(ics: bytes) -> Calendar:
    return Calendar.from_ical(ics)


def expand(ics: bytes | Calendar, start: datetime, end: datetime, tz_name: str = "Europe/Berlin") -> list[Occurrence]:
    """The busy occurrences of the calendar data that overlap [start, end), in UTC."""
    calendar = parse(ics) if isinstance(ics, bytes) else ics
    zone = ZoneInfo(tz_name)
    # The library marks every occurrence with a RECURRENCE-ID; only a recurring series' instances keep one here.
    recurring = {
        str(c.get("UID", ""))
        for c in calendar.walk("VEVENT")
        if c.get("RRULE") or c.get("RDATE") or c.get("RECURRENCE-ID")
    }
    out: list[Occurrence] = []
    for event in recurring_ical_events.of(calendar).between(start, end):
        if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        dtstart = event.get("DTSTART")
        if dtstart is None:
            continue
        first = dtstart.dt
        all_day = not isinstance(first, datetime)
        dtend = event.get("DTEND")
        if dtend is not None:
            last = dtend.dt
        elif event.get("DURATION") is not None:
            last = first + event.get("DURATION").dt
        else:
            last = first + timedelta(days=1) if all_day else first
        s, e = _utc(first, zone), _utc(last, zone)
        if e <= s:
            continue
        uid = str(event.get("UID", ""))
        rid = event.get("RECURRENCE-ID")
        recurrence_id = None
        if uid in recurring:
            recurrence_id = _utc(rid.dt, zone).isoformat() if rid is not None else s.isoformat()
        out.append(Occurrence(start=s, end=e, uid=uid, recurrence_id=recurrence_id, all_day=all_day))
    out.sort(key=lambda o: (o.start, o.end))
    return out


def uids(ics: bytes | Calendar) -> set[str]:
    calendar = parse(ics) if isinstance(ics, bytes) else ics
    return {str(c.get("UID", "")) for c in calendar.walk("VEVENT")}


def first_times(ics: bytes | Calendar, tz_name: str = "Europe/Berlin") -> tuple[datetime, datetime, bool] | None:
    """(start, end, cancelled) of the master VEVENT of a single event (how a CRM-written event stands now)."""
    calendar = parse(ics) if isinstance(ics, bytes) else ics
    zone = ZoneInfo(tz_name)
    for event in calendar.walk("VEVENT"):
        if event.get("RECURRENCE-ID") is not None or event.get("DTSTART") is None:
            continue
        first = event.get("DTSTART").dt
        dtend = event.get("DTEND")
        last = (
            dtend.dt
            if dtend is not None
            else first + (event.get("DURATION").dt if event.get("DURATION") else timedelta())
        )
        return _utc(first, zone), _utc(last, zone), str(event.get("STATUS", "")).upper() == "CANCELLED"
    return None
