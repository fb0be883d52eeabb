"""What a signed Cal.com webhook changes (docs/calendars.md §C1): the booking's busy row of the connection's
rep, and a linked CRM appointment when the booking is one the CRM knows (moved or cancelled at Cal.com:
the appointment follows and the rep gets a task, as for a move in the rep's own calendar).

Cal.com signs the raw body (X-Cal-Signature-256, hex HMAC-SHA256) with no timestamp, so the signed body's
own `createdAt` bounds a replay: older than FRESHNESS (or as far in the future) is refused like a bad
signature. Applying the same delivery twice changes nothing more (rows are replaced by booking uid, tasks
are keyed), so Cal.com's retries and duplicates are at most once in effect."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crm.calendars import ics_convert
from crm.calendars.sync import SyncSummary, flow_back
from crm.extensions import db
from crm.models import User
from crm.models.calendars import CalendarBusy, CalendarConnection, CalendarEvent

FRESHNESS = timedelta(minutes=5)
BUSY = {"BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_REQUESTED", "BOOKING_PAID"}
FREED = {"BOOKING_CANCELLED", "BOOKING_REJECTED"}


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return bool(header) and hmac.compare_digest(expected, (header or "").strip().lower())


@dataclass(frozen=True)
class Delivery:
    trigger: str
    created_at: datetime
    uid: str | None
    start: datetime | None
    end: datetime | None
    previous_uid: str | None  # rescheduleUid: the booking this one replaces


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


def parse(body: Any) -> tuple[Delivery | None, dict[str, str]]:
    """The delivery, or the bad fields by name (dotted paths) with what is wrong with each."""
    if not isinstance(body, dict):
        return None, {"body": "must be a JSON object"}
    errors: dict[str, str] = {}
    trigger = body.get("triggerEvent")
    if not isinstance(trigger, str) or not trigger:
        errors["triggerEvent"] = "required, a string"
    created = _moment(body.get("createdAt"))
    if created is None:
        errors["createdAt"] = "required, an ISO 8601 time with offset"
    payload = body.get("payload")
    if not isinstance(payload, dict):
        errors["payload"] = "required, an object"
        payload = {}
    booking = trigger in BUSY | FREED
    uid = payload.get("uid")
    if booking and (not isinstance(uid, str) or not uid or len(uid) > 200):
        errors["payload.uid"] = "required, a string of at most 200 characters"
    start, end = _moment(payload.get("startTime")), _moment(payload.get("endTime"))
    if booking and start is None:
        errors["payload.startTime"] = "required, an ISO 8601 time with offset"
    if booking and end is None:
        errors["payload.endTime"] = "required, an ISO 8601 time with offset"
    if start and end and end <= start:
        errors["payload.endTime"] = "must be after payload.startTime"
    previous = payload.get("rescheduleUid")
    if previous is not None and (not isinstance(previous, str) or len(previous) > 200):
        errors["payload.rescheduleUid"] = "a string of at most 200 characters"
    if errors:
        return None, errors
    assert isinstance(trigger, str) and created is not None
    return Delivery(trigger, created, uid if booking else None, start, end, previous), {}


def fresh(delivery: Delivery, now: datetime) -> bool:
    return abs(now - delivery.created_at) <= FRESHNESS


def apply(connection: CalendarConnection, delivery: Delivery, now: datetime) -> SyncSummary:
    """Bring the busy table and a linked appointment in line with the delivery; commits."""
    summary = SyncSummary(connection.id, connection.status.value)
    if delivery.uid is None or delivery.start is None or delivery.end is None:
        return summary  # a trigger that is not about a booking's time (MEETING_ENDED, ...): nothing to change
    gone = [u for u in (delivery.uid, delivery.previous_uid) if u]
    db.session.execute(
        sa.delete(CalendarBusy).where(CalendarBusy.connection_id == connection.id, CalendarBusy.href.in_(gone))
    )
    user = db.session.get(User, connection.user_id) if connection.user_id else None
    tz = (user.timezone if user is not None else None) or "Europe/Berlin"
    link = db.session.scalar(
        sa.select(CalendarEvent).where(CalendarEvent.connection_id == connection.id, CalendarEvent.href.in_(gone))
    )
    busy = delivery.trigger in BUSY
    if link is not None:
        ics = ics_convert.vevent(delivery.uid, delivery.start, delivery.end) if busy else None
        if busy:
            link.href = delivery.uid  # a reschedule is a new booking: the link follows it
        flow_back(link, ics, delivery.created_at.isoformat(), tz, now, summary)
    elif busy and connection.counts_as_busy:
        db.session.add(
            CalendarBusy(
                company_id=connection.company_id,
                connection_id=connection.id,
                user_id=connection.user_id,
                starts_at=delivery.start,
                ends_at=delivery.end,
                uid=delivery.uid,
                href=delivery.uid,
                etag=delivery.created_at.isoformat(),
                recurrence_id=None,
                all_day=False,
            )
        )
        summary.busy_rows = 1
    # The bridge's cached busy blocks are keyed by the connection's state: a new one makes the next turn read
    # the table again; the next sync round lists the bookings and sets its digest back.
    connection.ctag = f"webhook {delivery.trigger} {delivery.uid} {delivery.created_at.isoformat()}"[:500]
    summary.changed = 1
    db.session.commit()
    return summary
