"""The fast path (hourly rollups kept by triggers, migration 0029; crm/reports/kpis/fast.py) gives the same KPIs
as the plain queries on a varied dataset, on SQLite and PostgreSQL, also after the rows changed: calls
updated, moved in time, moved to another lead (a merge), deleted; leads given another owner or campaign,
deleted."""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind, Lead
from crm.reports.kpis import compute
from crm.reports.periods import period_for
from tests.reports.seed import call, email, lead, seed_reference, user, utc

NOW = datetime(2026, 2, 1, 12, tzinfo=UTC)
OUTCOMES = [None, "booked", "interested", "callback_requested", "not_interested", "do_not_call", "wrong_number",
            "voicemail", "no_answer", "busy", "failed"]  # fmt: skip
END_STATUSES = [None, "completed", "voicemail", "no_answer", "busy", "failed", "interested"]
EMAIL_STATUSES = ["sent", "processed", "delivered", "opened", "clicked", "bounced", "blocked", "dropped"]


def _seed_varied(rng: random.Random) -> None:
    seed_reference()
    from crm.models import Campaign

    reps = [user(f"Rep {i}") for i in range(3)]
    camps = list(db.session.scalars(sa.select(Campaign)))
    leads = []
    for i in range(40):
        at = utc(2026, 1, 1) + timedelta(hours=rng.randrange(31 * 24))
        leads.append(
            lead(
                f"V{i}",
                "Vary",
                at,
                source=rng.choice(["website", "partner", "csv"]),
                score=rng.choice([None, 10, 55, 95]),
                owner=rng.choice([None, *reps]),
                campaign=rng.choice([None, *camps]),
                utm_campaign=rng.choice([None, "", "Newsletter"]),
            )
        )
    for _ in range(400):
        who = rng.choice(leads)
        at = utc(2026, 1, 1) + timedelta(minutes=rng.randrange(31 * 24 * 60))
        if rng.random() < 0.75:
            outcome = rng.choice(OUTCOMES)
            call(
                who,
                rng.choice(["retell", "vapi", "bland"]),
                None if rng.random() < 0.1 else at,
                created=at,
                outcome=outcome,
                answered=rng.choice([None, True, False]),
                end_status=rng.choice(END_STATUSES),
                duration=rng.choice([None, 0, rng.randrange(1, 600)]),
                sentiment=rng.choice([None, "positive", "neutral", "negative", "mixed"]),
                cost=rng.choice([None, rng.randrange(0, 90)]),
                currency=rng.choice(["USD", "USD", "EUR"]),
            )
        else:
            email(who, rng.choice(EMAIL_STATUSES), at, direction=rng.choice([Direction.OUTBOUND, Direction.INBOUND]))
    db.session.commit()


def _mutate(rng: random.Random) -> None:
    calls = list(db.session.scalars(sa.select(Interaction).where(Interaction.kind == InteractionKind.CALL)))
    leads = list(db.session.scalars(sa.select(Lead).where(Lead.last_name == "Vary")))
    for row in rng.sample(calls, 40):
        row.outcome = rng.choice(OUTCOMES)
        row.sentiment = rng.choice([None, "negative", "positive"])
        row.data = {"answered": rng.choice([True, False]), "end_status": rng.choice(END_STATUSES)}
    for row in rng.sample(calls, 20):
        row.started_at = (row.started_at or row.created_at) + timedelta(hours=rng.randrange(-48, 48))
    for row in rng.sample(calls, 10):
        row.lead_id = rng.choice(leads).id  # a merge moves the calls
    for row in rng.sample(calls, 10):
        db.session.delete(row)
    db.session.flush()
    owners = [lead_row.owner_id for lead_row in leads]
    for lead_row in rng.sample(leads, 10):
        lead_row.owner_id = rng.choice(owners)
        lead_row.campaign_id = rng.choice([None, *(x.campaign_id for x in leads)])
        lead_row.utm_campaign = rng.choice([None, "Messe"])
    db.session.flush()
    db.session.delete(leads[0])
    db.session.commit()


def _same(a, b, path="") -> None:
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def _compare() -> None:
    for kind, day in (("daily", date(2026, 1, 15)), ("weekly", date(2026, 1, 21)), ("monthly", date(2026, 1, 20))):
        period = period_for(kind, day)
        plain = compute(period, now=NOW, plain=True).to_dict()
        fast = compute(period, now=NOW).to_dict()
        assert plain["current"]["calls"]["placed"] > 0
        _same(fast, plain, kind)


