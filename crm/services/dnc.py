"""Do-not-contact: an objection takes effect at once, on every channel (GDPR Art. 21(3))."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models import ConsentRecord, DoNotCallEntry, Lead, LeadStatus
from crm.models.types import utcnow
from crm.services import audit


def mark(lead: Lead, *, reason: str, actor: str) -> bool:
    """Flag the lead, withdraw its consents, list its number. False when it was already flagged.
    The caller commits."""
    if lead.do_not_contact:
        return False
    before = audit.snapshot(lead)
    lead.do_not_contact, lead.dnc_reason, lead.dnc_at = True, reason[:200], utcnow()
    lead.status = LeadStatus.DO_NOT_CONTACT
    for consent in db.session.scalars(
        sa.select(ConsentRecord).where(ConsentRecord.lead_id == lead.id, ConsentRecord.withdrawn_at.is_(None))
    ):
        consent.withdrawn_at, consent.withdrawn_reason = utcnow(), reason[:200]
    # The objection keeps holding after an erasure: the erasure moves the number to the hashed suppression
    # list (crm.privacy.suppression), which the dial gate consults too.
    if (
        lead.phone_e164
        and db.session.scalar(sa.select(DoNotCallEntry.id).where(DoNotCallEntry.phone_e164 == lead.phone_e164)) is None
    ):
        db.session.add(DoNotCallEntry(phone_e164=lead.phone_e164, source="internal", reason=reason[:200]))
    audit.record(actor, "lead.do_not_contact", "lead", lead.id, before=before, after=audit.snapshot(lead))
    return True
