"""The rep's secret subscription feed (for calendars that can only subscribe to a URL): their CRM appointments
as an ICS document at /calendar/feed/<token>.ics.

The token is the whole authorisation (256 random bits, shown once); only its SHA-256 is stored. Rotating
revokes the old tokens and issues a new one; revoking leaves none. The route finds the company from the
token's hash in a short platform look-up (crm.tenancy.routing) and then reads the rep's appointments in
that company's scope only: a colleague's or another company's appointments cannot appear."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from icalendar import Calendar, Event

from crm.email.ics import uid_for
from crm.extensions import db
from crm.models import Appointment, AppointmentStatus
from crm.models.calendars import CalendarFeedToken
from crm.models.types import utcnow
from crm.tenancy.context import require_company_id
from crm.tenancy.routing import platform_lookup

PRODID = "-//leadchain//crm feed//EN"
PAST = timedelta(days=30)
AHEAD = timedelta(days=365)


@dataclass(frozen=True)
class FeedOwner:
    company_id: int
    user_id: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(user_id: int) -> str:
    """A new feed token for the rep (in the current company); older ones are revoked. Returned once."""
    revoke(user_id)
    token = secrets.token_urlsafe(32)
    db.session.add(
        CalendarFeedToken(
            company_id=require_company_id(), user_id=user_id, token_sha256=_digest(token), prefix=token[:8]
        )
    )
    db.session.commit()
    return token


def revoke(user_id: int) -> int:
    result = db.session.execute(
        sa.update(CalendarFeedToken)
        .where(
            CalendarFeedToken.company_id == require_company_id(),
            CalendarFeedToken.user_id == user_id,
            CalendarFeedToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def owner_of(token: str) -> FeedOwner | None:
    """Whose feed a presented token opens (a platform look-up before any company is bound)."""
    if not token or len(token) > 100:
        return None
    with platform_lookup("calendar feed token"):
        row = db.session.execute(
            sa.select(CalendarFeedToken.company_id, CalendarFeedToken.user_id).where(
                CalendarFeedToken.token_sha256 == _digest(token), CalendarFeedToken.revoked_at.is_(None)
            )
        ).first()
    return FeedOwner(int(row[0]), int(row[1])) if row is not None else None


def render(user_id: int, now: datetime | None = None) -> bytes:
    """The rep's appointments (in the current company scope) as a VCALENDAR; cancelled ones as CANCELLED so
    subscribed calendars drop them."""
    now = now or utcnow()
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "leadchain")
    appointments = db.session.scalars(
        sa.select(Appointment)
        .where(Appointment.owner_id == user_id, Appointment.ends_at > now - PAST, Appointment.starts_at < now + AHEAD)
        .order_by(Appointment.starts_at)
    )
    for appointment in appointments:
        event = Event()
        event.add("uid", uid_for(appointment.id))
        event.add("dtstamp", (appointment.created_at or now).astimezone(UTC))
        event.add("dtstart", appointment.starts_at.astimezone(UTC))
        event.add("dtend", appointment.ends_at.astimezone(UTC))
        event.add("summary", appointment.title or "Appointment")
        if appointment.location:
            event.add("location", appointment.location)
        confirmed = appointment.status == AppointmentStatus.CONFIRMED
        event.add("status", "CONFIRMED" if confirmed else appointment.status.value.upper())
        cal.add_component(event)
    return cal.to_ical()
