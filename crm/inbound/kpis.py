"""Inbound-call KPIs (issue 17): calls answered, booked, rescheduled, cancelled, transferred, abandoned, and
the share the agent handled without a person, for a period (the dashboard and the manager report read them;
crm.ui.dashboard_queries, crm.reports).

Read from the inbound calls' records (crm.models.inbound.InboundCall) in the current company's scope, one
GROUP BY over the period's rows. "Handled without a person": the call ended with a booking, a move, a
cancellation or an answered question (a transfer, a message or a question the knowledge base could not
answer needs a person); its share is of the calls that were not abandoned (nobody could handle those)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from crm.extensions import db
from crm.models import InboundCall, Task, TaskStatus

SELF_SERVICE = ("booked", "rescheduled", "cancelled", "question")
# The tasks an inbound call leaves for a person to call back (voice.bridge.inbound_records, crm.inbound.missed).
CALLBACK_KINDS = ("callback",)


@dataclass(frozen=True)
class InboundFigures:
    answered: int  # every inbound call the agent answered
    booked: int
    rescheduled: int
    cancelled: int
    transferred: int
    abandoned: int
    without_person: int

    @property
    def without_person_share(self) -> float | None:
        served = self.answered - self.abandoned
        return self.without_person / served if served > 0 else None


def figures(start: datetime, end: datetime) -> InboundFigures:
    """The KPIs of the inbound calls that came in during [start, end)."""
    rows = db.session.execute(
        sa.select(InboundCall.outcome, sa.func.count())
        .where(InboundCall.started_at >= start, InboundCall.started_at < end)
        .group_by(InboundCall.outcome)
    ).all()
    counts = {outcome: int(n) for outcome, n in rows}
    return InboundFigures(
        answered=sum(counts.values()),
        booked=counts.get("booked", 0),
        rescheduled=counts.get("rescheduled", 0),
        cancelled=counts.get("cancelled", 0),
        transferred=counts.get("transferred", 0),
        abandoned=counts.get("abandoned", 0),
        without_person=sum(counts.get(o, 0) for o in SELF_SERVICE),
    )


def callbacks_owed(owner_id: int | None = None) -> int:
    """Open callback tasks inbound calls left (all, or `owner_id`'s and unassigned ones)."""
    query = (
        sa.select(sa.func.count())
        .select_from(Task)
        .where(Task.kind.in_(CALLBACK_KINDS), Task.status == TaskStatus.OPEN, Task.dedupe_key.like("inbound:%"))
    )
    if owner_id is not None:
        query = query.where(sa.or_(Task.owner_id == owner_id, Task.owner_id.is_(None)))
    return int(db.session.scalar(query) or 0)
