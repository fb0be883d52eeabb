"""Lead intake: dedupe a normalised lead against the CRM, create or fill it in, record consent.

Runs inside the caller's transaction and never commits, so a caller can make a delivery record and the
lead one atomic unit (nothing half-written).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa
from rapidfuzz import fuzz

from crm.extensions import db
from crm.models import (
    AuditEntry,
    Channel,
    ConsentRecord,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    LegalBasis,
    PossibleDuplicate,
)
from crm.models.types import utcnow
from crm.schemas.lead import NormalizedLead
from crm.services import assignment, audit
from crm.services.normalize import fold, fold_company, match_key

# Fields intake may fill in; a value a rep (or an earlier source) already set is never overwritten.
FILLABLE = (
    "first_name",
    "last_name",
    "company",
    "email",
    "phone_e164",
    "phone_region",
    "phone_timezone",
    "phone_status",
    "phone_raw",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "interest",
    "source_created_at",
)


@dataclass
class IntakeResult:
    lead_id: int
    outcome: str  # created | updated | duplicate
    flagged_duplicates: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "lead_id": self.lead_id,
            "outcome": self.outcome,
            "flagged_duplicates": self.flagged_duplicates,
            "warnings": self.warnings,
        }


def _values(lead: NormalizedLead) -> dict:
    values = {
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "company": lead.company,
        "email": lead.email,
        "interest": lead.interest,
        "source_created_at": lead.source_created_at,
        **{k: lead.utm.get(k) for k in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")},
    }
    if lead.phone:
        values.update(
            phone_e164=lead.phone.e164,
            phone_region=lead.phone.region,
            phone_timezone=lead.phone.timezone,
            phone_status=lead.phone.status,
            phone_raw=lead.phone_raw,
        )
    return {k: v for k, v in values.items() if v is not None}


def find_exact(lead: NormalizedLead) -> tuple[Lead | None, Lead | None]:
    """The live records matching by email key and by phone (either may be None, or the same)."""
    by_email = by_phone = None
    if lead.email_key:
        by_email = db.session.scalar(
            sa.select(Lead).where(Lead.email_key == lead.email_key, Lead.merged_into_id.is_(None))
        )
    if lead.phone:
        by_phone = db.session.scalar(
            sa.select(Lead).where(Lead.phone_e164 == lead.phone.e164, Lead.merged_into_id.is_(None))
        )
    return by_email, by_phone


def ingest(lead: NormalizedLead, *, actor: str, fuzzy_threshold: float = 90.0) -> IntakeResult:
    """Create or update the customer for `lead`. The caller commits."""
    by_email, by_phone = find_exact(lead)
    existing = by_email or by_phone
    if existing is None:
        try:
            with db.session.begin_nested():
                record = _create(lead, actor)
        except sa.exc.IntegrityError:
            # A concurrent request inserted the same person between our look-up and insert.
            by_email, by_phone = find_exact(lead)
            existing = by_email or by_phone
            if existing is None:
                raise
        else:
            flagged = _flag_fuzzy(record, fuzzy_threshold)
            _record_consent(record, lead, actor)
            _record_note(record, lead, actor)
            return IntakeResult(record.id, "created", flagged, list(lead.warnings))

    outcome = _fill_gaps(existing, lead, actor)
    flagged = []
    if by_email and by_phone and by_email.id != by_phone.id:
        # Email says one person, phone another: a rep must decide, we do not guess.
        flagged.append(_flag(by_email.id, by_phone.id, 100.0, "same phone number, different email"))
    if _record_consent(existing, lead, actor):
        outcome = "updated"
    if _record_note(existing, lead, actor):
        outcome = "updated"
    return IntakeResult(existing.id, outcome, [f for f in flagged if f], list(lead.warnings))


def _create(lead: NormalizedLead, actor: str) -> Lead:
    record = Lead(
        source=lead.source,
        language=lead.language,
        email_key=lead.email_key,
        match_key=match_key(lead.last_name),
        tags=[],
        email_status="unknown" if lead.email else "none",
        **_values(lead),
    )
    db.session.add(record)
    db.session.flush()
    audit.record(actor, "lead.created", "lead", record.id, after=audit.snapshot(record))
    # Inside the caller's savepoint: a lost insert race also gives back the round-robin turn.
    assignment.assign_new_lead(record, country=lead.country, postcode=lead.extra.get("postal_code"))
    return record


def _fill_gaps(existing: Lead, lead: NormalizedLead, actor: str) -> str:
    before, after, conflicts = {}, {}, {}
    for name, value in _values(lead).items():
        current = getattr(existing, name)
        if current in (None, "", "unknown"):
            if name == "phone_e164" and _phone_taken(value, existing.id):
                continue
            before[name], after[name] = current, value
            setattr(existing, name, value)
        elif current != value and name not in (
            "phone_region",
            "phone_timezone",
            "phone_status",
            "phone_raw",
            "source_created_at",
        ):
            conflicts[name] = value
    if "email" in after:
        existing.email_key = lead.email_key
        existing.email_status = "unknown"
    if "last_name" in after:
        existing.match_key = match_key(existing.last_name)
    if after:
        db.session.flush()
        audit.record(actor, "lead.updated", "lead", existing.id, before=before, after=after)
    if conflicts and not _conflict_already_logged(existing.id, conflicts):
        # Never overwrite silently: keep the CRM's value and log what the source proposed (once).
        audit.record(
            actor,
            "lead.intake_conflict",
            "lead",
            existing.id,
            before={k: getattr(existing, k) for k in conflicts},
            after=conflicts,
        )
    return "updated" if after else "duplicate"


def _conflict_already_logged(lead_id: int, proposed: dict) -> bool:
    previous = db.session.scalars(
        sa.select(AuditEntry.after).where(
            AuditEntry.entity_type == "lead",
            AuditEntry.entity_id == lead_id,
            AuditEntry.action == "lead.intake_conflict",
        )
    )
    wanted = {k: audit._jsonable(v) for k, v in proposed.items()}
    return any(entry == wanted for entry in previous)


def _phone_taken(e164: str, lead_id: int) -> bool:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Lead)
            .where(Lead.phone_e164 == e164, Lead.merged_into_id.is_(None), Lead.id != lead_id)
        )
        or 0
    ) > 0


def _flag(lead_id: int, candidate_id: int, similarity: float, reason: str) -> int:
    a, b = sorted((lead_id, candidate_id), reverse=True)
    exists = db.session.scalar(
        sa.select(PossibleDuplicate.id).where(PossibleDuplicate.lead_id == a, PossibleDuplicate.candidate_id == b)
    )
    if exists:
        return 0
    db.session.add(PossibleDuplicate(lead_id=a, candidate_id=b, similarity=round(similarity, 1), reason=reason))
    return b


def _flag_fuzzy(record: Lead, threshold: float) -> list[int]:
    """Flag likely duplicates (same person, other spelling) for a rep; blocking on the folded last name
    keeps this one indexed query per lead. The candidates are read as the four columns compared, not as
    Lead objects: in a CRM of a million leads a common last name fills the 200 every time (issue 21); so
    they are the newest 200 (the index of migration 0030 reads them backwards), where a lead that came
    again with another spelling is, not 200 arbitrary ones of thousands."""
    company = fold_company(record.company)
    if not record.match_key or not company:
        return []  # a similar name alone is never flagged (below): without a company there is nothing to compare
    name = fold(f"{record.first_name or ''} {record.last_name or ''}")
    candidates = db.session.execute(
        sa.select(Lead.id, Lead.first_name, Lead.last_name, Lead.company)
        .where(Lead.match_key == record.match_key, Lead.id != record.id, Lead.merged_into_id.is_(None))
        .order_by(Lead.id.desc())
        .limit(200)
    )
    flagged = []
    for other_id, other_first, other_last, other_company_name in candidates:
        name_sim = fuzz.token_sort_ratio(name, fold(f"{other_first or ''} {other_last or ''}"))
        if name_sim < threshold:
            continue
        other_company = fold_company(other_company_name)
        if company and other_company:
            company_sim = fuzz.token_set_ratio(company, other_company)
            if company_sim < 85:
                continue
            similarity = (name_sim + company_sim) / 2
            reason = f"similar name ({name_sim:.0f}) and company ({company_sim:.0f})"
        else:
            continue
        if _flag(record.id, other_id, similarity, reason):
            flagged.append(other_id)
    return flagged


def _evidence_key(lead: NormalizedLead, channel: str, raw: str | None) -> str:
    # Scoped to one lead by the unique (lead_id, channel, proof_key): the same form answer seen again,
    # from whichever identifier matched, is the same evidence.
    basis = "|".join(
        [lead.source, channel, raw or "", lead.source_created_at.isoformat() if lead.source_created_at else ""]
    )
    return hashlib.sha256(basis.encode()).hexdigest()


def _record_consent(record: Lead, lead: NormalizedLead, actor: str) -> bool:
    added = False
    for channel, given, raw in (
        (Channel.PHONE, lead.phone_consent, lead.phone_consent_raw),
        (Channel.EMAIL, lead.email_consent, lead.email_consent_raw),
    ):
        if not given:
            continue
        key = _evidence_key(lead, channel.value, raw)
        exists = db.session.scalar(
            sa.select(ConsentRecord.id).where(
                ConsentRecord.lead_id == record.id, ConsentRecord.channel == channel, ConsentRecord.proof_key == key
            )
        )
        if exists:
            continue
        proof = f"{lead.source}: consent field answered {raw!r}"
        consent = ConsentRecord(
            lead_id=record.id,
            channel=channel,
            legal_basis=LegalBasis.EXPRESS_CONSENT,
            source=lead.source,
            proof_text=proof,
            proof_key=key,
            given_at=lead.source_created_at or utcnow(),
        )
        db.session.add(consent)
        db.session.flush()
        audit.record(
            actor,
            "consent.recorded",
            "consent",
            consent.id,
            after={
                "lead_id": record.id,
                "channel": channel.value,
                "legal_basis": "express_consent",
                "source": lead.source,
            },
        )
        added = True
    return added


def _record_note(record: Lead, lead: NormalizedLead, actor: str) -> bool:
    if not lead.note:
        return False
    # Compared by content on this lead (merges move notes, so an id-based key would not match).
    exists = db.session.scalar(
        sa.select(Interaction.id)
        .where(Interaction.lead_id == record.id, Interaction.provider == "intake", Interaction.summary == lead.note)
        .limit(1)
    )
    if exists:
        return False
    ref = hashlib.sha256(f"{record.id}:{lead.source}:{lead.note}".encode()).hexdigest()
    db.session.add(
        Interaction(
            lead_id=record.id,
            kind=InteractionKind.NOTE,
            direction=Direction.INBOUND,
            provider="intake",
            provider_ref=ref,
            status="received",
            subject=f"note from {lead.source}",
            summary=lead.note,
            created_by=actor,
        )
    )
    return True
