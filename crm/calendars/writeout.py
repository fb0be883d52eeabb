"""Appointments written out to the owner's connected calendar: created, moved and cancelled with them.

One event per appointment and calendar, under the stable UID crm.email.ics.uid_for gives the invite (so the
rep's calendar and the customer's invite name the same event). Idempotent under retries: a create is a PUT
with If-None-Match: *, so an activity killed after its PUT and run again finds the event (412), takes its
etag and records the link; it never makes a second event. A move is a PUT with If-Match on the etag we
wrote: if the rep changed the event meanwhile (412) the CRM does not overwrite it; the next sync brings the
rep's change back (sync.py).

`push_pending` is the sync round's second half: every appointment of the connection's rep whose event is
missing or differs from the appointment is written, so a booking made anywhere reaches the calendar within
one round (≤ 60 s), with no hook in the booking code."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from icalendar import Calendar, Event

from crm.calendars.connections import open_port
from crm.calendars.port import CalendarConflict, CalendarPort
from crm.email.ics import uid_for
from crm.extensions import db
from crm.models import Appointment, AppointmentStatus
from crm.models.calendars import CalendarConnection, CalendarEvent, CalendarStatus
from crm.models.types import utcnow

log = logging.getLogger(__name__)
PRODID = "-//leadchain//crm calendars//EN"
# Appointments this far back are still written (an event moved into the past is the rep's business).
PAST = timedelta(days=1)


@dataclass
class PushSummary:
    written: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    conflicts: list[int] = field(default_factory=list)


def event_ics(appointment: Appointment, uid: str) -> bytes:
    """The event the rep's calendar gets: times in UTC, the appointment's title and place; no attendee (the
    customer's invite is the mail's business, and the rep's calendar must not mail anyone)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", (appointment.created_at or appointment.starts_at).astimezone(UTC))
    event.add("dtstart", appointment.starts_at.astimezone(UTC))
    event.add("dtend", appointment.ends_at.astimezone(UTC))
    event.add("summary", appointment.title or "Appointment")
    if appointment.location:
        event.add("location", appointment.location)
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    return cal.to_ical()


def write_appointment(
    appointment: Appointment, connection: CalendarConnection, port: CalendarPort, summary: PushSummary | None = None
) -> CalendarEvent | None:
    """Bring the appointment's event in this calendar in line with the appointment; the link row is returned
    (flushed, not committed)."""
    summary = summary or PushSummary()
    link = db.session.scalar(
        sa.select(CalendarEvent).where(
            CalendarEvent.connection_id == connection.id, CalendarEvent.appointment_id == appointment.id
        )
    )
    uid = link.uid if link is not None else uid_for(appointment.id)
    if appointment.status != AppointmentStatus.CONFIRMED:
        if link is not None and not link.deleted:
            port.delete(uid)
            link.deleted, link.updated_at = True, utcnow()
            summary.deleted.append(appointment.id)
        return link
    if link is not None and link.deleted:
        return link  # deleted in the calendar or by the CRM: not recreated behind the rep's back
    times = (appointment.starts_at, appointment.ends_at)
    if link is not None and (link.starts_at, link.ends_at) == times:
        return link
    ics = event_ics(appointment, uid)
    try:
        result = port.put(uid, ics, etag=link.etag if link is not None else None)
    except CalendarConflict:
        summary.conflicts.append(appointment.id)
        return link
    if link is None:
        link = CalendarEvent(
            connection_id=connection.id, appointment_id=appointment.id, uid=uid, href=result.href, deleted=False
        )
        db.session.add(link)
        if not result.created:
            # A retry after a PUT that went through: the event is ours (same UID); make sure it has our times.
            current = port.get(uid)
            if current is not None and current.ics != ics:
                result = port.put(uid, ics, etag=current.etag)
    link.etag, link.starts_at, link.ends_at, link.updated_at = result.etag, times[0], times[1], utcnow()
    db.session.flush()
    summary.written.append(appointment.id)
    return link


def push_pending(
    connection: CalendarConnection, *, now: datetime | None = None, port: CalendarPort | None = None
) -> PushSummary:
    """Write every appointment of the connection's rep whose event is missing or out of date; commits."""
    summary = PushSummary()
    if not connection.write_bookings or connection.user_id is None or connection.status == CalendarStatus.BROKEN:
        return summary
    now = now or utcnow()
    port = port or open_port(connection)
    links = sa.select(CalendarEvent).where(
        CalendarEvent.connection_id == connection.id, CalendarEvent.appointment_id == Appointment.id
    )
    in_sync = links.where(
        sa.or_(
            CalendarEvent.deleted.is_(True),
            sa.and_(CalendarEvent.starts_at == Appointment.starts_at, CalendarEvent.ends_at == Appointment.ends_at),
        )
    )
    confirmed = sa.and_(Appointment.status == AppointmentStatus.CONFIRMED, ~in_sync.exists())
    cancelled = sa.and_(
        Appointment.status != AppointmentStatus.CONFIRMED, links.where(CalendarEvent.deleted.is_(False)).exists()
    )
    pending = db.session.scalars(
        sa.select(Appointment)
        .where(
            Appointment.owner_id == connection.user_id, Appointment.ends_at > now - PAST, sa.or_(confirmed, cancelled)
        )
        .order_by(Appointment.starts_at)
    ).all()
    for appointment in pending:
        write_appointment(appointment, connection, port, summary)
        db.session.commit()  # one appointment at a time: what is written stays recorded if the next fails
    return summary
