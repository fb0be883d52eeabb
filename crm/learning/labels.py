"""Which leads are won or lost, and when that was decided: the labels the learned score trains on.

The rule (docs/scoring.md "Labels"):

* won: the lead has a won deal; decided when its first won deal closed;
* lost: no won deal, and either a lost deal (decided when its last lost deal closed) or the lead's status is
  lost or do_not_contact, or it carries the do-not-contact flag (decided at the do-not-contact time, else
  at the lead's last change);
* anything else is still open and is not a training example. Merged leads never are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Deal, DealStatus, Lead, LeadStatus

LOST_STATUSES = (LeadStatus.LOST, LeadStatus.DO_NOT_CONTACT)


@dataclass(frozen=True)
class Outcome:
    lead_id: int
    won: bool
    at: datetime  # when the outcome was decided: the time-based hold-out orders by it


@dataclass(frozen=True)
class OutcomeCounts:
    closed: int
    won: int
    lost: int


def label(
    lead_id: int,
    deals: Iterable[tuple[DealStatus, datetime | None]],
    lost_lead_at: datetime | None,
) -> Outcome | None:
    """One lead's outcome from its closed deals and, when the lead itself was given up, when that was."""
    won = [at for status, at in deals if status == DealStatus.WON and at is not None]
    if won:
        return Outcome(lead_id, True, min(won))
    lost = [at for status, at in deals if status == DealStatus.LOST and at is not None]
    if lost:
        return Outcome(lead_id, False, max(lost))
    if lost_lead_at is not None:
        return Outcome(lead_id, False, lost_lead_at)
    return None


def read_outcomes() -> dict[int, Outcome]:
    """Every decided lead of the current company, by lead id (two queries)."""
    deals: dict[int, list[tuple[DealStatus, datetime | None]]] = {}
    closed = sa.select(Deal.lead_id, Deal.status, Deal.closed_at).where(Deal.status != DealStatus.OPEN)
    for lead_id, status, closed_at in db.session.execute(closed):
        deals.setdefault(lead_id, []).append((status, closed_at))
    given_up = sa.or_(Lead.status.in_(LOST_STATUSES), Lead.do_not_contact.is_(True))
    leads = sa.select(
        Lead.id,
        sa.case((given_up, sa.func.coalesce(Lead.dnc_at, Lead.updated_at)), else_=None).label("lost_at"),
    ).where(Lead.merged_into_id.is_(None), sa.or_(given_up, Lead.id.in_(closed.with_only_columns(Deal.lead_id))))
    outcomes = {}
    for lead_id, lost_at in db.session.execute(leads):
        found = label(lead_id, deals.get(lead_id, ()), lost_at)
        if found is not None:
            outcomes[lead_id] = found
    return outcomes


def count_outcomes() -> OutcomeCounts:
    """The same counts as read_outcomes() would give, counted by the database (two queries): what the lead
    page and the settings page show, without reading every decided lead."""
    won_leads = sa.select(Deal.lead_id).where(Deal.status == DealStatus.WON)
    lost_leads = sa.select(Deal.lead_id).where(Deal.status == DealStatus.LOST)
    given_up = sa.or_(Lead.status.in_(LOST_STATUSES), Lead.do_not_contact.is_(True))
    live = sa.select(sa.func.count()).select_from(Lead).where(Lead.merged_into_id.is_(None))
    won = db.session.scalar(live.where(Lead.id.in_(won_leads))) or 0
    closed = db.session.scalar(live.where(sa.or_(Lead.id.in_(won_leads), Lead.id.in_(lost_leads), given_up))) or 0
    return OutcomeCounts(closed, won, closed - won)


def counts(outcomes: Iterable[Outcome]) -> OutcomeCounts:
    won = lost = 0
    for o in outcomes:
        won, lost = (won + 1, lost) if o.won else (won, lost + 1)
    return OutcomeCounts(won + lost, won, lost)
