"""The appointment sweep: reminders due, automatic no-shows, then the queued appointment mails.

Run by the relay about once a minute (workers/relay.py) and by tests. Each step is idempotent (ledger keys
per appointment, sequence and kind; a no-show is marked once), so two relays, a restart or a sweep run twice
queue and send each mail once. Companies are found in a short operator read; each company's work runs in its
own unit of work (docs/tenancy.md rule 2: the relay binds the company from the record it handles).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from crm.email.sendgrid_sender import SendGridSender
from crm.extensions import db
from crm.models import Appointment, AppointmentStatus, Interaction, InteractionKind, SideEffect
from crm.models.types import utcnow
from crm.services import appointment_mail
from crm.services.appointments import NO_SHOW_AFTER, REMINDERS, as_utc, ledger_key, mark_no_show, queue_mail
from crm.tenancy.context import operator_scope, unit_of_work

SWEEP_EVERY_S = 60.0


@dataclass(frozen=True)
class SweepResult:
    reminders_queued: int
    no_shows: int
    mails_sent: int


def _companies(now: datetime) -> list[int]:
    longest = max(ahead for _, ahead in REMINDERS)
    with operator_scope("appointment-sweep", "reminders and no-shows"):
        ids = db.session.scalars(
            sa.select(Appointment.company_id)
            .where(
                Appointment.status == AppointmentStatus.CONFIRMED,
                sa.or_(
                    sa.and_(Appointment.starts_at > now, Appointment.starts_at <= now + longest),
                    sa.and_(
                        Appointment.no_show_at.is_(None),
                        Appointment.ends_at <= now - NO_SHOW_AFTER,
                        Appointment.ends_at > now - timedelta(days=2),
                    ),
                ),
            )
            .distinct()
        ).all()
        db.session.rollback()
    return sorted(ids)


def sweep(sender: SendGridSender | None, now: datetime | None = None) -> SweepResult:
    """One pass (inside an app context)."""
    now = now or utcnow()
    queued = no_shows = 0
    for company_id in _companies(now):
        with unit_of_work(company_id):
            try:
                queued += due_reminders(now)
                no_shows += due_no_shows(now)
            finally:
                db.session.rollback()
    return SweepResult(queued, no_shows, appointment_mail.send_pending(sender))


# ---- reminders and automatic no-shows, per company ------------------------------------------------


def _state_since(appt: Appointment) -> datetime | None:
    """When the appointment took its present time: booked (sequence 0), else the move whose mail is queued for
    this sequence. None where that is not known (a move recorded before the ledger kept its mail)."""
    if appt.ics_sequence == 0:
        return appt.created_at
    key = ledger_key(appt.id, appt.ics_sequence, "moved")
    return db.session.scalar(sa.select(SideEffect.created_at).where(SideEffect.key == key))


def due_reminders(now: datetime) -> int:
    """Queue the 24 h and 2 h reminders that are due (once per appointment, sequence and kind: a moved
    appointment has a new sequence, so new reminders; a cancelled one none; none for a window the booking or
    move itself fell in). Returns how many were queued."""
    queued = 0
    for what, ahead in REMINDERS:
        rows = db.session.scalars(
            sa.select(Appointment).where(
                Appointment.status == AppointmentStatus.CONFIRMED,
                Appointment.lead_id.is_not(None),
                Appointment.starts_at > now,
                Appointment.starts_at <= now + ahead,
            )
        )
        for appt in rows:
            if what == "24h" and as_utc(appt.starts_at) <= now + REMINDERS[1][1]:
                continue  # within 2 h already: the 2 h reminder says it; two mails at once say nothing more
            since = _state_since(appt)
            if since is not None and as_utc(since) > as_utc(appt.starts_at) - ahead:
                # Booked or moved inside this reminder's window: its confirmation went out moments ago and says
                # everything a reminder would (a call at 16:00 booking 10:00 tomorrow got both at once).
                continue
            key = ledger_key(appt.id, appt.ics_sequence, f"reminder_{what}")
            if db.session.scalar(sa.select(SideEffect.id).where(SideEffect.key == key)) is None:
                queue_mail(appt, f"reminder_{what}")
                queued += 1
    db.session.commit()
    return queued


def due_no_shows(now: datetime) -> int:
    """Mark a no-show where the appointment ended NO_SHOW_AFTER ago and nothing was logged on the lead since
    it began (a call, a note, a meeting by a person)."""
    logged = (
        sa.select(Interaction.id)
        .where(
            Interaction.lead_id == Appointment.lead_id,
            Interaction.created_at >= Appointment.starts_at,
            Interaction.provider.is_distinct_from("appointments"),
            Interaction.kind != InteractionKind.EMAIL,
        )
        .exists()
    )
    ids = list(
        db.session.scalars(
            sa.select(Appointment.id).where(
                Appointment.status == AppointmentStatus.CONFIRMED,
                Appointment.no_show_at.is_(None),
                Appointment.lead_id.is_not(None),
                Appointment.ends_at <= now - NO_SHOW_AFTER,
                # Not the far past: an appointment from before this feature is not a fresh no-show.
                Appointment.ends_at > now - timedelta(days=2),
                ~logged,
            )
        )
    )
    db.session.rollback()
    return sum(mark_no_show(i, actor="sweep", now=now).changed for i in ids)
