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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

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
    Role,
    User,
)
from crm.models.types import utcnow
from crm.services import audit, dnc
from crm.services.business_calendar import BusinessCalendar, Slot
from voice.bridge.dialog.types import Booking, Callee, SlotChoice
from voice.bridge.timeprefs.calendar import ScanOptions, rank_alternatives, resolve
from voice.bridge.timeprefs.calendar import alternatives as calendar_alternatives
from voice.bridge.timeprefs.constraint import TimeConstraint
from workflows.payloads import CallBooking
from workflows.vocabulary import CallOutcome

log = logging.getLogger(__name__)

BUSINESS_TZ = "Europe/Berlin"
DEFAULT_DURATION = timedelta(minutes=30)
# Offers start on this grid; an exact wish ("um 14:15") is checked as said.
STEP = timedelta(minutes=30)
HORIZON_DAYS = 14
# No slot sooner than this: the rep needs a moment to prepare.
MIN_NOTICE = timedelta(hours=1)
MAX_DURATION = timedelta(hours=4)
QUALIFICATION_KEYS = ("need", "timing", "decision_maker")
MAX_MERGE_HOPS = 10

BookingStatus = Literal["booked", "already_booked", "taken", "failed"]


def _actor(call_id: str) -> str:
    return f"voice-bridge:{call_id}"[:100]


# ---- types ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadFacts:
    """What the bridge may know about the callee and what find_slots needs (read once per call)."""

    lead_id: int
    first_name: str | None
    last_name: str | None
    company: str | None
    language: str
    status: str
    do_not_contact: bool
    chain_id: str | None
    owner_id: int | None
    owner_name: str | None
    # The calendar inputs: the owner's working hours (None = the team default) and zone.
    working_hours: dict[str, Any] | None = None
    timezone: str = BUSINESS_TZ
    # The call's interaction, when the CRM knows the call already.
    interaction_id: int | None = None

    def callee(self) -> Callee:
        return Callee(
            lead_id=self.lead_id,
            first_name=self.first_name,
            last_name=self.last_name,
            company=self.company,
            language=self.language,
            owner_name=self.owner_name,
            do_not_contact=self.do_not_contact,
        )


@dataclass(frozen=True)
class SlotOffer:
    """The answer to a wish. ``wished``: the wished slot when free (the exact wished time, or without
    one the earliest slot that satisfies the constraint); ``wish_free`` says whether it was.
    ``alternatives``: the best other slots when it was not. Each slot names the rep it is for
    (the owner, or the team member who is free then)."""

    wished: SlotChoice | None
    alternatives: tuple[SlotChoice, ...] = ()
    wish_free: bool = False
    # The owner asked for, or None when the team's calendars were used.
    owner_id: int | None = None

    @property
    def slots(self) -> tuple[SlotChoice, ...]:
        return ((self.wished,) if self.wished else ()) + self.alternatives


@dataclass(frozen=True)
class BookingResult:
    status: BookingStatus
    appointment_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    owner_id: int | None = None
    lead_id: int | None = None
    call_id: str | None = None
    # The lead's chain: the bridge signals it after a booking (chain_notify.notify_booking).
    chain_id: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("booked", "already_booked")

    def as_booking(self) -> Booking:
        return Booking(status=self.status, appointment_id=self.appointment_id, start=self.start, end=self.end)

    def call_booking(self) -> CallBooking | None:
        if not self.ok or self.appointment_id is None or self.call_id is None:
            return None
        return CallBooking(call_id=self.call_id, appointment_id=self.appointment_id)


@dataclass(frozen=True)
class QualificationResult:
    lead_id: int | None
    qualification: dict[str, Any] = field(default_factory=dict)
    changed: bool = False


@dataclass(frozen=True)
class OptOutResult:
    lead_id: int | None
    newly_marked: bool = False


# ---- helpers --------------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: the bridge passes aware datetimes")
    return moment.astimezone(UTC)


def booking_key(call_id: str, start: datetime) -> str:
    """The appointment's idempotency key: "<call id>:<start in UTC, ISO 8601>" (one form whatever zone
    the caller's datetime is in, so a replay in another zone is still the same booking)."""
    key = f"{call_id}:{_utc(start).isoformat()}"
    if len(key) > 200:
        key = f"{hashlib.sha256(call_id.encode()).hexdigest()[:40]}:{_utc(start).isoformat()}"
    return key


