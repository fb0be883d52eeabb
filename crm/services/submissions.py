"""The inbox between the web and the lead chain.

The web validates a lead, stores it here with its delivery record in one transaction, and answers 2xx.
The relay (workers/relay.py) then starts or signals the chain. The chain's import activity runs the
intake on the stored payload. The workflow id comes from the lead's dedupe key through a keyed hash,
so the same person lands on the same chain and no personal data reaches Temporal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from crm import secret_names
from crm.errors import ApiError
from crm.extensions import db
from crm.models import LeadSubmission
from crm.models.types import utcnow
from crm.privacy import suppression
from crm.schemas.lead import NormalizedLead, WebFormLeadSchema
from crm.secrets import SecretsError
from crm.services import intake
from crm.services import normalize as n
from crm.services.intake import IntakeResult
from crm.tenancy.context import require_company_id

log = logging.getLogger(__name__)
REGION_KEY = "_region"
# The lead as validated and normalised by the web, stored beside the raw payload so that the chain's import
# step does not parse it through the whole schema again (issue 21). It carries the submission's chain id,
# which only a holder of the chain key can compute: a sender's own "_normalised" field is never taken for it.
NORMALISED_KEY = "_normalised"


class ChainKeyMissing(ApiError, SecretsError):
    """The chain key (secret app/chain-key) is not configured, so no chain id can be computed.

    A hard error on purpose: any stand-in key (the Flask key, a constant) gives the same person a
    different chain id than the processes that have the key, i.e. a second chain and second calls.
    As an ApiError the web answers 503 (intake is unavailable, the sender retries later); str() is the
    operator's message with how to set it, which the CLI prints.
    """

    OPERATOR_HINT = (
        "secret app/chain-key is not set, so chain ids cannot be computed. Set it in Vault "
        "(key chain-key of group app) or as LEADCHAIN_SECRET_APP_CHAIN_KEY; the local stack keeps "
        "it in var/local-secrets.env, written by `leadchain up` (or LEADCHAIN_VAR_DIR). Set it once "
        "and never change it: another key gives every lead a second chain."
    )

    def __init__(self) -> None:
        super().__init__(
            503, "lead intake is unavailable: the server's chain key is not configured", headers={"Retry-After": "300"}
        )

    def __str__(self) -> str:
        return self.OPERATOR_HINT


def _pepper() -> bytes:
    value = current_app.extensions["leadchain.secrets"].get(secret_names.APP_CHAIN_KEY)
    if not value:
        log.error("secret app/chain-key is not set: lead intake refused")
        raise ChainKeyMissing()
    return value.encode()


def require_chain_key() -> None:
    """Raise ChainKeyMissing now, before any work that would need the key midway."""
    _pepper()


def chain_id_for(lead: NormalizedLead, company_id: int | None = None) -> str:
    """`c<company>-lead-<digest>`: one chain per person and company (docs/tenancy.md rule 4). The keyed
    hash covers the company and the person's key, so the same person sent to two companies gets two
    chains, and the id names no one. `company_id` defaults to the current scope's (NoCompanyScope without).

    Chains started before tenancy have ids `lead-<digest>`; a person who comes again gets the new id, and
    the import finds their lead still on the old running chain and joins it (forward_to_chain)."""
    company = company_id if company_id is not None else require_company_id()
    key = lead.email_key or (lead.phone.e164 if lead.phone else "")
    digest = hmac.new(_pepper(), f"{company}:{key}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"c{company}-lead-{digest}"


def submit(lead: NormalizedLead, payload: dict[str, Any], *, region: str, channel: str, actor: str) -> LeadSubmission:
    """Store a validated lead for its chain. The caller commits (with its delivery record). An erased person
    (crm.privacy.suppression) is refused with a 409 naming the field before anything is stored."""
    suppression.refuse_if_suppressed(lead.email_key, lead.phone.e164 if lead.phone else None)
    clean = {k: v for k, v in payload.items() if v is not None and not (isinstance(v, str) and not v.strip())}
    clean[REGION_KEY] = region
    chain_id = chain_id_for(lead)
    clean[NORMALISED_KEY] = _stored(lead, chain_id)
    submission = LeadSubmission(source=lead.source, channel=channel, actor=actor, chain_id=chain_id, payload=clean)
    db.session.add(submission)
    db.session.flush()
    return submission


def submit_processed(
    lead_id: int, chain_id: str, result: IntakeResult, *, source: str, channel: str, actor: str
) -> LeadSubmission:
    """For bulk imports whose intake already ran: hand the lead to its chain all the same."""
    submission = LeadSubmission(
        source=source,
        channel=channel,
        actor=actor,
        chain_id=chain_id,
        payload={},
        processed_at=utcnow(),
        lead_id=lead_id,
        outcome=result.outcome,
        result=result.as_dict(),
    )
    db.session.add(submission)
    db.session.flush()
    return submission


def load(submission: LeadSubmission) -> NormalizedLead:
    payload = dict(submission.payload)
    region = payload.pop(REGION_KEY, "DE")
    stored = payload.pop(NORMALISED_KEY, None)
    lead = _restored(stored, submission.chain_id)
    if lead is not None:
        return lead
    # Stored before the web kept the normalised lead (or by a caller that stores the raw payload only).
    return WebFormLeadSchema(default_region=region, default_source=submission.source).load(payload)


def _stored(lead: NormalizedLead, chain_id: str) -> dict[str, Any]:
    data = dataclasses.asdict(lead)
    if lead.source_created_at is not None:
        data["source_created_at"] = lead.source_created_at.isoformat()
    data["chain_id"] = chain_id
    return data


def _restored(stored: Any, chain_id: str) -> NormalizedLead | None:
    if not isinstance(stored, dict) or stored.get("chain_id") != chain_id:
        return None
    data = {k: v for k, v in stored.items() if k != "chain_id"}
    phone, created = data.pop("phone", None), data.pop("source_created_at", None)
    return NormalizedLead(
        **data,
        phone=n.Phone(**phone) if phone else None,
        source_created_at=datetime.fromisoformat(created) if created else None,
    )


def process(submission_id: int, *, fuzzy_threshold: float = 90.0) -> IntakeResult:
    """Run intake for a submission, once. A retried activity gets the first result back."""
    submission = db.session.get(LeadSubmission, submission_id, with_for_update=True)
    if submission is None:
        raise LookupError(f"submission {submission_id} does not exist")
    if submission.processed_at is not None:
        stored = submission.result or {}
        if submission.lead_id is None:
            # processed_at and lead_id are written together below; one without the other is a broken row.
            raise LookupError(f"submission {submission_id} is processed but names no lead")
        return IntakeResult(
            submission.lead_id,
            submission.outcome or "duplicate",
            stored.get("flagged_duplicates", []),
            stored.get("warnings", []),
        )
    result = intake.ingest(load(submission), actor=submission.actor, fuzzy_threshold=fuzzy_threshold)
    submission.processed_at = utcnow()
    submission.lead_id = result.lead_id
    submission.outcome = result.outcome
    submission.result = result.as_dict()
    db.session.commit()
    return result


def pending(limit: int = 100) -> list[tuple[int, str]]:
    rows = db.session.execute(
        sa.select(LeadSubmission.id, LeadSubmission.chain_id)
        .where(LeadSubmission.dispatched_at.is_(None))
        .order_by(LeadSubmission.id)
        .limit(limit)
    ).all()
    return [(r.id, r.chain_id) for r in rows]


def mark_dispatched(ids: list[int], at: datetime | None = None) -> None:
    if ids:
        db.session.execute(
            sa.update(LeadSubmission).where(LeadSubmission.id.in_(ids)).values(dispatched_at=at or utcnow())
        )
    db.session.commit()


def mark_failed(submission_id: int, error: str) -> None:
    db.session.execute(
        sa.update(LeadSubmission)
        .where(LeadSubmission.id == submission_id)
        .values(dispatch_attempts=LeadSubmission.dispatch_attempts + 1, last_error=error[:300])
    )
    db.session.commit()
