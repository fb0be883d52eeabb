"""Every table that holds a person's data, how its rows are found from the person's lead ids, and what its
fields mean (the export's "fields" section; docs/privacy.md lists the same tables).

One list serves the export (what to copy) and the tests (that the export and the erasure cover the same
tables); the erasure's per-table rules are in crm.privacy.erase_local."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from crm.models import (
    Appointment,
    AuditEntry,
    ConsentRecord,
    Interaction,
    Lead,
    LeadSubmission,
    PossibleDuplicate,
    ScoreHistory,
    SideEffect,
    Task,
)


@dataclass(frozen=True)
class Holding:
    table: str
    model: Any
    where: Callable[[list[int]], Any]
    fields: dict[str, str]


def _lead_rows(model: Any) -> Callable[[list[int]], Any]:
    return lambda ids: model.lead_id.in_(ids)


HOLDINGS: tuple[Holding, ...] = (
    Holding(
        "leads",
        Lead,
        lambda ids: Lead.id.in_(ids),
        {
            "first_name, last_name, company": "your name and employer as given to us",
            "email, phone_e164, phone_raw": "your email address and phone number (E.164 and as entered)",
            "phone_region, phone_timezone": "the country and time zone derived from your number",
            "language": "the language we contact you in",
            "source, utm_*": "where your enquiry came from (form, campaign)",
            "interest": "what you told us you are interested in",
            "qualification": "answers collected on a call (need, timing, decision maker)",
            "status, score, priority, tags": "our sales team's assessment of your enquiry",
            "do_not_contact, dnc_reason, dnc_at": "whether and why you asked not to be contacted",
            "merged_into_id": "set when two records of yours were merged",
            "created_at, updated_at": "when the record was created and last changed",
        },
    ),
    Holding(
        "consent_records",
        ConsentRecord,
        _lead_rows(ConsentRecord),
        {
            "channel, legal_basis": "which channel (phone, email) and on what legal basis we may contact you",
            "source, proof_text": "where and how the consent was given, in the words recorded",
            "given_at, withdrawn_at, withdrawn_reason": "when consent was given and withdrawn",
        },
    ),
    Holding(
        "interactions",
        Interaction,
        _lead_rows(Interaction),
        {
            "kind, direction": "call, email, meeting, note or SMS, and who started it",
            "provider, provider_ref": "the service that carried it (voice provider, email service) and its id",
            "started_at, ended_at, duration_s, status, outcome": "when it happened, how long, how it ended",
            "subject, summary": "the subject and a summary, or the text of a note or email reply",
            "transcript": "the call's transcript, turn by turn (role, text)",
            "recording_url": "where the provider keeps the call recording (the file is in recordings/)",
            "data": "further details the provider or email service sent",
        },
    ),
    Holding(
        "tasks",
        Task,
        _lead_rows(Task),
        {"title, details": "a follow-up our team planned", "due_at, status": "when it was due and whether done"},
    ),
    Holding(
        "appointments",
        Appointment,
        _lead_rows(Appointment),
        {
            "starts_at, ends_at, title, location": "an appointment with you",
            "status, cancelled_at, no_show_at": "whether it took place",
        },
    ),
    Holding(
        "score_history",
        ScoreHistory,
        _lead_rows(ScoreHistory),
        {"score, priority, breakdown": "how our scoring rated your enquiry and why (points per factor)"},
    ),
    Holding(
        "possible_duplicates",
        PossibleDuplicate,
        lambda ids: sa.or_(PossibleDuplicate.lead_id.in_(ids), PossibleDuplicate.candidate_id.in_(ids)),
        {"lead_id, candidate_id, reason": "two records our system thought might be the same person"},
    ),
    Holding(
        "lead_submissions",
        LeadSubmission,
        _lead_rows(LeadSubmission),
        {"payload": "the enquiry exactly as it reached us", "received_at, channel": "when and how it arrived"},
    ),
    Holding(
        "side_effects",
        SideEffect,
        _lead_rows(SideEffect),
        {"kind, status, provider, provider_ref": "each call and email we made to you, with the provider's id"},
    ),
    Holding(
        "audit_log",
        AuditEntry,
        lambda ids: sa.and_(AuditEntry.entity_type == "lead", AuditEntry.entity_id.in_(ids)),
        {"actor, action, at": "who changed your record, what and when", "before, after": "the values changed"},
    ),
)
