"""Usage metering: every billable fact becomes one usage event, exactly once.

The facts are read from where the at-most-once machinery already put them: the side-effect ledger (a call
placed, an email sent: rows at status `done`), the appointments (bookings are not ledger rows: each
appointment row is the booking's own at-most-once record), the provider's call record (minutes and cost on
the outbound call's Interaction) and the inbound call records. Each event's key is derived from its source
row's own unique key, and the insert skips a key that exists (ON CONFLICT DO NOTHING), so a re-run, a
replayed activity or two meters racing never count a fact twice; and since metering reads the ledger rather
than being told, a worker killed mid-way loses nothing: the next run finds what is missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from crm.billing import metrics
from crm.billing.metrics import parse_period
from crm.extensions import db
from crm.models import Appointment, Direction, InboundCall, Interaction, InteractionKind, SideEffect, UsageEvent
from crm.models.types import utcnow
from crm.tenancy.context import require_company_id

# Inbound outcomes in which the agent took the call (a missed call is not a billable answer).
_NOT_ANSWERED = ("abandoned",)


@dataclass(frozen=True)
class Fact:
    key: str
    metric: str
    occurred_at: datetime
    quantity: int = 1
    provider: str | None = None
    cost_cents: int = 0


def _month_bounds(period: str) -> tuple[datetime, datetime]:
    year, month = parse_period(period)
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _ledger_facts(start: datetime, end: datetime) -> Iterator[Fact]:
    when = sa.func.coalesce(SideEffect.completed_at, SideEffect.created_at)
    rows = db.session.execute(
        sa.select(SideEffect.key, SideEffect.kind, SideEffect.provider, when)
        .where(SideEffect.status == "done", SideEffect.kind.in_(("call", "email")))
        .where(when >= start, when < end)
    )
    metric = {"call": metrics.CALL_PLACED, "email": metrics.EMAIL_SENT}
    for key, kind, provider, at in rows:
        yield Fact(f"ledger:{key}", metric[kind], at, provider=provider)


def _booking_facts(start: datetime, end: datetime) -> Iterator[Fact]:
    # A booking stays billed when it is later cancelled: the work (the call that booked it) was done.
    rows = db.session.execute(
        sa.select(Appointment.id, Appointment.created_at).where(
            Appointment.lead_id.is_not(None), Appointment.created_at >= start, Appointment.created_at < end
        )
    )
    for appt_id, at in rows:
        yield Fact(f"appointment:{appt_id}", metrics.APPOINTMENT_BOOKED, at)


def _call_record_facts(start: datetime, end: datetime) -> Iterator[Fact]:
    when = sa.func.coalesce(Interaction.ended_at, Interaction.started_at, Interaction.created_at)
    rows = db.session.execute(
        sa.select(Interaction.provider, Interaction.provider_ref, Interaction.duration_s, Interaction.cost_cents, when)
        .where(Interaction.kind == InteractionKind.CALL, Interaction.direction == Direction.OUTBOUND)
        .where(Interaction.provider_ref.is_not(None), Interaction.ended_at.is_not(None))
        .where(when >= start, when < end)
    )
    for provider, ref, duration_s, cost_cents, at in rows:
        if duration_s:
            # Started minutes, as the voice providers bill them.
            minutes = math.ceil(duration_s / 60)
            yield Fact(f"minutes:{provider}:{ref}", metrics.CALL_MINUTES, at, minutes, provider)
        if cost_cents:
            yield Fact(f"cost:{provider}:{ref}", metrics.PROVIDER_COST, at, 1, provider, cost_cents)


def _inbound_facts(start: datetime, end: datetime) -> Iterator[Fact]:
    rows = db.session.execute(
        sa.select(InboundCall.provider, InboundCall.call_ref, InboundCall.started_at).where(
            InboundCall.outcome.not_in(_NOT_ANSWERED), InboundCall.started_at >= start, InboundCall.started_at < end
        )
    )
    for provider, ref, at in rows:
        yield Fact(f"inbound:{provider}:{ref}", metrics.INBOUND_ANSWERED, at, provider=provider)


def facts_for(period: str) -> list[Fact]:
    """The current company's billable facts of a month, read from their sources."""
    start, end = _month_bounds(period)
    return [
        *_ledger_facts(start, end),
        *_booking_facts(start, end),
        *_call_record_facts(start, end),
        *_inbound_facts(start, end),
    ]


def meter(period: str) -> int:
    """Record the current company's missing usage events of `period`; returns how many were new."""
    company_id = require_company_id()
    facts = facts_for(period)
    if not facts:
        return 0
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    stmt = insert(UsageEvent).on_conflict_do_nothing(index_elements=["key"])
    result = db.session.execute(
        stmt.returning(UsageEvent.id),
        [
            {
                "company_id": company_id,
                "key": f.key,
                "metric": f.metric,
                "provider": f.provider,
                "quantity": f.quantity,
                "cost_cents": f.cost_cents,
                "period": period,
                "occurred_at": f.occurred_at,
                "created_at": now,
            }
            for f in facts
        ],
    )
    new = len(result.all())
    db.session.commit()
    return new


@dataclass(frozen=True)
class UsageTotal:
    metric: str
    provider: str | None
    quantity: int
    cost_cents: int


def usage_of(period: str) -> list[UsageTotal]:
    """The current company's recorded usage of a month, summed per metric and provider."""
    rows = db.session.execute(
        sa.select(
            UsageEvent.metric,
            UsageEvent.provider,
            sa.func.sum(UsageEvent.quantity),
            sa.func.sum(UsageEvent.cost_cents),
        )
        .where(UsageEvent.period == period)
        .group_by(UsageEvent.metric, UsageEvent.provider)
        .order_by(UsageEvent.metric, UsageEvent.provider)
    )
    return [UsageTotal(m, p, int(q or 0), int(c or 0)) for m, p, q, c in rows]