@pytest.mark.parametrize("seed", [3])
def test_fast_path_equals_plain(ctx, seed):
    rng = random.Random(seed)
    _seed_varied(rng)
    _compare()
    _mutate(rng)
    _compare()


def test_bulk_statements_keep_the_rollups(ctx):
    """One statement over many rows (a bulk outcome fix, a merge, a clean-up): PostgreSQL's statement triggers
    (migration 0031) add the statement's rows up per rollup key; SQLite's row triggers count them one by one.
    An update of a column the rollup does not read changes nothing."""
    rng = random.Random(5)
    _seed_varied(rng)
    leads = list(db.session.scalars(sa.select(Lead.id).where(Lead.last_name == "Vary")))
    i = Interaction
    for stmt in (
        sa.update(i).where(i.id % 3 == 0).values(outcome="booked", sentiment="negative"),
        sa.update(i).where(i.id % 4 == 1).values(duration_s=sa.func.coalesce(i.duration_s, 0) + 7, cost_cents=11),
        sa.update(i).where(i.id % 5 == 2).values(lead_id=leads[1]),  # a merge moves the calls
        sa.update(i).values(created_by="bulk"),  # not counted: nothing may change
        sa.delete(i).where(i.id % 7 == 3),
    ):
        db.session.execute(stmt)
    db.session.commit()
    _compare()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_bulk_insert_costs_linear_time_on_postgresql(ctx):
    """Migration 0029's per-row trigger upserted the hour's rollup rows once per inserted row; in one transaction
    each upsert walked past every row version made before it: 4,000 calls in one INSERT took 2.8 s, 50,000 over
    20 minutes. Counted per statement (0031), 20,000 take about a second here; at the old cost they would take
    over a minute."""
    from tests.reports.seed import lead as make_lead

    who = make_lead("Bulk", "Insert", utc(2026, 1, 1), source="csv")
    db.session.commit()
    rows = 20_000
    insert = sa.text("""
        INSERT INTO interactions (company_id, lead_id, created_by, created_at, updated_at, kind, direction, provider,
                                  status, outcome, started_at, duration_s, data)
        SELECT 1, :lead, 'bulk', :at, :at, 'call', 'outbound', 'retell', 'ended',
               (ARRAY['booked', 'no_answer', 'interested'])[1 + g % 3], :at + (g % 48) * interval '1 hour', g % 300,
               '{}'::jsonb
        FROM generate_series(1, :rows) g""")
    start = time.perf_counter()
    db.session.execute(insert, {"lead": who.id, "at": utc(2026, 1, 10), "rows": rows})
    db.session.commit()
    took = time.perf_counter() - start
    counted = db.session.execute(
        sa.text("SELECT sum(n), sum(booked) FROM interaction_rollups WHERE dim = '' AND kind = 'call'")
    ).one()
    assert counted == (rows, sum(1 for g in range(1, rows + 1) if g % 3 == 0))
    assert took < 10, took
    period = period_for("monthly", date(2026, 1, 20))
    _same(compute(period, now=NOW).to_dict(), compute(period, now=NOW, plain=True).to_dict())


def test_the_triggers_frozen_outcome_sets_are_the_reports():
    """Migration 0029's triggers count with frozen copies of the report's sets: a change to the vocabulary needs
    a migration that replaces the triggers (and re-sums the rollups)."""
    import importlib.util
    from pathlib import Path

    from crm.reports.kpis import model

    path = Path(__file__).resolve().parents[2] / "crm/migrations/versions/0029_interaction_rollups.py"
    spec = importlib.util.spec_from_file_location("rollups_0029", path)
    assert spec and spec.loader
    frozen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(frozen)
    for name in ("ANSWERED_OUTCOMES", "WANTED_OUTCOMES", "FOLLOW_UP_OUTCOMES", "EMAIL_DELIVERED", "EMAIL_OPENED",
                 "EMAIL_BOUNCED"):  # fmt: skip
        assert set(getattr(frozen, name)) == set(getattr(model, name)), name
    from crm.models.report_rollups import MEASURES

    assert frozen.MEASURES == MEASURES
