"""On PostgreSQL, migration 0033 keeps statistics on a call's time, coalesce(started_at, created_at), the
expression the report's look-ups filter on: PostgreSQL then estimates a period's calls from the data, where
without them it guesses half a percent of the table whatever the range (docs/kpis.md, "Talk times")."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.tenancy.rls import as_owner

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])

# 3,000 calls, one every 12 minutes over 25 days ending now; the last 10 days hold 1,200 of them.
LEAD = (
    "INSERT INTO leads (company_id, first_name, last_name, phone_region, phone_status, email_status, language,"
    " source, status, tags, do_not_contact, created_at, updated_at)"
    " VALUES (1, 'Zeit', 'Statistik', 'DE', 'none', 'none', 'de', 'test', 'new', '[]'::jsonb, false, now(), now())"
    " RETURNING id"
)
CALLS = (
    "INSERT INTO interactions (company_id, lead_id, kind, direction, status, created_by, started_at, created_at,"
    " updated_at) SELECT 1, :lead, 'call', 'outbound', 'ended', 'test', now() - i * interval '12 minutes',"
    " now() - i * interval '12 minutes', now() FROM generate_series(1, 3000) AS i"
)
RANGE = (
    "EXPLAIN (FORMAT JSON) SELECT count(*) FROM interactions"
    " WHERE coalesce(started_at, created_at) >= now() - interval '10 days'"
    " AND coalesce(started_at, created_at) < now() + interval '1 day'"
)


def _estimate(conn) -> float:
    plan = conn.execute(sa.text(RANGE)).scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    node = plan[0]["Plan"]
    while "Plans" in node:  # the scan under the aggregate
        node = node["Plans"][0]
    return float(node["Plan Rows"])


def test_a_periods_calls_are_estimated_from_the_calls_time_statistics(app):
    # One transaction, rolled back: the rows and ANALYZE's statistics go with it.
    with app.app_context(), db.engine.connect() as conn, as_owner(conn), conn.begin() as transaction:
        names = conn.execute(
            sa.text("SELECT stxname FROM pg_statistic_ext WHERE stxrelid = 'interactions'::regclass")
        ).scalars()
        assert "st_interactions_call_time" in set(names)
        lead = conn.execute(sa.text(LEAD)).scalar_one()
        conn.execute(sa.text(CALLS), {"lead": lead})
        conn.execute(sa.text("ANALYZE interactions"))
        with_statistics = _estimate(conn)
        conn.execute(sa.text("DROP STATISTICS st_interactions_call_time"))
        conn.execute(sa.text("ANALYZE interactions"))
        without = _estimate(conn)
        transaction.rollback()
    # 1,200 calls in the range: estimated from the statistics within a factor of 1.5, where PostgreSQL's guess
    # for a range without them is half a percent of the table (what the migration is there for; shown when this fails).
    assert 800 <= with_statistics <= 1_800, (with_statistics, without)
    assert without < 100, (with_statistics, without)
