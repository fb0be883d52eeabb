"""What recipients' answers do to a lead: unsubscribes, spam reports, bounces, replies.

Shared by the unsubscribe page and the SendGrid webhooks. Functions change the session and leave the
commit to the caller; `tell_chain` runs after the commit (the flags hold even if Temporal is down:
send_email refuses unsubscribed/suppressed/bounced addresses, the dial gate refuses do-not-contact).

The lead's email_status only ever moves up this order, so the final state does not depend on the
order in which events arrive: unknown/valid < bounced = invalid < unsubscribed < suppressed.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from crm.email.settings import unsubscribe_scope
from crm.extensions import db
from crm.models import Channel, ConsentRecord, Lead
from crm.models.types import utcnow
from crm.services import audit, dnc
from crm.temporal_gateway import ChainNotRunning, TemporalUnavailable, gateway
from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import StopSignal
from workflows.vocabulary import StopReason

log = logging.getLogger(__name__)

EMAIL_STATUS_RANK = {"bounced": 1, "invalid": 1, "unsubscribed": 2, "suppressed": 3}
OBJECTION_STATUSES = ("unsubscribed", "suppressed")


def live_lead(lead: Lead | None) -> Lead | None:
    """A merged record's objection belongs to the record it was merged into."""
    hops = 0
    while lead is not None and lead.merged_into_id and hops < 5:
        lead = db.session.get(Lead, lead.merged_into_id)
        hops += 1
    return lead


def raise_email_status(lead: Lead, status: str) -> bool:
    if EMAIL_STATUS_RANK.get(status, 0) <= EMAIL_STATUS_RANK.get(lead.email_status or "", 0):
        return False
    lead.email_status = status
    return True


def withdraw_email_consent(lead: Lead, reason: str) -> int:
    count = 0
    for consent in db.session.scalars(
        sa.select(ConsentRecord).where(
            ConsentRecord.lead_id == lead.id,
            ConsentRecord.channel == Channel.EMAIL,
            ConsentRecord.withdrawn_at.is_(None),
        )
    ):
        consent.withdrawn_at, consent.withdrawn_reason = utcnow(), reason[:200]
        count += 1
    return count


def object_to_email(lead: Lead, *, status: str, actor: str, via: str) -> bool:
    """An unsubscribe (status "unsubscribed") or spam report ("suppressed"): email status, email
    consent withdrawn, audit; with the default scope "all" also do-not-contact on every channel
    (docs/compliance.md §P5). True when anything changed (a repeat is a no-op without a second audit entry)."""
    assert status in OBJECTION_STATUSES
    before = {"email_status": lead.email_status, "do_not_contact": lead.do_not_contact}
    reason = {"unsubscribed": "email unsubscribe", "suppressed": "email marked as spam"}[status] + f" ({via})"
    changed = raise_email_status(lead, status)
    withdrawn = withdraw_email_consent(lead, reason)
    scope = unsubscribe_scope()
    if scope == "all" and not lead.do_not_contact:
        # Objection to direct marketing (GDPR Art. 21(2)/(3)): effective at once on every channel.
        dnc.mark(lead, reason=f"objection: {reason}", actor=actor)
        changed = True
    if changed or withdrawn:
        audit.record(
            actor,
            f"lead.email_{status}",
            "lead",
            lead.id,
            before=before,
            after={
                "email_status": lead.email_status,
                "do_not_contact": lead.do_not_contact,
                "via": via,
                "scope": scope,
                "consents_withdrawn": withdrawn,
            },
        )
        return True
    return False


def mark_undeliverable(lead: Lead, *, status: str, actor: str, detail: str) -> bool:
    """A hard bounce ("bounced") or an address SendGrid calls invalid ("invalid")."""
    before = {"email_status": lead.email_status}
    if not raise_email_status(lead, status):
        return False
    audit.record(
        actor,
        f"lead.email_{status}",
        "lead",
        lead.id,
        before=before,
        after={"email_status": lead.email_status, "detail": detail[:200]},
    )
    return True


def tell_chain(lead: Lead, reason: StopReason, *, actor: str, required: bool = False) -> str:
    """Signal the lead's chain to stop. Returns "signalled", "no_chain" or "ended"; "unavailable" when
    Temporal did not answer (raises TemporalUnavailable instead when `required`)."""
    if not lead.chain_id:
        return "no_chain"
    try:
        gateway().signal(lead.chain_id, LeadChainWorkflow.stop, StopSignal(reason, actor=actor))
        return "signalled"
    except ChainNotRunning:
        return "ended"
    except TemporalUnavailable:
        if required:
            raise
        log.warning(
            "chain of lead %s not told to stop (%s): Temporal unavailable; the gates refuse anyway", lead.id, reason
        )
        return "unavailable"
