"""The appointment lifecycle (issue 17 item 4): reschedule, cancel, no-show, and the free slots to move to.

The one path every entrance uses (the lead page, the signed links in the mail, the phone dialog later):
each change happens exactly once and
* increments the appointment's `.ics` SEQUENCE (a change names the sequence it saw: `expected_sequence`;
  a replay of the same change finds a newer sequence and is refused as "stale", never applied twice),
* writes the lead's timeline (an Interaction keyed by appointment, sequence and change, so it exists once)
  and the audit log,
* queues one email with the updated invite in the side-effect ledger (`appointment:<id>:<seq>:<what>`,
  status "intent", in the same transaction as the change). crm.services.appointment_mail sends it from the
  relay's sweep with the SendGrid journal (at most once per key), so no web request waits on a provider.

Confirmed appointments of one owner never overlap: the database refuses it (exclusion constraint on
PostgreSQL, triggers on SQLite); a move onto a taken slot answers "taken".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa

from crm.calendars.busy import busy_blocks
from crm.extensions import db
from crm.models import (
    Appointment,
    AppointmentStatus,
    Company,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    LeadStatus,
    SideEffect,
    Task,
    User,
)
from crm.models.types import utcnow
from crm.services import audit
from crm.services.business_calendar import BusinessCalendar

log = logging.getLogger(__name__)

Outcome = Literal["changed", "stale", "taken", "closed", "past", "not_found", "invalid"]
KEY_PREFIX = "appointment:"
# Offers start on this grid, within this horizon, not sooner than this (the rep needs a moment to prepare):
# the values the phone bridge offers with (voice/bridge/availability.py), which the web may not import.
STEP = timedelta(minutes=30)
HORIZON_DAYS = 14
MIN_NOTICE = timedelta(hours=1)
# Nothing logged this long after the end: the sweep marks a no-show.
NO_SHOW_AFTER = timedelta(minutes=30)
REMINDERS = (("24h", timedelta(hours=24)), ("2h", timedelta(hours=2)))


@dataclass(frozen=True)
class ChangeResult:
    outcome: Outcome
    appointment: Appointment | None = None

    @property
    def changed(self) -> bool:
        return self.outcome == "changed"


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def ledger_key(appointment_id: int, sequence: int, what: str) -> str:
    """The side-effect key of one mail about one state of one appointment (global: the id is)."""
    return f"{KEY_PREFIX}{int(appointment_id)}:{int(sequence)}:{what}"


def _locked(appointment_id: int) -> Appointment | None:
    return db.session.scalar(sa.select(Appointment).where(Appointment.id == appointment_id).with_for_update())


def _begin_write() -> None:
    """SQLite: BEGIN IMMEDIATE, so the read-check-write below is one serial step and savepoints nest in a real
    transaction (as voice/bridge/lead_records.begin_write). PostgreSQL: the row lock of _locked does it."""
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_open(appt: Appointment, now: datetime | None = None) -> bool:
    """Still changeable: confirmed, not marked a no-show, not begun."""
    now = as_utc(now or utcnow())
    return appt.status == AppointmentStatus.CONFIRMED and appt.no_show_at is None and as_utc(appt.starts_at) > now


def owner_calendar(owner: User) -> BusinessCalendar:
    company = db.session.get(Company, owner.company_id) if getattr(owner, "company_id", None) else None
    return BusinessCalendar.from_user_hours(owner.working_hours, owner.timezone, company=company)


def free_slots(appt: Appointment, now: datetime | None = None, count: int = 12) -> list[datetime]:
    """Start times (UTC) the appointment can move to (its owner's, its length; not its current start)."""
    length = as_utc(appt.ends_at) - as_utc(appt.starts_at)
    found = free_times(appt.owner_id, length, now, count + 1, exclude_id=appt.id)
    return [s for s in found if s != as_utc(appt.starts_at)][:count]


def free_times(
    owner_id: int, length: timedelta, now: datetime | None = None, count: int = 12, *, exclude_id: int | None = None
) -> list[datetime]:
    """Free start times (UTC) of `owner_id`: their working hours (zone and holidays of their company) minus
    their confirmed appointments (but `exclude_id`), on a 30-minute grid, from an hour from now, two weeks."""
    now = as_utc(now or utcnow())
    owner = db.session.get(User, owner_id)
    if owner is None:
        return []
    calendar = owner_calendar(owner)
    earliest = now + MIN_NOTICE
    horizon = now + timedelta(days=HORIZON_DAYS)
    query = sa.select(Appointment.starts_at, Appointment.ends_at).where(
        Appointment.owner_id == owner_id,
        Appointment.status == AppointmentStatus.CONFIRMED,
        Appointment.ends_at > now,
        Appointment.starts_at < horizon,
    )
    if exclude_id is not None:
        query = query.where(Appointment.id != exclude_id)
    busy = [(as_utc(s), as_utc(e)) for s, e in db.session.execute(query)]
    # The rep's own calendars (issue 18): the busy table the sync keeps, as the bridge's slot search reads it.
    busy += [(as_utc(s), as_utc(e)) for s, e in busy_blocks([owner_id], now, horizon).get(owner_id, [])]
    slots: list[datetime] = []
    day = earliest.astimezone(calendar.zone).date()
    while len(slots) < count and day <= horizon.astimezone(calendar.zone).date():
        for open_at, close_at in calendar.intervals(day):
            start = open_at
            while start + length <= close_at and len(slots) < count:
                s, e = as_utc(start), as_utc(start + length)
                if s >= earliest and not any(s < b and a < e for a, b in busy):
                    slots.append(s)
                start += STEP
        day += timedelta(days=1)
    return slots


def upcoming(lead_id: int, now: datetime | None = None) -> list[Appointment]:
    """The lead's confirmed appointments still ahead, soonest first: what a caller who wants to move or cancel
    one is asked about (the phone dialog reads them back before calling reschedule or cancel)."""
    now = as_utc(now or utcnow())
    return list(
        db.session.scalars(
            sa.select(Appointment)
            .where(
                Appointment.lead_id == lead_id,
                Appointment.status == AppointmentStatus.CONFIRMED,
                Appointment.no_show_at.is_(None),
                Appointment.starts_at > now,
            )
            .order_by(Appointment.starts_at)
        )
    )


def _timeline(lead_id: int | None, appt: Appointment, what: str, actor: str, detail: dict) -> None:
    if lead_id is None:
        return
    subject = {
        "moved": "Appointment moved",
        "cancelled": "Appointment cancelled",
        "no_show": "Appointment: no-show",
    }[what]
    db.session.add(
        Interaction(
            lead_id=lead_id,
            kind=InteractionKind.NOTE,
            direction=Direction.INTERNAL,
            provider="appointments",
            # Unique with the provider: one timeline entry per change, whatever retries.
            provider_ref=f"{appt.id}:{appt.ics_sequence}:{what}",
            status="recorded",
            subject=subject,
            data={"appointment_id": appt.id, "sequence": appt.ics_sequence, "change": what, **detail},
            started_at=utcnow(),
            created_by=actor,
        )
    )


def queue_mail(appt: Appointment, what: str, now: datetime | None = None) -> SideEffect | None:
    """The mail about this state of the appointment, queued once (None: the appointment has no lead); `now`
    stamps the row (the change's own time, which the reminders read)."""
    if appt.lead_id is None:
        return None
    key = ledger_key(appt.id, appt.ics_sequence, what)
    found = db.session.scalar(sa.select(SideEffect).where(SideEffect.key == key))
    if found is not None:
        return found
    row = SideEffect(
        key=key,
        kind="email",
        lead_id=appt.lead_id,
        result={"appointment_id": appt.id, "sequence": appt.ics_sequence, "what": what},
        created_at=as_utc(now or utcnow()),
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except sa.exc.IntegrityError:  # queued meanwhile by a concurrent sweep: that row is the one
        return db.session.scalar(sa.select(SideEffect).where(SideEffect.key == key))
    return row


def _refusal(appt: Appointment | None, expected_sequence: int | None, now: datetime) -> Outcome | None:
    if appt is None:
        return "not_found"
    if expected_sequence is not None and expected_sequence != appt.ics_sequence:
        return "stale"
    if appt.status != AppointmentStatus.CONFIRMED or appt.no_show_at is not None:
        return "closed"
    if as_utc(appt.starts_at) <= now:
        return "past"
    return None


def book(
    lead_id: int,
    owner_id: int,
    start: datetime,
    end: datetime,
    *,
    actor: str,
    key: str,
    title: str = "",
    location: str | None = None,
    mail: bool = True,
) -> ChangeResult:
    """Book [start, end) with `owner_id` for the lead: the entrance without a call of its own (the lead page,
    an inbound call's dialog later). Idempotent per `key` (the appointment's idempotency key): a replay
    answers the same appointment as "stale". Sequence 0; with `mail`, the confirmation with the invite and
    the change link is queued like every change. Outbound calls book through voice/bridge/booking.py and
    the chain sends their confirmation (booking_confirmation, same UID and links). Commits."""
    try:
        _begin_write()
        existing = db.session.scalar(sa.select(Appointment).where(Appointment.idempotency_key == key))
        if existing is not None:
            db.session.rollback()
            return ChangeResult("stale", existing)
        appt = Appointment(
            lead_id=lead_id,
            owner_id=owner_id,
            starts_at=as_utc(start),
            ends_at=as_utc(end),
            status=AppointmentStatus.CONFIRMED,
            title=title[:300],
            location=location,
            idempotency_key=key,
            ics_sequence=0,
        )
        try:
            with db.session.begin_nested():
                db.session.add(appt)
        except sa.exc.IntegrityError:  # the slot is taken, or the same key was booked meanwhile
            db.session.rollback()
            existing = db.session.scalar(sa.select(Appointment).where(Appointment.idempotency_key == key))
            return ChangeResult("stale", existing) if existing is not None else ChangeResult("taken")
        audit.record(
            actor,
            "appointment.booked",
            "appointment",
            appt.id,
            after={"lead_id": lead_id, "owner_id": owner_id, "starts_at": appt.starts_at, "ends_at": appt.ends_at},
        )
        if mail:
            queue_mail(appt, "booked")
        db.session.commit()
        return ChangeResult("changed", appt)
    except Exception:
        db.session.rollback()
        raise


def reschedule(
    appointment_id: int,
    new_start: datetime,
    *,
    actor: str,
    expected_sequence: int | None = None,
    now: datetime | None = None,
) -> ChangeResult:
    """Move the appointment to `new_start` (same length, same owner). Commits."""
    now = as_utc(now or utcnow())
    new_start = as_utc(new_start)
    try:
        _begin_write()
        appt = _locked(appointment_id)
        refused = _refusal(appt, expected_sequence, now)
        if refused is not None or appt is None:
            db.session.rollback()
            return ChangeResult(refused or "not_found", appt)
        if new_start not in free_slots(appt, now, count=10_000):
            db.session.rollback()
            return ChangeResult("taken" if new_start > now else "invalid", appt)
        before = audit.snapshot(appt, ("starts_at", "ends_at", "ics_sequence"))
        length = as_utc(appt.ends_at) - as_utc(appt.starts_at)
        try:
            with db.session.begin_nested():
                appt.starts_at, appt.ends_at = new_start, new_start + length
                appt.ics_sequence += 1
                db.session.flush()
        except sa.exc.IntegrityError:  # the owner's slot was taken meanwhile (the overlap constraint)
            db.session.rollback()
            return ChangeResult("taken", db.session.get(Appointment, appointment_id))
        after = audit.snapshot(appt, ("starts_at", "ends_at", "ics_sequence"))
        audit.record(actor, "appointment.rescheduled", "appointment", appt.id, before=before, after=after)
        _timeline(appt.lead_id, appt, "moved", actor, {"from": before["starts_at"], "to": after["starts_at"]})
        queue_mail(appt, "moved", now)
        db.session.commit()
        log.info("appointment %s moved (sequence %s) by %s", appt.id, appt.ics_sequence, actor.split(":")[0])
        return ChangeResult("changed", appt)
    except Exception:
        db.session.rollback()
        raise


def cancel(
    appointment_id: int, *, actor: str, expected_sequence: int | None = None, now: datetime | None = None
) -> ChangeResult:
    """Cancel the appointment (its slot is free again), queue the iTIP CANCEL, and send the lead back to follow-up
    (`follow_up`). Commits."""
    now = as_utc(now or utcnow())
    try:
        _begin_write()
        appt = _locked(appointment_id)
        refused = _refusal(appt, expected_sequence, now)
        if refused is not None or appt is None:
            db.session.rollback()
            return ChangeResult(refused or "not_found", appt)
        before = audit.snapshot(appt, ("status", "ics_sequence"))
        appt.status, appt.cancelled_at = AppointmentStatus.CANCELLED, now
        appt.ics_sequence += 1
        audit.record(
            actor, "appointment.cancelled", "appointment", appt.id, before=before,
            after=audit.snapshot(appt, ("status", "ics_sequence")),
        )  # fmt: skip
        _timeline(appt.lead_id, appt, "cancelled", actor, {"starts_at": as_utc(appt.starts_at).isoformat()})
        queue_mail(appt, "cancelled")
        follow_up(appt, actor, now, why="cancelled")
        db.session.commit()
        return ChangeResult("changed", appt)
    except Exception:
        db.session.rollback()
        raise


def mark_no_show(appointment_id: int, *, actor: str, now: datetime | None = None) -> ChangeResult:
    """The lead did not come: marked once (a second mark is "stale"), after the appointment began. The lead
    goes back to follow-up: a callback task for its owner (crm.services.appointments.follow_up). Commits."""
    now = as_utc(now or utcnow())
    try:
        _begin_write()
        appt = _locked(appointment_id)
        if appt is None:
            db.session.rollback()
            return ChangeResult("not_found")
        if appt.no_show_at is not None:
            db.session.rollback()
            return ChangeResult("stale", appt)
        if appt.status != AppointmentStatus.CONFIRMED:
            db.session.rollback()
            return ChangeResult("closed", appt)
        if as_utc(appt.starts_at) > now:
            db.session.rollback()
            return ChangeResult("invalid", appt)
        appt.no_show_at, appt.no_show_by = now, actor[:64]
        audit.record(actor, "appointment.no_show", "appointment", appt.id, after={"lead_id": appt.lead_id})
        _timeline(appt.lead_id, appt, "no_show", actor, {"starts_at": as_utc(appt.starts_at).isoformat()})
        follow_up(appt, actor, now)
        db.session.commit()
        return ChangeResult("changed", appt)
    except Exception:
        db.session.rollback()
        raise


FOLLOW_UP_TITLES = {"no_show": "Call back: missed appointment", "cancelled": "Call back: cancelled appointment"}


def follow_up(appt: Appointment, actor: str, now: datetime, *, why: str = "no_show") -> None:
    """Back to follow-up after a no-show or a cancel (by phone, link or UI), as the chain hands an interested lead
    over (workflows/lead_chain.py `_follow_up`: a callback task for the owner, the lead's status back to
    contacted). The chain that booked has finished, so there is no workflow to signal: the owner's task is what
    takes the lead on. The task is keyed so it exists once. A lead with another confirmed appointment ahead
    stays booked and gets no task: that appointment is its next step."""
    lead = db.session.get(Lead, appt.lead_id) if appt.lead_id else None
    if lead is None:
        return
    if why == "cancelled" and _another_ahead(appt, now):
        return
    key = f"{KEY_PREFIX}{appt.id}:{why}:callback"
    if db.session.scalar(sa.select(Task.id).where(Task.dedupe_key == key)) is None:
        db.session.add(
            Task(
                lead_id=lead.id,
                owner_id=lead.owner_id or appt.owner_id,
                kind="callback",
                title=FOLLOW_UP_TITLES[why],
                due_at=now,
                dedupe_key=key,
            )
        )
    if lead.status == LeadStatus.BOOKED:
        before = audit.snapshot(lead)
        lead.status = LeadStatus.CONTACTED
        audit.record(actor, f"lead.{why}", "lead", lead.id, before=before, after=audit.snapshot(lead))


def _another_ahead(appt: Appointment, now: datetime) -> bool:
    return (
        db.session.scalar(
            sa.select(Appointment.id)
            .where(
                Appointment.lead_id == appt.lead_id,
                Appointment.id != appt.id,
                Appointment.status == AppointmentStatus.CONFIRMED,
                Appointment.starts_at > now,
            )
            .limit(1)
        )
        is not None
    )
