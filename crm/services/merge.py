"""Merging a flagged duplicate into the surviving customer record."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import affected_rows, db
from crm.models import Appointment, ConsentRecord, Interaction, Lead, LeadStatus, PossibleDuplicate, ScoreHistory, Task
from crm.services import audit
from crm.services.intake import FILLABLE
from crm.services.normalize import match_key


class MergeError(ValueError):
    pass


def merge(survivor_id: int, duplicate_id: int, *, actor: str) -> Lead:
    """Move everything of `duplicate` to `survivor`, fill the survivor's gaps, retire the duplicate.

    The caller commits; on any error the caller's rollback leaves both records untouched.
    """
    if survivor_id == duplicate_id:
        raise MergeError("a lead cannot be merged into itself")
    survivor = db.session.get(Lead, survivor_id, with_for_update=True)
    duplicate = db.session.get(Lead, duplicate_id, with_for_update=True)
    if survivor is None or duplicate is None:
        raise MergeError("both leads must exist")
    if survivor.merged_into_id or duplicate.merged_into_id:
        raise MergeError("a merged lead cannot take part in another merge")

    before = audit.snapshot(survivor)
    moved = {}
    for model in (Interaction, Task, Appointment, ScoreHistory):
        result = db.session.execute(sa.update(model).where(model.lead_id == duplicate.id).values(lead_id=survivor.id))
        moved[model.__tablename__] = affected_rows(result)
    # Consent evidence already held by the survivor stays once; the rest moves over.
    survivor_keys = set(
        db.session.scalars(sa.select(ConsentRecord.proof_key).where(ConsentRecord.lead_id == survivor.id))
    )
    consent_moved = 0
    for consent in db.session.scalars(sa.select(ConsentRecord).where(ConsentRecord.lead_id == duplicate.id)):
        if consent.proof_key in survivor_keys:
            db.session.delete(consent)
        else:
            consent.lead_id = survivor.id
            consent_moved += 1
    moved["consent_records"] = consent_moved

    # Retire the duplicate first: its email/phone then no longer block the survivor's unique keys.
    dup_values = {name: getattr(duplicate, name) for name in FILLABLE}
    dup_email_key = duplicate.email_key
    duplicate.merged_into_id = survivor.id
    duplicate.status = LeadStatus.MERGED
    db.session.flush()
    for name, value in dup_values.items():
        if value not in (None, "") and getattr(survivor, name) in (None, "", "unknown"):
            setattr(survivor, name, value)
            if name == "email":
                survivor.email_key = dup_email_key
            if name == "last_name":
                survivor.match_key = match_key(value)
    if duplicate.do_not_contact and not survivor.do_not_contact:
        # An objection to contact follows the person, whichever record it was made on.
        survivor.do_not_contact = True
        survivor.dnc_reason = duplicate.dnc_reason
        survivor.dnc_at = duplicate.dnc_at
    survivor.tags = sorted(set(survivor.tags or []) | set(duplicate.tags or []))
    db.session.execute(
        sa.update(PossibleDuplicate)
        .where(
            sa.or_(
                sa.and_(PossibleDuplicate.lead_id == duplicate.id, PossibleDuplicate.candidate_id == survivor.id),
                sa.and_(PossibleDuplicate.lead_id == survivor.id, PossibleDuplicate.candidate_id == duplicate.id),
            )
        )
        .values(status="merged")
    )
    db.session.flush()
    audit.record(
        actor,
        "lead.merged",
        "lead",
        survivor.id,
        before=before,
        after={**audit.snapshot(survivor), "merged_from": duplicate.id, "moved": moved},
    )
    audit.record(actor, "lead.merged_into", "lead", duplicate.id, after={"merged_into_id": survivor.id})
    return survivor
