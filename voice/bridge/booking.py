"""The bridge's CRM tools: who is on the line, when the owner (or the team) is free, book once per call
and slot, record what the callee said.

Synchronous functions for a Flask app context; the bridge server runs them in a worker thread with a
timeout and speaks a filler when they are slow. Each commits its own work or rolls it back: nothing is
half-written. Datetimes in and out are aware; the database stores UTC.

Booking is idempotent per call and slot (key "<call id>:<slot start in UTC, ISO>"), so a replayed turn
(reconnect, retry) books once and gets the same appointment back. The database is the final judge of
a free slot: confirmed appointments of one owner cannot overlap (exclusion constraint on PostgreSQL,
triggers on SQLite), so of concurrent attempts for one slot exactly one wins and the others hear "taken".
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa

from crm.calendars.recheck import calendar_taken
from crm.email.settings import company
from crm.extensions import db
from crm.models import (
    Appointment,
    AppointmentStatus,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    LeadStatus,
    User,
)
from crm.models.types import utcnow
from crm.services import audit, dnc

# find_slots, company_for_call, lead_for_call and the result types are re-exported: callers use booking.<name>.
from voice.bridge.availability import find_slots, rep_calendar, reps_for
from voice.bridge.booking_results import (
    BookingResult,
    BookingStatus,
    LeadFacts,
    OptOutResult,
    QualificationResult,
    SlotOffer,
)
from voice.bridge.lead_records import (
    as_utc,
    begin_write,
    call_actor,
    call_interaction,
    company_for_call,
    lead_for_call,
    live_lead,
)
from workflows.vocabulary import CallOutcome

log = logging.getLogger(__name__)

MAX_DURATION = timedelta(hours=4)
QUALIFICATION_KEYS = ("need", "timing", "decision_maker")


def booking_key(call_id: str, start: datetime) -> str:
    """The appointment's idempotency key: "<call id>:<start in UTC, ISO 8601>" (one form whatever zone
    the caller's datetime is in, so a replay in another zone is still the same booking)."""
    key = f"{call_id}:{as_utc(start).isoformat()}"
    if len(key) > 200:
        key = f"{hashlib.sha256(call_id.encode()).hexdigest()[:40]}:{as_utc(start).isoformat()}"
    return key


def _title(lead: Lead, owner: User) -> tuple[str, str]:
    name = company().name
    if (lead.language or "de") == "en":
        return f"Consultation with {name} ({owner.name})", "Phone call: we will call you"
    return f"Beratungsgespräch mit {name} ({owner.name})", "Telefonat: wir rufen Sie an"


def _result(
    appt: Appointment, status: BookingStatus, call_id: str, lead: Lead | None, reason: str | None = None
) -> BookingResult:
    return BookingResult(
        status=status,
        appointment_id=appt.id,
        start=appt.starts_at,
        end=appt.ends_at,
        owner_id=appt.owner_id,
        lead_id=appt.lead_id,
        call_id=call_id,
        chain_id=lead.chain_id if lead is not None else None,
        reason=reason,
        offer_matched=appt.offer_matched,
    )


def _by_key(key: str) -> Appointment | None:
    return db.session.scalar(sa.select(Appointment).where(Appointment.idempotency_key == key))


@dataclass(frozen=True)
class _Request:
    """One booking request, its times in UTC and its idempotency key."""

    lead_id: int
    call_id: str
    start: datetime
    end: datetime
    key: str
    # Whether the slot satisfied the caller's constraint (offers.satisfies); None when nobody said.
    offer_matched: bool | None = None
    # Reps whose own calendars hold the slot now (crm.calendars.recheck, asked before the write lock).
    calendar_taken: frozenset[int] = frozenset()

    def refused(self, lead: Lead | None, status: BookingStatus, reason: str) -> BookingResult:
        """Nothing booked: the transaction is rolled back and the result says why."""
        db.session.rollback()
        return BookingResult(
            status,
            start=self.start,
            end=self.end,
            lead_id=lead.id if lead else self.lead_id,
            call_id=self.call_id,
            chain_id=lead.chain_id if lead else None,
            reason=reason,
        )


def _invalid(lead: Lead | None, request: _Request, now: datetime | None) -> str | None:
    """Why the request cannot be booked for anyone, checked in this order; None when it can."""
    if lead is None:
        return "unknown lead"
    if lead.do_not_contact:
        return "do not contact"
    if request.end <= request.start or request.end - request.start > MAX_DURATION:
        return "invalid length"
    if request.start < (as_utc(now) if now is not None else utcnow()):
        return "in the past"
    return None