def _begin_write() -> None:
    """Start the transaction as a writer. On SQLite, BEGIN IMMEDIATE: the write lock is taken (waiting
    its turn) before anything is read, so a read-then-write cannot fail with a stale snapshot, and
    savepoints nest inside a real transaction (pysqlite would otherwise let SAVEPOINT open one and
    RELEASE commit it). PostgreSQL needs nothing: rows are locked where they are read."""
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _live_lead(lead_id: int | None, *, lock: bool = False) -> Lead | None:
    """The lead, or the record it was merged into (following the chain of merges)."""
    if lead_id is None:
        return None
    lead = db.session.get(Lead, lead_id, with_for_update=lock or None)
    hops = 0
    while lead is not None and lead.merged_into_id is not None and hops < MAX_MERGE_HOPS:
        lead = db.session.get(Lead, lead.merged_into_id, with_for_update=lock or None)
        hops += 1
    return lead


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _call_interaction(call_id: str, provider: str | None = None) -> Interaction | None:
    query = sa.select(Interaction).where(Interaction.provider_ref == call_id, Interaction.kind == InteractionKind.CALL)
    if provider:
        query = query.where(Interaction.provider == provider)
    return db.session.scalars(query.order_by(Interaction.id).limit(1)).first()


def _facts(lead: Lead, interaction: Interaction | None, chain_id: str | None) -> LeadFacts:
    owner = db.session.get(User, lead.owner_id) if lead.owner_id else None
    return LeadFacts(
        lead_id=lead.id,
        first_name=lead.first_name,
        last_name=lead.last_name,
        company=lead.company,
        language=lead.language or "de",
        status=lead.status.value,
        do_not_contact=lead.do_not_contact,
        chain_id=lead.chain_id or chain_id,
        owner_id=owner.id if owner else None,
        owner_name=owner.name if owner else None,
        working_hours=owner.working_hours if owner else None,
        timezone=(owner.timezone if owner and owner.timezone else BUSINESS_TZ),
        interaction_id=interaction.id if interaction is not None else None,
    )


# ---- lead lookup ----------------------------------------------------------------------------------


def lead_for_call(call_id: str, provider: str, metadata: dict[str, Any] | None) -> LeadFacts | None:
    """The lead on a live call: by the call's interaction (provider + provider call id), else by the
    metadata we set when placing the call ({"lead_id", "chain_id", "idempotency_key"}; the provider
    is authenticated). A merged lead resolves to the surviving record. None when neither finds one."""
    interaction = _call_interaction(call_id, provider)
    lead = _live_lead(interaction.lead_id) if interaction is not None else None
    chain_id = (interaction.data or {}).get("chain_id") if interaction is not None else None
    if lead is None and metadata:
        lead = _live_lead(_as_int(metadata.get("lead_id")))
        chain_id = chain_id or (metadata.get("chain_id") if isinstance(metadata.get("chain_id"), str) else None)
    if lead is None:
        return None
    return _facts(lead, interaction, chain_id)


# ---- availability ---------------------------------------------------------------------------------


@dataclass
class _Rep:
    user: User
    calendar: BusinessCalendar
    busy: list[tuple[datetime, datetime]]

    @property
    def load(self) -> int:
        return len(self.busy)


def _reps(lead: Lead, owner_id: int | None = None) -> tuple[list[User], int | None]:
    """The reps whose calendars count: the given owner, else the lead's (active) owner, else the team
    (active sales users). Returns them and the owner id asked for (None = the team)."""
    wanted = owner_id or lead.owner_id
    if wanted:
        user = db.session.get(User, wanted)
        if user is not None and user.active:
            return [user], user.id
    team = list(
        db.session.scalars(sa.select(User).where(User.active.is_(True), User.role == Role.SALES).order_by(User.id))
    )
    return team, None


