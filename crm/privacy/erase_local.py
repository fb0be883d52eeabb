"""Erasing a person from the CRM's own tables (GDPR Art. 17), keeping what the law requires us to keep.

What stays, and why:

* the lead row itself, emptied: its id keeps the counts in reports right and anchors what follows;
* consent records with channel, legal basis and dates, their proof text replaced by its SHA-256: § 7a UWG
  asks for five years of proof that consent was given; the hash lets an original kept elsewhere (the
  signed form) be matched, and names no one;
* audit entries with actor, action and time, their before/after values dropped;
* provider ids of calls and emails (the receipts of the provider deletions).

Everything else that holds the person's words or identifiers is emptied or deleted: names, email, phone,
interest and qualification answers, transcripts, summaries, recording links, email replies, notes, task
and appointment texts, the stored intake payloads, duplicate flags, and the do-not-call row of their
number (the hashed suppression list takes over, crm.privacy.suppression). Audit, inbox and unparseable-
payload rows that mention the person's identifiers anywhere are scrubbed too."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from crm.extensions import affected_rows, db
from crm.models import (
    Appointment,
    AuditEntry,
    ConsentRecord,
    DoNotCallEntry,
    Interaction,
    Lead,
    LeadStatus,
    LeadSubmission,
    PossibleDuplicate,
    ScoreHistory,
    SideEffect,
    Task,
    UnparseablePayload,
    WebhookDelivery,
)
from crm.models.call_outbox import CallResultDelivery
from crm.models.types import utcnow

ERASED = "erased"
LEAD_CLEARED = (
    "first_name",
    "last_name",
    "company",
    "email",
    "email_key",
    "phone_e164",
    "phone_region",
    "phone_timezone",
    "phone_raw",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "interest",
    "qualification",
    "match_key",
    "dnc_reason",
    "source_created_at",
)


@dataclass
class Identifiers:
    """The person's own strings, read before the rows are emptied, to find them in free-form columns."""

    values: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    chain_ids: set[str] = field(default_factory=set)


def identifiers(lead_ids: list[int]) -> Identifiers:
    found = Identifiers()
    for lead in db.session.scalars(sa.select(Lead).where(Lead.id.in_(lead_ids))):
        for value in (lead.email, lead.email_key, lead.phone_e164, lead.phone_raw):
            if value and len(value) >= 5:
                found.values.add(value)
        if lead.phone_e164:
            found.phones.add(lead.phone_e164)
        full = " ".join(p for p in (lead.first_name, lead.last_name) if p)
        if len(full) >= 5:
            found.values.add(full)
        if lead.chain_id:
            found.chain_ids.add(lead.chain_id)
    return found


def _mentions(column: Any, values: set[str]) -> sa.ColumnElement[bool]:
    """Rows whose column (JSON or text) contains any of the values (LIKE, wildcards escaped)."""
    text = sa.cast(column, sa.Text)
    escaped = [v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for v in values]
    return sa.or_(*(text.like(f"%{v}%", escape="\\") for v in escaped)) if escaped else sa.false()


def _lead_rows(lead_ids: list[int], reason: str) -> int:
    count = 0
    for lead in db.session.scalars(sa.select(Lead).where(Lead.id.in_(lead_ids))):
        for name in LEAD_CLEARED:
            setattr(lead, name, None)
        lead.tags, lead.email_status, lead.phone_status = [], "none", "unknown"
        lead.do_not_contact, lead.dnc_at = True, lead.dnc_at or utcnow()
        lead.dnc_reason = f"erased ({reason})"[:200]
        lead.status = LeadStatus.DO_NOT_CONTACT
        count += 1
    return count


