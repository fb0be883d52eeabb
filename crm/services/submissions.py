"""The inbox between the web and the lead chain.

The web validates a lead, stores it here with its delivery record in one transaction, and answers 2xx.
The relay (workers/relay.py) then starts or signals the chain. The chain's import activity runs the
intake on the stored payload. The workflow id comes from the lead's dedupe key through a keyed hash,
so the same person lands on the same chain and no personal data reaches Temporal.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from crm.extensions import db
from crm.models import LeadSubmission
from crm.models.types import utcnow
from crm.schemas.lead import NormalizedLead, WebFormLeadSchema
from crm.services import intake
from crm.services.intake import IntakeResult

log = logging.getLogger(__name__)
REGION_KEY = "_region"


def _pepper() -> bytes:
    secrets = current_app.extensions["leadchain.secrets"]
    value = secrets.get("app/chain-key") or secrets.get("app/secret-key")
    if not value:
        # Still no personal data in the id, but guessable for a known number: configure the key.
        log.warning("app/chain-key is not set: chain ids use an unkeyed hash")
        value = "leadchain-unkeyed"
    return value.encode()


def chain_id_for(lead: NormalizedLead) -> str:
    key = lead.email_key or (lead.phone.e164 if lead.phone else "")
    digest = hmac.new(_pepper(), key.encode(), hashlib.sha256).hexdigest()[:32]
    return f"lead-{digest}"


def submit(lead: NormalizedLead, payload: dict[str, Any], *, region: str, channel: str,
           actor: str) -> LeadSubmission:
    """Store a validated lead for its chain. The caller commits (with its delivery record)."""
    clean = {k: v for k, v in payload.items() if v is not None and not (isinstance(v, str) and not v.strip())}
    clean[REGION_KEY] = region
    submission = LeadSubmission(source=lead.source, channel=channel, actor=actor, chain_id=chain_id_for(lead),
                                payload=clean)
    db.session.add(submission)
    db.session.flush()
    return submission


def submit_processed(lead_id: int, chain_id: str, result: IntakeResult, *, source: str, channel: str,
                     actor: str) -> LeadSubmission:
    """For bulk imports whose intake already ran: hand the lead to its chain all the same."""
    submission = LeadSubmission(source=source, channel=channel, actor=actor, chain_id=chain_id, payload={},
                                processed_at=utcnow(), lead_id=lead_id, outcome=result.outcome,
                                result=result.as_dict())
    db.session.add(submission)
    db.session.flush()
    return submission


def load(submission: LeadSubmission) -> NormalizedLead:
    payload = dict(submission.payload)
    region = payload.pop(REGION_KEY, "DE")
    return WebFormLeadSchema(default_region=region, default_source=submission.source).load(payload)


def process(submission_id: int, *, fuzzy_threshold: float = 90.0) -> IntakeResult:
    """Run intake for a submission, once. A retried activity gets the first result back."""
    submission = db.session.get(LeadSubmission, submission_id, with_for_update=True)
    if submission is None:
        raise LookupError(f"submission {submission_id} does not exist")
    if submission.processed_at is not None:
        stored = submission.result or {}
        return IntakeResult(submission.lead_id, submission.outcome or "duplicate",
                            stored.get("flagged_duplicates", []), stored.get("warnings", []))
    result = intake.ingest(load(submission), actor=submission.actor, fuzzy_threshold=fuzzy_threshold)
    submission.processed_at = utcnow()
    submission.lead_id = result.lead_id
    submission.outcome = result.outcome
    submission.result = result.as_dict()
    db.session.commit()
    return result


def pending(limit: int = 100) -> list[tuple[int, str]]:
    rows = db.session.execute(sa.select(LeadSubmission.id, LeadSubmission.chain_id)
                              .where(LeadSubmission.dispatched_at.is_(None))
                              .order_by(LeadSubmission.id).limit(limit)).all()
    return [(r.id, r.chain_id) for r in rows]


def mark_dispatched(ids: list[int], at: datetime | None = None) -> None:
    if ids:
        db.session.execute(sa.update(LeadSubmission).where(LeadSubmission.id.in_(ids))
                           .values(dispatched_at=at or utcnow()))
    db.session.commit()


def mark_failed(submission_id: int, error: str) -> None:
    db.session.execute(sa.update(LeadSubmission).where(LeadSubmission.id == submission_id).values(
        dispatch_attempts=LeadSubmission.dispatch_attempts + 1, last_error=error[:300]))
    db.session.commit()
