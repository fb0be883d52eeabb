"""The fast path (hourly rollups kept by triggers, migration 0029; crm/reports/kpis/fast.py) gives the same KPIs
as the plain queries on a varied dataset, on SQLite and PostgreSQL, also after the rows changed: calls
updated, moved in time, moved to another lead (a merge), deleted; leads given another owner or campaign,
deleted."""

from __future__ import annotations

import math
import random
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