def _consents(lead_ids: list[int], reason: str) -> int:
    count = 0
    for consent in db.session.scalars(sa.select(ConsentRecord).where(ConsentRecord.lead_id.in_(lead_ids))):
        if consent.proof_text.startswith("sha256:"):
            continue  # erased already (a retried step)
        consent.proof_text = "sha256:" + hashlib.sha256(consent.proof_text.encode()).hexdigest()
        consent.source = f"erased ({reason})"[:200]
        consent.withdrawn_at = consent.withdrawn_at or utcnow()
        consent.withdrawn_reason = consent.withdrawn_reason and ERASED
        count += 1
    return count


def _update(model: type, where: sa.ColumnElement[bool], **values: object) -> int:
    return affected_rows(db.session.execute(sa.update(model).where(where).values(**values)))


def _delete(model: type, where: sa.ColumnElement[bool]) -> int:
    return affected_rows(db.session.execute(sa.delete(model).where(where)))


def erase(lead_ids: list[int], *, reason: str) -> dict[str, int]:
    """Empty the person's rows; returns {table: rows changed}. Idempotent. `reason` ("privacy request 7",
    "retention") is written where the values were. The caller commits."""
    who = identifiers(lead_ids)
    changed: dict[str, int] = {}
    marker = {"erased": True, "reason": reason}
    changed["interactions"] = _update(
        Interaction,
        Interaction.lead_id.in_(lead_ids),
        subject=None,
        summary=None,
        transcript=sa.null(),  # SQL NULL (None would be stored as a JSON null)
        recording_url=None,
        sentiment=None,
        data=marker,
    )
    changed["tasks"] = _update(Task, Task.lead_id.in_(lead_ids), title=ERASED, details=None)
    changed["appointments"] = _update(Appointment, Appointment.lead_id.in_(lead_ids), title=ERASED, location=None)
    changed["score_history"] = _update(ScoreHistory, ScoreHistory.lead_id.in_(lead_ids), breakdown={})
    changed["lead_submissions"] = _update(
        LeadSubmission, LeadSubmission.lead_id.in_(lead_ids), payload={}, result=sa.null(), last_error=None
    )
    changed["side_effects"] = _update(SideEffect, SideEffect.lead_id.in_(lead_ids), result=marker)
    changed["possible_duplicates"] = _delete(
        PossibleDuplicate, sa.or_(PossibleDuplicate.lead_id.in_(lead_ids), PossibleDuplicate.candidate_id.in_(lead_ids))
    )
    changed["audit_log"] = _update(
        AuditEntry,
        sa.or_(
            sa.and_(AuditEntry.entity_type == "lead", AuditEntry.entity_id.in_(lead_ids)),
            _mentions(AuditEntry.before, who.values),
            _mentions(AuditEntry.after, who.values),
        ),
        before=None,
        after=marker,
    )
    if who.chain_ids:
        changed["call_result_deliveries"] = _update(
            CallResultDelivery, CallResultDelivery.chain_id.in_(who.chain_ids), result=marker
        )
        # A submission of the person still waiting for its chain (the chain is stopped and deleted) is closed:
        # the relay must not start a new chain for an emptied payload.
        now = utcnow()
        changed["lead_submissions"] += _update(
            LeadSubmission,
            LeadSubmission.chain_id.in_(who.chain_ids),
            payload={},
            result=sa.null(),
            last_error=None,
            dispatched_at=sa.func.coalesce(LeadSubmission.dispatched_at, now),
            processed_at=sa.func.coalesce(LeadSubmission.processed_at, now),
            outcome=sa.func.coalesce(LeadSubmission.outcome, ERASED),
        )
    changed["webhook_deliveries"] = _update(
        WebhookDelivery, _mentions(WebhookDelivery.response_body, who.values), response_body=marker
    )
    changed["unparseable_payloads"] = _delete(UnparseablePayload, _mentions(UnparseablePayload.body, who.values))
    if who.phones:
        changed["dnc_list"] = _delete(DoNotCallEntry, DoNotCallEntry.phone_e164.in_(who.phones))
    changed["consent_records"] = _consents(lead_ids, reason)
    changed["leads"] = _lead_rows(lead_ids, reason)
    db.session.flush()
    return changed
