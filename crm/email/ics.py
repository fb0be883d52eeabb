"""The booking confirmation's calendar invite (RFC 5545 / iTIP REQUEST), built with `icalendar`.

* Times are local wall-clock times with a TZID (the owner's zone, Europe/Berlin by default) and a
  matching VTIMEZONE, so calendars show the right time on either side of a DST change.
  Europe/Berlin gets the canonical rule-based definition (the EU rule: last Sunday of March 02:00 to
  last Sunday of October 03:00, as tzurl.org publishes it); other zones are generated from tzdata.
* ORGANIZER is the lead's owner, ATTENDEE the lead (RSVP requested).
* UID is derived from the appointment id only, and DTSTAMP from its creation time, so sending the
  invite again yields the same event (calendars update instead of duplicating it).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard, vCalAddress, vRecur

from crm import catalogs
from crm.catalogs import N_
from crm.email import settings as email_settings

PRODID = "-//leadchain//crm email//DE"
DEFAULT_TZ = "Europe/Berlin"
_PARAM_UNSAFE = re.compile(r'["\x00-\x1f\x7f;:,]')


def uid_for(appointment_id: int, domain: str | None = None) -> str:
    domain = domain or (email_settings.sender_address()[0].rpartition("@")[2] or "leadchain.invalid")
    return f"appointment-{int(appointment_id)}@{domain}"


def _zone(name: str | None) -> tuple[str, ZoneInfo]:
    try:
        return (name, ZoneInfo(name)) if name else (DEFAULT_TZ, ZoneInfo(DEFAULT_TZ))
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_TZ, ZoneInfo(DEFAULT_TZ)


def berlin_vtimezone() -> Timezone:
    tz = Timezone()
    tz.add("tzid", "Europe/Berlin")
    tz.add("x-lic-location", "Europe/Berlin")
    daylight = TimezoneDaylight()
    daylight.add("tzname", "CEST")
    daylight.add("tzoffsetfrom", _offset(1))
    daylight.add("tzoffsetto", _offset(2))
    daylight.add("dtstart", datetime(1970, 3, 29, 2, 0, 0))
    daylight.add("rrule", vRecur(freq="YEARLY", bymonth=3, byday="-1SU"))
    standard = TimezoneStandard()
    standard.add("tzname", "CET")
    standard.add("tzoffsetfrom", _offset(2))
    standard.add("tzoffsetto", _offset(1))
    standard.add("dtstart", datetime(1970, 10, 25, 3, 0, 0))
    standard.add("rrule", vRecur(freq="YEARLY", bymonth=10, byday="-1SU"))
    tz.add_component(daylight)
    tz.add_component(standard)
    return tz


def _offset(hours: int):
    return timedelta(hours=hours)


def vtimezone(tz_name: str, around: datetime) -> Timezone:
    if tz_name == "Europe/Berlin":
        return berlin_vtimezone()
    return Timezone.from_tzid(tz_name, first_date=date(around.year - 1, 1, 1), last_date=date(around.year + 3, 1, 1))


def _cn(value: str) -> str:
    return re.sub(r"\s+", " ", _PARAM_UNSAFE.sub(" ", value or "")).strip()[:120]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def build_invite(
    appointment: Any,
    *,
    lead_name: str,
    lead_email: str,
    organizer_name: str,
    organizer_email: str,
    tz_name: str | None = None,
    language: str = "de",
    summary: str | None = None,
    description: str | None = None,
    sequence: int = 0,
    cancel: bool = False,
    stamp: datetime | None = None,
) -> bytes:
    """An iTIP REQUEST for one appointment (anything with id, starts_at, ends_at, created_at, title,
    location); datetimes without tzinfo are UTC, as the CRM stores them. A change (crm/services/appointments.py)
    passes the appointment's SEQUENCE and the change's time as DTSTAMP; `cancel` makes it an iTIP CANCEL
    (METHOD:CANCEL, STATUS:CANCELLED), the same UID, so the attendee's calendar removes the event."""
    tz_name, tz = _zone(tz_name)
    start = _utc(appointment.starts_at).astimezone(tz)
    end = _utc(appointment.ends_at).astimezone(tz)
    stamp = _utc(stamp or getattr(appointment, "created_at", None) or appointment.starts_at)

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "CANCEL" if cancel else "REQUEST")
    cal.add_component(vtimezone(tz_name, start))

    event = Event()
    event.add("uid", uid_for(appointment.id))
    event.add("dtstamp", stamp)
    event.add("sequence", int(sequence))
    event.add("dtstart", start)
    event.add("dtend", end)
    default_summary = catalogs.gettext(language, "email", N_("Meeting with %(name)s"), name=organizer_name)
    event.add("summary", summary or getattr(appointment, "title", None) or default_summary)
    if description:
        event.add("description", description)
    if getattr(appointment, "location", None):
        event.add("location", appointment.location)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    event.add("transp", "OPAQUE")

    organizer = vCalAddress(f"mailto:{organizer_email}")
    organizer.params["cn"] = _cn(organizer_name)
    event.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{lead_email}")
    attendee.params["cn"] = _cn(lead_name) or lead_email
    attendee.params["cutype"] = "INDIVIDUAL"
    attendee.params["role"] = "REQ-PARTICIPANT"
    attendee.params["partstat"] = "NEEDS-ACTION"
    attendee.params["rsvp"] = "TRUE"
    event.add("attendee", attendee)
    cal.add_component(event)
    return cal.to_ical()
