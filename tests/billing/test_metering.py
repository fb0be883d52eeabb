"""Usage events = the ledger's billable side effects and provider records: none lost, none doubled."""

from __future__ import annotations

import sqlalchemy as sa

from crm.billing import metering, metrics
from crm.extensions import db
from crm.models import SideEffect, UsageEvent
from tests.billing import sample_month


def _ledger_billable() -> set[str]:
    rows = db.session.scalars(
        sa.select(SideEffect.key).where(SideEffect.status == "done", SideEffect.kind.in_(("call", "email")))
    )
    return {f"ledger:{key}" for key in rows}


def test_every_billable_fact_becomes_one_usage_event(ctx):
    sample_month.facts(calls=5, emails=3)
    assert metering.meter(sample_month.PERIOD) == 5 + 3 + 5 + 5 + 1 + 1

    recorded = set(db.session.scalars(sa.select(UsageEvent.key)))
    assert _ledger_billable() <= recorded  # 0 lost
    totals = {(t.metric, t.provider): t for t in metering.usage_of(sample_month.PERIOD)}
    assert totals[(metrics.CALL_PLACED, "retell")].quantity == 5
    assert totals[(metrics.CALL_MINUTES, "retell")].quantity == 10  # 61 s = 2 started minutes
    assert totals[(metrics.PROVIDER_COST, "retell")].cost_cents == 45
    assert totals[(metrics.EMAIL_SENT, None)].quantity == 3
    assert totals[(metrics.APPOINTMENT_BOOKED, None)].quantity == 1
    assert totals[(metrics.INBOUND_ANSWERED, "vapi")].quantity == 1  # the abandoned one is not billed


def test_a_replay_and_a_later_fact_count_once(ctx):
    sample_month.facts(calls=2, emails=0)
    first = metering.meter(sample_month.PERIOD)
    assert metering.meter(sample_month.PERIOD) == 0  # the replay: 0 duplicated
    # A fact the ledger gains after a worker was killed mid-way is found by the next run: 0 lost.
    db.session.add(
        SideEffect(
            key="late:call",
            kind="call",
            status="done",
            provider="retell",
            created_at=sample_month.T0,
            completed_at=sample_month.T0,
        )
    )
    db.session.commit()
    assert metering.meter(sample_month.PERIOD) == 1
    count = db.session.scalar(sa.select(sa.func.count()).select_from(UsageEvent))
    assert count == first + 1
    keys = list(db.session.scalars(sa.select(UsageEvent.key)))
    assert len(keys) == len(set(keys))


def test_facts_of_another_month_stay_in_their_month(ctx):
    sample_month.facts(calls=1, emails=0)
    assert metering.meter("2026-10") == 0
    assert metering.usage_of("2026-10") == []
