"""Sync one connection into the local busy table, and flow the rep's own changes to CRM events back.

Runs in the connection's company scope (the activity binds it). One round:

1. `port.changes(ctag, sync_token)`: nothing when the ctag is unchanged; else the changed objects (all of them
   on the first round, after an expired token, or when the expanded window must move on).
2. Each changed object's rows in `calendar_busy` are replaced by its occurrences in the window (expand.py);
   a deleted object's rows go. Events the CRM wrote itself (linked in `calendar_events`) are not busy rows
   (the appointment already blocks the time) but are compared with what was written: a rep who moved or
   deleted one in their calendar moves or cancels the appointment, and gets a task to tell the customer.
   Nothing is sent to the customer from here.
3. A refused credential marks the connection broken with the reason and keeps the rows it had: the slots it
   blocked stay blocked, never silently "free". A timeout keeps everything and is tried again next round."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from crm.calendars import expand
from crm.calendars.connections import open_port
from crm.calendars.port import CalendarPort, CalendarUnauthorized, CalendarUnavailable, Changes, SyncTokenInvalid
from crm.extensions import db
from crm.models import Appointment, AppointmentStatus, Task, User
from crm.models.calendars import CalendarBusy, CalendarConnection, CalendarEvent, CalendarStatus
from crm.models.types import utcnow

log = logging.getLogger(__name__)

# Occurrences are kept from a day back to this far ahead (the bridge offers 14 days); when less than
# REEXPAND_BEFORE of it is left, the next round fetches everything again to move the window on.
HORIZON = timedelta(days=62)
REEXPAND_BEFORE = timedelta(days=45)
PAST = timedelta(days=1)


@dataclass
class SyncSummary:
    connection_id: int
    status: str
    changed: int = 0
    busy_rows: int = 0
    moved: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    error: str | None = None


def sync_connection(
    connection_id: int, *, now: datetime | None = None, port: CalendarPort | None = None
) -> SyncSummary:
    now = now or utcnow()
    connection = db.session.get(CalendarConnection, connection_id)
    if connection is None:
        return SyncSummary(connection_id, "gone")
    try:
        port = port or open_port(connection)
        full = connection.expanded_until is None or connection.expanded_until < now + REEXPAND_BEFORE
        try:
            changes = port.changes(None if full else connection.ctag, None if full else connection.sync_token)
        except SyncTokenInvalid:
            changes = port.changes(None, None)
    except CalendarUnauthorized as exc:
        return _failed(connection, now, CalendarStatus.BROKEN, str(exc))
    except CalendarUnavailable as exc:
        return _failed(connection, now, None, str(exc))
    summary = SyncSummary(connection_id, CalendarStatus.OK.value)
    if changes is not None:
        # The service has answered; from here on the round writes. The row lock orders it with a Cal.com
        # webhook writing the same connection's rows (calcom_webhook.apply takes it too).
        db.session.refresh(connection, with_for_update=True)
        _apply(connection, changes, now, summary)
    connection.status = CalendarStatus.OK
    connection.last_sync_at = now
    connection.last_error = None
    db.session.commit()
    return summary


def _failed(connection: CalendarConnection, now: datetime, status: CalendarStatus | None, reason: str) -> SyncSummary:
    db.session.rollback()
    if status is not None:
        connection.status = status
    connection.last_error = reason[:500]
    db.session.commit()
    log.warning("calendar %s sync failed: %s", connection.id, reason)
    return SyncSummary(connection.id, connection.status.value, error=reason)


def _tz(connection: CalendarConnection) -> str:
    user = db.session.get(User, connection.user_id) if connection.user_id else None
    return (user.timezone if user is not None else None) or "Europe/Berlin"


def _apply(connection: CalendarConnection, changes: Changes, now: datetime, summary: SyncSummary) -> None:
    if changes.full:
        window_end = now + HORIZON
        db.session.execute(sa.delete(CalendarBusy).where(CalendarBusy.connection_id == connection.id))
        connection.expanded_until = window_end
    else:
        window_end = connection.expanded_until or now + HORIZON
        hrefs = [o.href for o in changes.objects]
        if hrefs:
            db.session.execute(
                sa.delete(CalendarBusy).where(CalendarBusy.connection_id == connection.id, CalendarBusy.href.in_(hrefs))
            )
    links = {
        link.href: link
        for link in db.session.scalars(sa.select(CalendarEvent).where(CalendarEvent.connection_id == connection.id))
    }
    tz = _tz(connection)
    rows: list[dict] = []
    seen: set[str] = set()
    for obj in changes.objects:
        seen.add(obj.href)
        link = links.get(obj.href)
        if link is not None:
            flow_back(link, obj.ics, obj.etag, tz, now, summary)
            continue
        if obj.ics is None or not connection.counts_as_busy:
            continue
        try:
            occurrences = expand.expand(obj.ics, now - PAST, window_end, tz)
        except ValueError as exc:  # one malformed object must not stop the calendar's sync
            log.warning("calendar %s: unreadable object skipped (%s)", connection.id, type(exc).__name__)
            continue
        for o in occurrences:
            rows.append(
                {
                    "company_id": connection.company_id,
                    "connection_id": connection.id,
                    "user_id": connection.user_id,
                    "starts_at": o.start,
                    "ends_at": o.end,
                    "uid": o.uid[:500],
                    "href": obj.href,
                    "etag": obj.etag,
                    "recurrence_id": o.recurrence_id,
                    "all_day": o.all_day,
                }
            )
    if changes.full:
        # Listed in full: a CRM event no longer listed was deleted in the calendar.
        for href, link in links.items():
            if href not in seen and (changes.listed_from is None or link.ends_at > changes.listed_from):
                flow_back(link, None, None, tz, now, summary)
    if rows:
        db.session.execute(sa.insert(CalendarBusy), rows)
    connection.ctag = changes.ctag
    connection.sync_token = changes.sync_token
    summary.changed = len(changes.objects)
    summary.busy_rows = len(rows)


def flow_back(
    link: CalendarEvent, ics: bytes | None, etag: str | None, tz: str, now: datetime, summary: SyncSummary
) -> None:
    """The rep changed a CRM event in their calendar: follow it in the CRM and give the rep a task."""
    if link.deleted:
        return
    times = expand.first_times(ics, tz) if ics is not None else None
    appointment = db.session.get(Appointment, link.appointment_id)
    if appointment is None or appointment.status != AppointmentStatus.CONFIRMED:
        link.etag = etag or link.etag
        return
    if times is None or times[2]:
        link.deleted = True
        link.updated_at = now
        appointment.status = AppointmentStatus.CANCELLED
        _task(appointment, "deleted", "Appointment deleted in your calendar: tell the customer", now, link.etag)
        summary.cancelled.append(appointment.id)
        return
    start, end, _ = times
    link.etag = etag or link.etag
    if (start, end) == (link.starts_at, link.ends_at):
        return
    link.starts_at, link.ends_at, link.updated_at = start, end, now
    try:
        with db.session.begin_nested():
            appointment.starts_at, appointment.ends_at = start, end
            db.session.flush()
    except sa.exc.IntegrityError:
        # Moved onto another confirmed appointment: the CRM keeps its time; the rep decides.
        db.session.refresh(appointment)
        _task(appointment, "conflict", "Appointment moved in your calendar onto another one: please resolve", now, etag)
        return
    _task(appointment, "moved", "Appointment moved in your calendar: tell the customer", now, etag)
    summary.moved.append(appointment.id)


def _task(appointment: Appointment, what: str, title: str, now: datetime, etag: str | None) -> None:
    version = hashlib.sha256((etag or "").encode()).hexdigest()[:16]
    key = f"calendar-{what}:{appointment.id}:{version}"
    if db.session.scalar(sa.select(Task.id).where(Task.dedupe_key == key)) is not None:
        return
    db.session.add(
        Task(
            lead_id=appointment.lead_id,
            owner_id=appointment.owner_id,
            kind="calendar",
            title=title,
            details=f"{appointment.starts_at.isoformat()} - {appointment.ends_at.isoformat()}",
            due_at=now,
            dedupe_key=key,
        )
    )
