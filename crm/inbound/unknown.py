"""An unknown caller becomes a lead: source `phone`, the call kept as consent evidence for calling back about
this matter, and its chain started the way every lead's is (issue 17 item 2).

The intake runs here (crm.services.intake: one live lead per company and number, so a second call, or a
provider's retry of this one, finds the first lead instead of making another), then the lead is handed to
its chain through the durable inbox (crm.services.submissions.submit_processed, as a CSV import does): the
relay starts the chain later, so answering the call never waits for Temporal. Only the call that created the
lead queues it: one person, one chain."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

import phonenumbers
import sqlalchemy as sa

from crm.extensions import db
from crm.inbound.numbers import NumberRoute
from crm.inbound.recognition import CallerContext, CallerStatus, fill_from_lead
from crm.models import Channel, ConsentRecord, Lead, LegalBasis, User
from crm.schemas.lead import NormalizedLead
from crm.services import audit, intake, submissions
from crm.services.normalize import normalise_phone

log = logging.getLogger(__name__)
SOURCE = "phone"


def _lead_of(caller_e164: str, number: NumberRoute, now: datetime) -> NormalizedLead:
    region = phonenumbers.region_code_for_number(phonenumbers.parse(caller_e164, None)) or "DE"
    return NormalizedLead(
        source=SOURCE,
        phone=normalise_phone(caller_e164, region),
        phone_raw=caller_e164,
        language=number.language,
        country=region,
        source_created_at=now,
    )


def _evidence_key(provider: str, call_ref: str | None, caller_e164: str, number: NumberRoute, now: datetime) -> str:
    # The provider's call id where it sends one (a retry of the same call is the same evidence); else the
    # number called and the minute.
    basis = f"inbound|{provider}|{call_ref}" if call_ref else f"inbound|{number.e164}|{caller_e164}|{now:%Y%m%d%H%M}"
    return hashlib.sha256(basis.encode()).hexdigest()


def _record_consent(lead_id: int, key: str, provider: str, number: NumberRoute, now: datetime, actor: str) -> None:
    exists = db.session.scalar(
        sa.select(ConsentRecord.id).where(
            ConsentRecord.lead_id == lead_id, ConsentRecord.channel == Channel.PHONE, ConsentRecord.proof_key == key
        )
    )
    if exists:
        return
    consent = ConsentRecord(
        lead_id=lead_id,
        channel=Channel.PHONE,
        legal_basis=LegalBasis.CALLBACK_REQUEST,
        source=f"inbound call ({provider})",
        # The number called is the company's own (not personal data); the caller's number is the lead's.
        proof_text=f"The person called the company's number {number.e164} on {now:%Y-%m-%d %H:%M} UTC: "
        "callback about this matter.",
        proof_key=key,
        given_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(consent)
    except sa.exc.IntegrityError:
        return  # a concurrent retry of the same call recorded it
    audit.record(
        actor,
        "consent.recorded",
        "consent",
        consent.id,
        after={"lead_id": lead_id, "channel": "phone", "legal_basis": "callback_request", "source": consent.source},
    )


def registers(context: CallerContext) -> bool:
    """Whether `register` has anything to do: an unknown caller with a usable number."""
    return context.status is CallerStatus.UNKNOWN and context.caller_e164 is not None


def register(
    context: CallerContext, number: NumberRoute, provider: str, call_ref: str | None, now: datetime
) -> CallerContext:
    """Make the unknown caller of `context` a lead (the caller commits). A withheld or known caller: unchanged."""
    if not registers(context) or context.caller_e164 is None:
        return context
    actor = f"inbound:{provider}"
    normalized = _lead_of(context.caller_e164, number, now)
    result = intake.ingest(normalized, actor=actor)
    lead = db.session.get(Lead, result.lead_id)
    assert lead is not None
    if result.outcome == "created":
        # The number's branch and default owner where the assignment rules gave none.
        if lead.branch_id is None and number.branch_id is not None:
            lead.branch_id = number.branch_id
        if lead.owner_id is None and number.default_owner_id is not None:
            lead.owner_id = number.default_owner_id
        submissions.submit_processed(
            lead.id,
            submissions.chain_id_for(normalized, number.company_id),
            result,
            source=SOURCE,
            channel="phone",
            actor=actor,
        )
        context.new_lead = True
    key = _evidence_key(provider, call_ref, context.caller_e164, number, now)
    _record_consent(lead.id, key, provider, number, now, actor)
    db.session.flush()
    owner = db.session.scalar(sa.select(User.name).where(User.id == lead.owner_id)) if lead.owner_id else None
    filled = fill_from_lead(context, lead, owner, number, now)
    # The caller was not known when the call came in: the agent greets a new caller (asks their name).
    filled.status = CallerStatus.UNKNOWN
    return filled