def _busy(user_ids: Iterable[int], start: datetime, end: datetime) -> dict[int, list[tuple[datetime, datetime]]]:
    busy: dict[int, list[tuple[datetime, datetime]]] = {uid: [] for uid in user_ids}
    if not busy:
        return busy
    rows = db.session.execute(
        sa.select(Appointment.owner_id, Appointment.starts_at, Appointment.ends_at)
        .where(
            Appointment.owner_id.in_(list(busy)),
            Appointment.status == AppointmentStatus.CONFIRMED,
            Appointment.ends_at > start,
            Appointment.starts_at < end,
        )
        .order_by(Appointment.starts_at)
    )
    for owner, s, e in rows:
        busy[owner].append((s, e))
    return busy


def _rep_calendar(user: User) -> BusinessCalendar:
    return BusinessCalendar.from_user_hours(user.working_hours, user.timezone or BUSINESS_TZ)


def _load_reps(users: list[User], now: datetime) -> list[_Rep]:
    busy = _busy([u.id for u in users], now - timedelta(days=1), now + timedelta(days=HORIZON_DAYS + 2))
    return [_Rep(u, _rep_calendar(u), busy[u.id]) for u in users]


def _choice(slot: Slot, rep: _Rep) -> SlotChoice:
    return SlotChoice(start=_utc(slot.start), end=_utc(slot.end), owner_id=rep.user.id)


def _wall(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(BUSINESS_TZ)).replace(tzinfo=None)


def find_slots(
    lead_id: int,
    constraint: TimeConstraint,
    now: datetime,
    *,
    duration: timedelta = DEFAULT_DURATION,
    alternatives: int = 2,
) -> SlotOffer:
    """Free slots for the lead's owner (or, without one, the team's sales reps) that match the wish.

    Working hours come from each rep (User.working_hours in User.timezone; null = the team default,
    Mon-Fri 09-17), German public holidays are closed, confirmed appointments are busy. Returns the
    wished slot if free (the exact wished time; without one, the earliest slot that satisfies the
    constraint), else ``alternatives`` best alternatives; ``wish_free`` says which. Of several free
    reps, the least busy one (then the lowest id) gets the slot."""
    now = _utc(now)
    lead = _live_lead(lead_id)
    if lead is None:
        return SlotOffer(None, ())
    users, owner_id = _reps(lead)
    if not users:
        return SlotOffer(None, (), owner_id=owner_id)
    reps = _load_reps(users, now)
    kwargs: ScanOptions = {"duration": duration, "step": STEP, "horizon_days": HORIZON_DAYS, "lead_time": MIN_NOTICE}
    candidates: list[tuple[Slot, _Rep]] = []
    for rep in reps:
        slots = resolve(
            constraint, rep.calendar, now, busy=rep.busy, limit=None if constraint.exact is not None else 1, **kwargs
        )
        if constraint.exact is not None:
            slots = [s for s in slots if s.exact_match]
        if slots:
            candidates.append((min(slots, key=lambda s: s.start), rep))
    if candidates:
        slot, rep = min(candidates, key=lambda c: (c[0].start, c[1].load, c[1].user.id))
        return SlotOffer(_choice(slot, rep), (), wish_free=True, owner_id=owner_id)
    if alternatives <= 0:
        return SlotOffer(None, (), wish_free=False, owner_id=owner_id)
    # Not free: each rep's best alternatives, pooled (a time at its least busy rep), ranked once more
    # against the wish, slots that satisfy the constraint before the relaxed ones.
    pool: dict[datetime, tuple[Slot, _Rep]] = {}
    for rep in sorted(reps, key=lambda r: (r.load, r.user.id)):
        for slot in calendar_alternatives(constraint, rep.calendar, now, count=alternatives, busy=rep.busy, **kwargs):
            pool.setdefault(slot.start, (slot, rep))
    if len(reps) == 1:
        ranked = [slot for slot, _ in pool.values()]
    else:
        wish = resolve(constraint, reps[0].calendar, now, limit=1, **kwargs)
        target = wish[0].start if wish else None
        fitting = [s for s, _ in pool.values() if constraint.allows(_wall(s.start), _wall(s.end))]
        relaxed = [s for s, _ in pool.values() if not constraint.allows(_wall(s.start), _wall(s.end))]
        ranked = rank_alternatives(constraint, fitting, alternatives, wished=target)
        if len(ranked) < alternatives:
            ranked += rank_alternatives(constraint, relaxed, alternatives - len(ranked), wished=target)
    chosen = tuple(_choice(*pool[s.start]) for s in ranked[:alternatives])
    return SlotOffer(None, chosen, wish_free=False, owner_id=owner_id)


