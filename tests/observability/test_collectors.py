"""The database collector: chains by stage and stuck beyond their next step, outbox backlogs, the last
report email, provider cost; and its bound (a locked table costs one query's metrics, not the scrape)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind, Lead, LeadSubmission, SideEffect
from crm.observability.collectors import DatabaseCollector
from crm.observability.settings import DEFAULT_STUCK_AFTER_S, ObservabilitySettings

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def samples(collector: DatabaseCollector) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value for m in collector.collect() for s in m.samples}


def add_leads(app, rows: list[tuple[str, timedelta]]) -> None:
    with app.app_context():
        for i, (stage, age) in enumerate(rows):
            db.session.add(Lead(source="test", first_name=f"L{i}", chain_stage=stage, updated_at=NOW - age))
        db.session.commit()
        db.session.remove()


def test_chains_by_stage_and_stuck_beyond_their_next_step(app):
    calling_limit = timedelta(seconds=DEFAULT_STUCK_AFTER_S["calling"])
    add_leads(
        app,
        [
            ("calling", calling_limit + timedelta(minutes=1)),  # stuck
            ("calling", calling_limit - timedelta(minutes=1)),  # not yet
            ("waiting_for_window", timedelta(days=1)),  # a weekend is normal
            ("waiting_for_window", timedelta(days=5)),  # stuck
            ("booked", timedelta(days=400)),  # finished: never stuck
        ],
    )
    found = samples(DatabaseCollector(app, ObservabilitySettings(), clock=lambda: NOW))
    assert found[("leadchain_chains", frozenset({("stage", "calling")}))] == 2
    assert found[("leadchain_chains", frozenset({("stage", "booked")}))] == 1
    assert found[("leadchain_chains_stuck", frozenset({("stage", "calling")}))] == 1
    assert found[("leadchain_chains_stuck", frozenset({("stage", "waiting_for_window")}))] == 1
    assert ("leadchain_chains_stuck", frozenset({("stage", "booked")})) not in found


def test_backlog_report_and_cost(app):
    with app.app_context():
        for minutes, dispatched in ((30, None), (5, None), (60, NOW)):
            db.session.add(
                LeadSubmission(
                    source="t",
                    channel="api",
                    actor="t",
                    chain_id=f"c{minutes}",
                    payload={},
                    received_at=NOW - timedelta(minutes=minutes),
                    dispatched_at=dispatched,
                )
            )
        db.session.add(
            SideEffect(key="report:1:user:1", kind="report_email", status="done", completed_at=NOW - timedelta(hours=3))
        )
        db.session.add(SideEffect(key="report:2:user:1", kind="report_email", status="failed", completed_at=NOW))
        lead = Lead(source="t")
        db.session.add(lead)
        db.session.flush()
        for ref, cents, age in (("a", 12, 1), ("b", 30, 2), ("c", 999, 40)):
            db.session.add(
                Interaction(
                    lead_id=lead.id,
                    kind=InteractionKind.CALL,
                    direction=Direction.OUTBOUND,
                    provider="retell",
                    provider_ref=ref,
                    cost_cents=cents,
                    currency="USD",
                    created_at=NOW - timedelta(days=age),
                )
            )
        db.session.commit()
        db.session.remove()
    found = samples(DatabaseCollector(app, ObservabilitySettings(), clock=lambda: NOW))
    assert found[("leadchain_submissions_pending", frozenset())] == 2
    assert found[("leadchain_submissions_pending_oldest_seconds", frozenset())] == 30 * 60
    assert (
        found[("leadchain_report_last_sent_timestamp_seconds", frozenset())] == (NOW - timedelta(hours=3)).timestamp()
    )
    cost = frozenset({("provider", "retell"), ("currency", "USD")})
    assert found[("leadchain_provider_cost_cents_30d", cost)] == 42  # the 40-day-old call is outside


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_locked_table_costs_its_own_metrics_within_the_timeout(app):
    add_leads(app, [("calling", timedelta(minutes=1))])
    settings = ObservabilitySettings(collector_timeout_ms=300, collector_cache_s=0)
    collector = DatabaseCollector(app, settings, clock=lambda: NOW)
    # One scrape first, as a running process has had: the timing below is the locked table's cost, not the
    # pool's first connections (a loaded CI host once took 3.2 s for both together).
    assert samples(collector)[("leadchain_chains", frozenset({("stage", "calling")}))] == 1
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with app.app_context(), db.engine.connect() as conn:
            conn.execute(sa.text("LOCK TABLE leads IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            release.wait(10)
            conn.rollback()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(5)
        started = time.monotonic()
        found = samples(collector)
        took = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    assert took < 2.0
    assert not any(name == "leadchain_chains" for name, _ in found)
    assert found[("leadchain_collector_errors_total", frozenset({("query", "chains")}))] == 1
    assert ("leadchain_submissions_pending", frozenset()) in found  # the other queries answered
    assert samples(collector)[("leadchain_chains", frozenset({("stage", "calling")}))] == 1  # and it recovers
