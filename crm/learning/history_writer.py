"""Write generated history (crm.learning.history_generator) into the CRM of the current company: leads with
their consents, calls and emails, and the deals that decided them. For the workflow test and the bench;
bulk inserts in chunks, committed by the caller."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.learning.history_generator import HistoryLead
from crm.models import (
    Channel,
    ConsentRecord,
    Deal,
    DealStage,
    DealStatus,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    LeadStatus,
    LegalBasis,
)
from crm.tenancy.context import require_company_id

CHUNK = 5000
STAGE_NAME = "Generated history"


@dataclass(frozen=True)
class Written:
    lead_ids: list[int]  # in the order of the generated leads
    closed: int


def _stage_id(company_id: int) -> int:
    found = db.session.scalar(sa.select(DealStage.id).order_by(DealStage.position, DealStage.id).limit(1))
    if found is not None:
        return found
    stage = DealStage(company_id=company_id, name=STAGE_NAME, position=0, probability=50)
    db.session.add(stage)
    db.session.flush()
    return stage.id


def _lead_row(lead: HistoryLead, company_id: int, tag: str) -> dict[str, Any]:
    email = f"{(lead.first_name or 'kontakt').lower()}.{lead.index}.{tag}@{lead.email_domain}"
    status = LeadStatus.NURTURING
    decided_at = None
    if lead.outcome is not None:
        won, decided_at, how = lead.outcome
        status = LeadStatus.BOOKED if how == "deal" else LeadStatus.LOST
        status = LeadStatus.DO_NOT_CONTACT if lead.do_not_contact else status
    return {
        "company_id": company_id,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "company": lead.company,
        "email": email if lead.email_domain else None,
        "email_key": email if lead.email_domain else None,
        "email_status": "valid",
        "phone_e164": f"+49301{company_id:02d}{lead.index:07d}" if lead.has_phone else None,
        "phone_status": "valid",
        "language": "de",
        "source": lead.source,
        "utm_source": lead.utm_source,
        "utm_medium": lead.utm_medium,
        "interest": lead.interest,
        "qualification": {k: v for k, v in (("industry", lead.industry), ("company_size", lead.company_size)) if v},
        "status": status,
        "do_not_contact": lead.do_not_contact,
        "dnc_at": decided_at if lead.do_not_contact else None,
        "tags": [],
        "created_at": lead.created_at,
        "updated_at": decided_at if status in (LeadStatus.LOST, LeadStatus.DO_NOT_CONTACT) else lead.created_at,
    }


def _children(lead: HistoryLead, lead_id: int, company_id: int, stage_id: int) -> dict[str, list[dict[str, Any]]]:
    common = {"company_id": company_id, "lead_id": lead_id}
    consents = [
        {
            **common,
            "channel": channel,
            "legal_basis": LegalBasis.EXPRESS_CONSENT,
            "source": "web form",
            "proof_text": "generated history",
            "proof_key": "history",
            "given_at": lead.created_at,
            "created_at": lead.created_at,
        }
        for channel, given in ((Channel.PHONE, lead.phone_consent), (Channel.EMAIL, lead.email_consent))
        if given
    ]
    calls = [
        {
            **common,
            "kind": InteractionKind.CALL,
            "direction": Direction.OUTBOUND,
            "provider": "history",
            "provider_ref": f"call-{lead_id}-{k}",
            "status": "completed",
            "started_at": call.at,
            "ended_at": call.at + timedelta(minutes=3),
            "duration_s": 180,
            "outcome": call.outcome,
            "sentiment": call.sentiment,
            "created_at": call.at,
            "updated_at": call.at,
        }
        for k, call in enumerate(lead.calls)
    ]
    if lead.email_domain is not None:
        sent = lead.created_at + timedelta(minutes=5)
        calls.append(
            {
                **common,
                "kind": InteractionKind.EMAIL,
                "direction": Direction.OUTBOUND,
                "provider": "history",
                "provider_ref": f"mail-{lead_id}",
                "status": "clicked" if lead.clicks else "opened" if lead.opens else "delivered",
                "data": {"opens": lead.opens, "clicks": lead.clicks},
                "created_at": sent,
                "updated_at": sent,
            }
        )
    deals = []
    if lead.outcome is not None and lead.outcome[2] == "deal":
        won, decided_at, _how = lead.outcome
        opened = lead.calls[0].at if lead.calls else lead.created_at
        deals.append(
            {
                **common,
                "title": f"Deal {lead.index}",
                "stage_id": stage_id,
                "status": DealStatus.WON if won else DealStatus.LOST,
                "value_cents": 250_000,
                "currency": "EUR",
                "stage_changed_at": decided_at,
                "closed_at": decided_at,
                "created_at": opened,
                "updated_at": decided_at,
            }
        )
    return {"consents": consents, "interactions": calls, "deals": deals}


def write(leads: Sequence[HistoryLead], tag: str = "h") -> Written:
    """Insert `leads` (and their consents, calls, emails and deals) in the current company; not committed.
    `tag` keeps the email addresses of two runs into one company apart."""
    company_id = require_company_id()
    stage_id = _stage_id(company_id)
    lead_ids: list[int] = []
    for start in range(0, len(leads), CHUNK):
        chunk = leads[start : start + CHUNK]
        rows = [_lead_row(lead, company_id, tag) for lead in chunk]
        ids = db.session.scalars(sa.insert(Lead).returning(Lead.id, sort_by_parameter_order=True), rows).all()
        lead_ids += ids
        children: dict[str, list[dict[str, Any]]] = {"consents": [], "interactions": [], "deals": []}
        for lead, lead_id in zip(chunk, ids, strict=True):
            for key, found in _children(lead, lead_id, company_id, stage_id).items():
                children[key] += found
        for model, key in ((ConsentRecord, "consents"), (Interaction, "interactions"), (Deal, "deals")):
            if children[key]:
                db.session.execute(sa.insert(model), children[key])
    return Written(lead_ids, sum(1 for lead in leads if lead.outcome is not None))