def _insert_with_first_free_rep(lead: Lead, users: list[User], request: _Request) -> Appointment | BookingResult:
    """The appointment with the first rep (lowest id) whose calendar is open and whose slot is free,
    or the result when none is: "already_booked" (this turn won meanwhile) or "taken"."""
    outside = 0
    for user in sorted(users, key=lambda u: u.id):
        if not rep_calendar(user).is_open(request.start, request.end):
            outside += 1
            continue
        if user.id in request.calendar_taken:
            continue
        title, location = _title(lead, user)
        # partial, not a lambda: the values of this iteration are bound now (each retry makes a new row).
        inserted = _insert_appointment(
            partial(
                Appointment,
                lead_id=lead.id,
                owner_id=user.id,
                starts_at=request.start,
                ends_at=request.end,
                status=AppointmentStatus.CONFIRMED,
                title=title[:300],
                location=location,
                idempotency_key=request.key,
                offer_matched=request.offer_matched,
            )
        )
        if inserted is not None:
            return inserted
        # Either this very turn was booked meanwhile (same key) or the owner's slot was taken.
        existing = _by_key(request.key)
        if existing is not None:
            db.session.rollback()
            return _result(existing, "already_booked", request.call_id, lead)
    if outside == len(users):
        return request.refused(lead, "taken", "not a working time")
    return request.refused(lead, "taken", "slot taken")


def _calendar_taken(
    lead_id: int, owner_id: int | None, start: datetime, end: datetime, now: datetime | None
) -> frozenset[int]:
    """The candidate reps whose own calendars are busy then (issue 18): read before the write transaction,
    as asking a calendar service may take up to its short timeout."""
    try:
        lead = live_lead(lead_id)
        users = reps_for(lead, owner_id)[0] if lead is not None else []
        return frozenset(calendar_taken([u.id for u in users], start, end, now=now))
    finally:
        db.session.rollback()


def _mark_booked(lead: Lead, appt: Appointment, call_id: str) -> None:
    """The lead is BOOKED (and owned by the rep, when it had no owner), audited and noted on the call."""
    actor = call_actor(call_id)
    before = audit.snapshot(lead)
    if lead.owner_id is None:
        lead.owner_id = appt.owner_id
    lead.status = LeadStatus.BOOKED
    audit.record(
        actor,
        "appointment.booked",
        "appointment",
        appt.id,
        after={
            "lead_id": lead.id,
            "owner_id": appt.owner_id,
            "starts_at": appt.starts_at,
            "ends_at": appt.ends_at,
            "call_id": call_id,
            "offer_matched": appt.offer_matched,
        },
    )
    audit.record(actor, "lead.booked", "lead", lead.id, before=before, after=audit.snapshot(lead))
    _note_on_call(lead, call_id, appt)


def book(
    lead_id: int,
    call_id: str,
    start: datetime,
    end: datetime,
    owner_id: int | None = None,
    *,
    offer_matched: bool | None = None,
    now: datetime | None = None,
) -> BookingResult:
    """Book [start, end) for the lead with its owner (or ``owner_id``, the rep a team offer named; or,
    without either, the first team rep who is free). Idempotent per call and slot: a replay returns
    the same appointment as "already_booked". A slot someone else took meanwhile is "taken" (ask
    find_slots for fresh alternatives); "failed" names a reason (past, not a working time, do not
    contact, no rep). Sets the lead BOOKED (and its owner, when it had none), audits, notes it on the
    call. ``offer_matched`` is stored on the appointment: whether the slot satisfied the caller's
    constraint (the dashboard counts the bookings that did not)."""
    start_utc = as_utc(start)
    request = _Request(
        lead_id,
        call_id,
        start_utc,
        as_utc(end),
        booking_key(call_id, start_utc),
        offer_matched=offer_matched,
        calendar_taken=_calendar_taken(lead_id, owner_id, start_utc, as_utc(end), now),
    )
    try:
        begin_write()
        lead = live_lead(lead_id, lock=True)
        existing = _by_key(request.key)
        if existing is not None:
            db.session.rollback()
            return _result(existing, "already_booked", call_id, lead)
        reason = _invalid(lead, request, now)
        if lead is None or reason is not None:
            return request.refused(lead, "failed", reason or "unknown lead")
        users, _ = reps_for(lead, owner_id)
        if not users:
            return request.refused(lead, "failed", "no sales rep")
        appt = _insert_with_first_free_rep(lead, users, request)
        if isinstance(appt, BookingResult):
            return appt
        _mark_booked(lead, appt, call_id)
        db.session.commit()
        log.info("call %s booked appointment %s for lead %s", call_id, appt.id, lead.id)
        return _result(appt, "booked", call_id, lead)
    except Exception:
        db.session.rollback()
        raise