# ---- booking --------------------------------------------------------------------------------------


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
    )


def _by_key(key: str) -> Appointment | None:
    return db.session.scalar(sa.select(Appointment).where(Appointment.idempotency_key == key))


def book(
    lead_id: int,
    call_id: str,
    start: datetime,
    end: datetime,
    owner_id: int | None = None,
    *,
    now: datetime | None = None,
) -> BookingResult:
    """Book [start, end) for the lead with its owner (or ``owner_id``, the rep a team offer named; or,
    without either, the first team rep who is free). Idempotent per call and slot: a replay returns
    the same appointment as "already_booked". A slot someone else took meanwhile is "taken" (ask
    find_slots for fresh alternatives); "failed" names a reason (past, not a working time, do not
    contact, no rep). Sets the lead BOOKED (and its owner, when it had none), audits, notes it on the
    call."""
    start_utc, end_utc = _utc(start), _utc(end)
    key = booking_key(call_id, start_utc)
    actor = _actor(call_id)
    try:
        _begin_write()
        lead = _live_lead(lead_id, lock=True)
        existing = _by_key(key)
        if existing is not None:
            db.session.rollback()
            return _result(existing, "already_booked", call_id, lead)

        def fail(status: BookingStatus, reason: str) -> BookingResult:
            db.session.rollback()
            return BookingResult(
                status,
                start=start_utc,
                end=end_utc,
                lead_id=lead.id if lead else lead_id,
                call_id=call_id,
                chain_id=lead.chain_id if lead else None,
                reason=reason,
            )

        if lead is None:
            return fail("failed", "unknown lead")
        if lead.do_not_contact:
            return fail("failed", "do not contact")
        if end_utc <= start_utc or end_utc - start_utc > MAX_DURATION:
            return fail("failed", "invalid length")
        if start_utc < (_utc(now) if now is not None else utcnow()):
            return fail("failed", "in the past")
        users, _ = _reps(lead, owner_id)
        if not users:
            return fail("failed", "no sales rep")
        appt: Appointment | None = None
        outside = 0
        for user in sorted(users, key=lambda u: u.id):
            if not _rep_calendar(user).is_open(start_utc, end_utc):
                outside += 1
                continue
            title, location = _title(lead, user)
            # partial, not a lambda: the values of this iteration are bound now (each retry makes a new row).
            inserted = _insert_appointment(
                partial(
                    Appointment,
                    lead_id=lead.id,
                    owner_id=user.id,
                    starts_at=start_utc,
                    ends_at=end_utc,
                    status=AppointmentStatus.CONFIRMED,
                    title=title[:300],
                    location=location,
                    idempotency_key=key,
                )
            )
            if inserted is None:
                # Either this very turn was booked meanwhile (same key) or the owner's slot was taken.
                existing = _by_key(key)
                if existing is not None:
                    db.session.rollback()
                    return _result(existing, "already_booked", call_id, lead)
                continue
            appt = inserted
            break
        if appt is None:
            if outside == len(users):
                return fail("taken", "not a working time")
            return fail("taken", "slot taken")
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
            },
        )
        audit.record(actor, "lead.booked", "lead", lead.id, before=before, after=audit.snapshot(lead))
        _note_on_call(lead, call_id, appt)
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
    call = _call_interaction(call_id)
    entry = {"appointment_id": appt.id, "starts_at": appt.starts_at.isoformat(), "owner_id": appt.owner_id}
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
            created_by=_actor(call_id),
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
        _begin_write()
        lead = _live_lead(lead_id, lock=True)
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
            _actor(call_id),
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
        _begin_write()
        lead = _live_lead(lead_id, lock=True)
        if lead is None:
            db.session.rollback()
            return OptOutResult(None)
        marked = dnc.mark(lead, reason=(reason or "asked not to be contacted (call)").strip(), actor=_actor(call_id))
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
    "lead_for_call",
    "record_opt_out",
    "record_qualification",
]
