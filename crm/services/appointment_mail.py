"""Send the queued mails about appointments (crm/services/appointments.py): changes and reminders.

Each mail is a side-effect ledger row `appointment:<id>:<sequence>:<what>` queued with its change (status
"intent"). This module sends it the way the chain's send_email activity does (activities/provider_activities.py,
which the crm layer may not import): the row is locked and its attempt counted and committed, an earlier
attempt is looked up in the SendGrid journal (`find_sent`, at most once per key), then the mail goes out with
the updated invite and the row is marked done with an email Interaction on the lead's timeline.

Called by the relay's sweep (workers/relay.py), one company's rows at a time in that company's unit of work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from crm.email import ics
from crm.email import settings as email_settings
from crm.email.appointment_links import manage_url
from crm.email.render import render
from crm.email.sendgrid_sender import Outgoing, OutgoingAttachment, SendGridSender
from crm.email.tokens import reply_address, unsubscribe_url
from crm.extensions import db
from crm.models import Appointment, AuditEntry, Direction, Interaction, InteractionKind, Lead, SideEffect, User
from crm.models.types import utcnow
from crm.services.appointments import KEY_PREFIX
from crm.tenancy.context import operator_scope, unit_of_work

log = logging.getLogger(__name__)
TEMPLATE = "appointment_update"
# The addresses the chain does not write to either (activities/provider_activities.REFUSED_EMAIL_STATUSES).
REFUSED_EMAIL_STATUSES = {"bounced", "invalid", "suppressed", "unsubscribed", "spam", "none"}
BATCH = 200
# A mail SendGrid refused this often (a 4xx it will refuse again, an outage of hours) is given up and marked
# refused, so the sweep does not ask every minute for ever; the lead's timeline keeps the change itself.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class MailKey:
    appointment_id: int
    sequence: int
    what: str


def parse_key(key: str) -> MailKey | None:
    if not key.startswith(KEY_PREFIX):
        return None
    parts = key[len(KEY_PREFIX) :].split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return MailKey(int(parts[0]), int(parts[1]), parts[2])


def pending_by_company() -> dict[int, list[str]]:
    """The queued appointment mails of every company (a short operator read: the sweep then works in each
    company's own unit of work)."""
    with operator_scope("appointment-sweep", "send queued appointment mails"):
        rows = db.session.execute(
            sa.select(SideEffect.company_id, SideEffect.key)
            .where(SideEffect.key.like(f"{KEY_PREFIX}%"), SideEffect.status == "intent")
            .order_by(SideEffect.id)
            .limit(BATCH)
        ).all()
        db.session.rollback()
    found: dict[int, list[str]] = {}
    for company_id, key in rows:
        found.setdefault(company_id, []).append(key)
    return found


def send_pending(sender: SendGridSender | None) -> int:
    """Send every queued appointment mail once. Returns how many were sent."""
    sent = 0
    for company_id, keys in pending_by_company().items():
        with unit_of_work(company_id):
            for key in keys:
                try:
                    sent += send_one(key, sender)
                except Exception:  # noqa: BLE001 - one mail's failure must not hold back the others
                    db.session.rollback()
                    log.exception("appointment mail %s not sent; next sweep tries again", key)
    return sent


def _refuse(row: SideEffect, lead: Lead | None, reason: str) -> None:
    row.status, row.result = "refused", {"reason": reason}
    db.session.add(
        AuditEntry(
            actor="appointments",
            action="email.refused",
            entity_type="lead",
            entity_id=lead.id if lead else None,
            after={"template": TEMPLATE, "reason": reason},
        )
    )
    db.session.commit()


def send_one(key: str, sender: SendGridSender | None) -> bool:
    """Send the mail of one ledger row (inside its company's unit of work). True when it went out now."""
    parsed = parse_key(key)
    row = db.session.scalar(sa.select(SideEffect).where(SideEffect.key == key).with_for_update())
    if row is None or parsed is None or row.status != "intent":
        db.session.rollback()
        return False
    appt = db.session.get(Appointment, parsed.appointment_id)
    lead = db.session.get(Lead, row.lead_id) if row.lead_id else None
    reason = None
    if sender is None:
        reason = "no email sender configured"
    elif appt is None or lead is None:
        reason = "appointment or lead gone"
    elif appt.ics_sequence != parsed.sequence and parsed.what.startswith("reminder"):
        reason = "appointment changed since"  # the new sequence has reminders of its own
    elif not lead.email:
        reason = "no email address"
    elif lead.email_status in REFUSED_EMAIL_STATUSES:
        reason = f"address {lead.email_status}"
    if reason or sender is None or appt is None or lead is None or not lead.email:
        _refuse(row, lead, reason or "refused")
        return False
    if row.attempts > 0:
        found = sender.find_sent(key)
        if found:
            _done(row, lead, sender, found, parsed)
            return False
        if row.attempts >= MAX_ATTEMPTS:
            _refuse(row, lead, f"not accepted after {row.attempts} attempts")
            return False
    row.attempts += 1
    # Commit before asking SendGrid: the journal writes on its own connection, and the row lock must be gone.
    db.session.commit()
    outgoing = build(appt, lead, parsed, key)
    message_id = sender.deliver(outgoing, journal_key=key)
    row = db.session.scalar(sa.select(SideEffect).where(SideEffect.key == key))
    if row is None:
        return True
    _done(row, lead, sender, message_id, parsed)
    return True


def _done(row: SideEffect, lead: Lead, sender: SendGridSender, message_id: str, parsed: MailKey) -> None:
    row.status, row.provider, row.provider_ref, row.completed_at = "done", sender.name, message_id, utcnow()
    row.result = {**(row.result or {}), "template": TEMPLATE, "change": parsed.what, "sequence": parsed.sequence}
    db.session.add(
        Interaction(
            lead_id=lead.id,
            kind=InteractionKind.EMAIL,
            direction=Direction.OUTBOUND,
            provider=sender.name,
            provider_ref=message_id,
            status="sent",
            subject=TEMPLATE,
            data={"template": TEMPLATE, "change": parsed.what, "appointment_id": parsed.appointment_id},
            started_at=utcnow(),
            created_by="appointments",
        )
    )
    db.session.commit()


def invite(appt: Appointment, lead: Lead, *, cancel: bool, stamp: datetime | None = None) -> bytes:
    owner = appt_owner(appt, lead)
    from_address, from_name = email_settings.sender_address()
    return ics.build_invite(
        appt,
        lead_name=lead.display_name,
        lead_email=lead.email or "",
        organizer_name=owner.name if owner else from_name,
        organizer_email=owner.email if owner else from_address,
        tz_name=owner.timezone if owner else None,
        language=lead.language,
        sequence=appt.ics_sequence,
        cancel=cancel,
        stamp=stamp,
    )


def appt_owner(appt: Appointment, lead: Lead) -> User | None:
    return db.session.get(User, appt.owner_id) or lead.owner


def build(appt: Appointment, lead: Lead, parsed: MailKey, key: str) -> Outgoing:
    cancelled = parsed.what == "cancelled"
    context = {
        "appointment": appt,
        "change": parsed.what,
        # A cancelled appointment has nothing left to change; the others carry the link of this state.
        "manage_url": "" if cancelled else manage_url(appt),
    }
    rendered = render(TEMPLATE, lead, context, lead.language)
    attachment = invite(appt, lead, cancel=cancelled, stamp=utcnow())
    link = unsubscribe_url(lead.id)
    return Outgoing(
        to_email=lead.email or "",
        to_name=lead.display_name if lead.display_name != lead.email else "",
        rendered=rendered,
        categories=["leadchain", TEMPLATE, parsed.what],
        custom_args={"lead_id": str(lead.id), "message_key": key},
        headers={"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        attachments=[OutgoingAttachment("invite.ics", attachment, "text/calendar")],
        reply_to=reply_address(email_settings.reply_to(), lead.id),
    )
