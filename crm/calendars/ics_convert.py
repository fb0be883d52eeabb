"""The JSON calendar services' events as the iCalendar the rest of the calendar code reads (expand.py turns it
into busy intervals, sync.py compares a CRM event's times), and our written events back as fields.

Only what decides busy time is carried over: times (in the event's own zone when it has one, so a weekly
series keeps its wall-clock time across DST), all-day dates, recurrence lines (RRULE/RDATE/EXDATE, already
RFC 5545 text at Google), free/transparent and cancelled. No title, description or attendee: the busy table
needs none of them and they are personal data."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar

PRODID = "-//leadchain//calendar services//EN"
_RECURRENCE = re.compile(r"(RRULE|EXRULE|RDATE|EXDATE)[;:][^\r\n]*")
_UNSAFE = re.compile(r"[\r\n;:,\\]")


def _stamp(moment: datetime, tzid: str | None) -> str:
    if tzid:
        try:
            local = moment.astimezone(ZoneInfo(tzid))
        except ZoneInfoNotFoundError:  # a Windows zone name or a typo: UTC is exact, only DST rules are lost
            return f":{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        return f";TZID={tzid}:{local:%Y%m%dT%H%M%S}"
    return f":{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def vevent(
    uid: str,
    start: datetime | date,
    end: datetime | date,
    *,
    tzid: str | None = None,
    transparent: bool = False,
    cancelled: bool = False,
    recurrence: list[str] | tuple[str, ...] = (),
) -> bytes:
    """A one-event VCALENDAR. `start`/`end` are dates for an all-day event, else aware datetimes."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "BEGIN:VEVENT", f"UID:{_UNSAFE.sub('_', uid)}"]
    lines.append(f"DTSTAMP:{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    for name, value in (("DTSTART", start), ("DTEND", end)):
        if isinstance(value, datetime):
            lines.append(name + _stamp(value, tzid))
        else:
            lines.append(f"{name};VALUE=DATE:{value:%Y%m%d}")
    lines.extend(line for line in recurrence if _RECURRENCE.fullmatch(line))
    if transparent:
        lines.append("TRANSP:TRANSPARENT")
    if cancelled:
        lines.append("STATUS:CANCELLED")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode("utf-8")


def written_fields(ics: bytes) -> dict[str, object]:
    """start, end (UTC), summary and location of an event writeout.event_ics made."""
    for event in Calendar.from_ical(ics).walk("VEVENT"):
        return {
            "start": event.decoded("DTSTART").astimezone(UTC),
            "end": event.decoded("DTEND").astimezone(UTC),
            "summary": str(event.get("SUMMARY", "")),
            "location": str(event.get("LOCATION", "")),
        }
    raise ValueError("no VEVENT in the written event")