# PostgreSQL can pick one of two overlapping inserts as a deadlock victim: each checked the exclusion
# constraint against the other's uncommitted row. The victim's savepoint is rolled back and it tries again,
# now waiting for the winner, so it ends "taken" (or books, if the winner rolled back).
LOCK_CONFLICT_STATES = ("40P01", "40001")  # deadlock_detected, serialization_failure
INSERT_ATTEMPTS = 4


def _insert_appointment(make: Callable[[], Appointment]) -> Appointment | None:
    """Insert inside a savepoint; None when a constraint refused it (slot taken or key exists)."""
    for attempt in range(INSERT_ATTEMPTS):
        candidate = make()
        try:
            with db.session.begin_nested():
                db.session.add(candidate)
            return candidate
        except sa.exc.IntegrityError:
            return None
        except sa.exc.OperationalError as e:
            sqlstate = getattr(e.orig, "sqlstate", None)  # psycopg's; SQLite's errors carry none
            if sqlstate not in LOCK_CONFLICT_STATES or attempt == INSERT_ATTEMPTS - 1:
                raise
            log.info("booking insert lost a lock race (%s), trying again", sqlstate)
    return None


def _note_on_call(lead: Lead, call_id: str, appt: Appointment) -> None:
    """The call's interaction learns its appointment (so its outcome stays booked); without one yet,
    a note on the lead's timeline."""
    call = call_interaction(call_id)
    entry = {
        "appointment_id": appt.id,
        "starts_at": appt.starts_at.isoformat(),
        "owner_id": appt.owner_id,
        "offer_matched": appt.offer_matched,
    }
    if call is not None:
        data = dict(call.data or {})
        data["appointment_id"] = data.get("appointment_id") or appt.id
        data["bookings"] = (data.get("bookings") or []) + [entry]
        call.data = data
        call.outcome = CallOutcome.BOOKED
        return
    subject = "Appointment booked on the call" if lead.language == "en" else "Termin im Gespräch gebucht"
    db.session.add(
        Interaction(
            lead_id=lead.id,
            kind=InteractionKind.NOTE,
            direction=Direction.INTERNAL,
            provider="voice-bridge",
            provider_ref=f"booking:{appt.id}",
            status="recorded",
            subject=subject,
            data={**entry, "call_id": call_id},
            created_by=call_actor(call_id),
        )
    )


# ---- what the callee said -------------------------------------------------------------------------


def record_qualification(lead_id: int, call_id: str, answers: dict[str, Any]) -> QualificationResult:
    """Merge the callee's answers (need, timing, decision_maker) into Lead.qualification; audited.
    Unknown keys and empty answers are ignored; an unchanged answer writes nothing."""
    clean: dict[str, str] = {}
    for name in QUALIFICATION_KEYS:
        value = answers.get(name) if isinstance(answers, dict) else None
        if isinstance(value, bool):
            value = "yes" if value else "no"
        if value is None:
            continue
        text = str(value).strip()[:500]
        if text:
            clean[name] = text
    try:
        begin_write()
        lead = live_lead(lead_id, lock=True)
        if lead is None:
            db.session.rollback()
            return QualificationResult(None)
        old = dict(lead.qualification or {})
        if all(old.get(k) == v for k, v in clean.items()):
            db.session.rollback()
            return QualificationResult(lead.id, old, changed=False)
        new = {**old, **clean, "call_id": call_id, "updated_at": utcnow().isoformat()}
        lead.qualification = new
        audit.record(
            call_actor(call_id),
            "lead.qualification",
            "lead",
            lead.id,
            before={"qualification": old} if old else None,
            after={"qualification": new},
        )
        db.session.commit()
        return QualificationResult(lead.id, new, changed=True)
    except Exception:
        db.session.rollback()
        raise


def record_opt_out(lead_id: int, call_id: str, reason: str) -> OptOutResult:
    """The callee objects: do-not-contact at once, on every channel (flag, consents withdrawn, number
    listed) through crm.services.dnc. Idempotent: a second call changes nothing."""
    try:
        begin_write()
        lead = live_lead(lead_id, lock=True)
        if lead is None:
            db.session.rollback()
            return OptOutResult(None)
        marked = dnc.mark(
            lead, reason=(reason or "asked not to be contacted (call)").strip(), actor=call_actor(call_id)
        )
        if marked:
            db.session.commit()
        else:
            db.session.rollback()
        return OptOutResult(lead.id, newly_marked=marked)
    except Exception:
        db.session.rollback()
        raise


__all__ = [
    "BookingResult",
    "LeadFacts",
    "OptOutResult",
    "QualificationResult",
    "SlotOffer",
    "book",
    "booking_key",
    "find_slots",
    "company_for_call",
    "lead_for_call",
    "record_opt_out",
    "record_qualification",
]
