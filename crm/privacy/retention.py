"""How long each company keeps each class of personal data, and the sweep that anonymises what is older
(GDPR Art. 5(1)(e); docs/privacy.md gives the defaults' reasons).

The sweep runs daily per company (workflows/privacy.py RetentionWorkflow, scheduled by workers/privacy.py)
and in batches, so a first run over years of data does not hold one long transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crm.extensions import affected_rows, db
from crm.models import Interaction, InteractionKind, Lead, RetentionPolicy
from crm.models.types import utcnow
from crm.privacy import erase_local

# Days; the reasons are in docs/privacy.md "Retention defaults".
DEFAULTS = {"transcripts_days": 90, "recordings_days": 30, "email_bodies_days": 180, "inactive_leads_days": 730}
BATCH = 500


@dataclass(frozen=True)
class Periods:
    transcripts_days: int
    recordings_days: int
    email_bodies_days: int
    inactive_leads_days: int


def periods() -> Periods:
    """The current company's periods: its own where set, else the defaults."""
    policy = db.session.scalar(sa.select(RetentionPolicy))
    own = {k: getattr(policy, k) for k in DEFAULTS} if policy else {}
    return Periods(**{k: own.get(k) or v for k, v in DEFAULTS.items()})


def set_periods(**days: int | None) -> RetentionPolicy:
    """Store the current company's periods (None: back to the default). The caller commits."""
    unknown = set(days) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown retention field(s): {sorted(unknown)}")
    bad = {k: ["a whole number of days, at least 1"] for k, v in days.items() if v is not None and v < 1}
    if bad:
        from crm.privacy.requests import RequestInvalid

        raise RequestInvalid(bad)
    policy = db.session.scalar(sa.select(RetentionPolicy)) or RetentionPolicy()
    for key, value in days.items():
        setattr(policy, key, value)
    db.session.add(policy)
    db.session.flush()
    return policy


def _older(days: int, now: datetime) -> sa.ColumnElement[bool]:
    return sa.func.coalesce(Interaction.started_at, Interaction.created_at) < now - timedelta(days=days)


def _has(column: Any) -> sa.ColumnElement[bool]:
    """A JSON column holding a value: neither SQL NULL nor a JSON null (what an ORM write of None stores)."""
    return sa.and_(column.is_not(None), sa.cast(column, sa.Text) != "null")


def _clear(where: sa.ColumnElement[bool], **values: object) -> int:
    ids = list(db.session.scalars(sa.select(Interaction.id).where(where).limit(BATCH)))
    if not ids:
        return 0
    return affected_rows(db.session.execute(sa.update(Interaction).where(Interaction.id.in_(ids)).values(**values)))


def inactive_leads(days: int, now: datetime) -> list[int]:
    """Live, not yet anonymised leads with no change and no interaction in `days`."""
    cutoff = now - timedelta(days=days)
    recent = sa.select(Interaction.lead_id).where(
        sa.func.coalesce(Interaction.started_at, Interaction.created_at) >= cutoff
    )
    query = (
        sa.select(Lead.id)
        .where(
            Lead.updated_at < cutoff,
            sa.or_(Lead.email.is_not(None), Lead.phone_e164.is_not(None), Lead.last_name.is_not(None)),
            Lead.id.not_in(recent.where(Interaction.lead_id.is_not(None))),
        )
        .order_by(Lead.id)
        .limit(BATCH)
    )
    return list(db.session.scalars(query))


def sweep(now: datetime | None = None) -> dict[str, int]:
    """One batch per class for the current company; returns {class: rows anonymised}. The caller commits
    (and calls again while anything was done)."""
    now = now or utcnow()
    p = periods()
    is_call = Interaction.kind == InteractionKind.CALL
    done = {
        "transcripts": _clear(
            sa.and_(is_call, _has(Interaction.transcript), _older(p.transcripts_days, now)),
            transcript=sa.null(),  # SQL NULL; None would be stored as a JSON null
            summary=None,
        ),
        "recordings": _clear(
            sa.and_(is_call, Interaction.recording_url.is_not(None), _older(p.recordings_days, now)),
            recording_url=None,
        ),
        "email_bodies": _clear(
            sa.and_(
                Interaction.kind == InteractionKind.EMAIL,
                Interaction.summary.is_not(None),
                _older(p.email_bodies_days, now),
            ),
            summary=None,
            data={"erased": True, "reason": "retention"},
        ),
    }
    leads = inactive_leads(p.inactive_leads_days, now)
    if leads:
        erase_local.erase(leads, reason="retention")
    done["inactive_leads"] = len(leads)
    return done
