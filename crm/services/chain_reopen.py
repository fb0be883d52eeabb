"""What a new submission for a person whose chain has finished does: merge, or re-open by rule.

A person has one chain. When a lead arrives again after its chain ended (booked, handed over, nurture
used up, cancelled), the submission's data is merged into the person's record and the chain stays
finished: calling again 25 s after a hand-over, or restarting a booked lead's chain, reaches a person
twice for nothing. The one deliberate rule that re-opens a finished chain is a new form fill at least
`reopen_after_days` after the chain ended (and, for a booked lead, with no appointment still ahead);
a do-not-contact ending is never re-opened. The decision is written to the lead's timeline
(`chain.merged` / `chain.reopened`) with its reason, so a rep sees why nothing (or something) happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, AuditEntry, Lead
from crm.models.work import AppointmentStatus
from workflows.vocabulary import FINAL_STAGES, ChainStage

# FINAL_STAGES (the stages workflows/lead_chain.py `_finish` writes) lives in the vocabulary beside the
# stages themselves; callers may read it from here too.
NEVER_REOPENED = frozenset({ChainStage.DO_NOT_CONTACT})
DEFAULT_REOPEN_AFTER_DAYS = 30


@dataclass(frozen=True)
class ReopenDecision:
    previous_stage: str
    reopen: bool
    reason: str
    generation: int  # how many times this person's chain was re-opened, this one included


def finished_stage(lead: Lead) -> str | None:
    """The stage the person's chain ended in, or None while it runs (or never ran)."""
    stage = lead.chain_stage
    # "joined" ends a run that handed its submission to the person's running chain: never the person's own.
    return stage if stage in FINAL_STAGES and stage != ChainStage.JOINED else None


def _finished_at(lead: Lead, stage: str) -> datetime | None:
    return db.session.scalar(
        sa.select(sa.func.max(AuditEntry.at)).where(
            AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead.id, AuditEntry.action == f"chain.{stage}"
        )
    )


def _reopened_count(lead: Lead) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead.id, AuditEntry.action == "chain.reopened"
            )
        )
        or 0
    )


def _appointment_ahead(lead: Lead, now: datetime) -> bool:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Appointment)
            .where(
                Appointment.lead_id == lead.id,
                Appointment.ends_at > now,
                Appointment.status != AppointmentStatus.CANCELLED,
            )
        )
        or 0
    ) > 0


def decide(lead: Lead, *, chain_id: str, now: datetime, reopen_after_days: int) -> ReopenDecision | None:
    """None when the person's chain is not finished (the submission simply joins it). Otherwise the
    decision, already written to the timeline. The caller commits."""
    stage = finished_stage(lead)
    if stage is None:
        return None
    finished = _finished_at(lead, stage)
    since = (now - finished) if finished is not None else timedelta(0)
    generation = _reopened_count(lead)
    if stage in NEVER_REOPENED:
        reopen, reason = False, "asked not to be contacted"
    elif since < timedelta(days=reopen_after_days):
        reopen, reason = (
            False,
            f"ended {int(since.total_seconds() // 86400)} days ago; "
            f"re-opened only {reopen_after_days} days after the end",
        )
    elif stage == ChainStage.BOOKED and _appointment_ahead(lead, now):
        reopen, reason = False, "an appointment is still ahead"
    else:
        reopen, reason = True, f"new form fill {int(since.total_seconds() // 86400)} days after the end"
    if reopen:
        generation += 1
    action = "chain.reopened" if reopen else "chain.merged"
    detail = (
        f"chain re-opened after {stage}: {reason}"
        if reopen
        else f"new submission merged; chain stays {stage}: {reason}"
    )
    db.session.add(
        AuditEntry(
            actor="chain",
            action=action,
            entity_type="lead",
            entity_id=lead.id,
            after={"chain_id": chain_id, "detail": detail, "previous_stage": stage},
        )
    )
    return ReopenDecision(previous_stage=stage, reopen=reopen, reason=reason, generation=generation)
