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
from crm.models import Appointment, AppointmentStatus
from crm.models.types import utcnow
from crm.services import appointment_mail
from crm.services.appointments import NO_SHOW_AFTER, REMINDERS, due_no_shows, due_reminders
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
