"""The relay's admission control (workers/relay.py, docs/tenancy.md "Fair sharing"): it takes at most
`inflight_per_company` rows of a company less its started chains that are still busy (importing,
qualifying, calling, following up), counted from the database, while another company is active; a company
alone may fill `inflight_capacity` (work-conserving). Real parts: both databases (the `backend`
fixture); no Temporal (only which rows a pass takes is checked here; tests/tenancy/test_fairness.py runs
it against a worker)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from crm.extensions import db
from crm.models import Lead, LeadSubmission
from crm.models.types import utcnow
from crm.tenancy.context import company_scope
from tests.tenancy.companies import second_company
from workers.relay import Relay
from workflows.vocabulary import ChainStage

pytestmark = pytest.mark.tenancy


def _rows(app, company_id: int, count: int, *, dispatched_ago_s: float | None = None, **row) -> list[int]:
    """Inbox rows; `dispatched_ago_s` marks them started that long ago; `stage` gives each its own lead in
    that stage (and the row is processed, as the import or a CSV import leaves it)."""
    stage = row.pop("stage", "no lead")
    tag = uuid.uuid4().hex[:6]
    with app.app_context(), company_scope(company_id):
        rows = []
        for i in range(count):
            submission = LeadSubmission(
                source="website", channel="webhook", actor="test", chain_id=f"c{company_id}-lead-{tag}-{i}", payload={}
            )
            if dispatched_ago_s is not None:
                submission.dispatched_at = utcnow() - timedelta(seconds=dispatched_ago_s)
            if stage != "no lead":
                lead = Lead(source="website", chain_stage=stage)
                db.session.add(lead)
                db.session.flush()
                submission.lead_id, submission.processed_at = lead.id, utcnow()
            rows.append(submission)
        db.session.add_all(rows)
        db.session.commit()
        ids = [r.id for r in rows]
        db.session.remove()
    return ids


def _taken(relay: Relay, company_id: int) -> list[int]:
    return [i for i, _, c, _ in relay._pending() if c == company_id]


def test_a_company_gets_only_its_free_budget_and_another_company_its_whole(app):
    other = second_company(app)
    _rows(app, 1, 2, dispatched_ago_s=1)  # started, not imported yet
    _rows(app, 1, 1, dispatched_ago_s=1, stage=ChainStage.QUALIFYING)  # imported, still qualifying
    _rows(app, 1, 1, dispatched_ago_s=1, stage=None)  # a CSV row: processed before its chain reported a stage
    _rows(app, 1, 3, dispatched_ago_s=1, stage=ChainStage.WAITING_FOR_RESULT)  # the call placed: it waits
    _rows(app, 1, 2, dispatched_ago_s=1, stage=ChainStage.NURTURING)
    _rows(app, 1, 1, dispatched_ago_s=1, stage=ChainStage.BOOKED)  # ended
    waiting_a = _rows(app, 1, 10)
    waiting_b = _rows(app, other, 10)
    relay = Relay(app, client=None, batch=100, inflight_per_company=6)  # type: ignore[arg-type]
    # Company 1 has 4 busy: 2 of its waiting rows, its oldest; company 2 none in flight: 6.
    assert _taken(relay, 1) == waiting_a[:2]
    assert _taken(relay, other) == waiting_b[:6]


def test_a_full_budget_takes_none_and_a_stuck_chain_stops_counting_after_the_lease(app):
    _rows(app, 1, 3, dispatched_ago_s=1)
    _rows(app, 1, 2, dispatched_ago_s=120, stage=ChainStage.IMPORTING)  # dispatched longer ago than the lease
    waiting = _rows(app, 1, 5)
    # Company 1 alone: its whole capacity (here the cap itself) is what it may fill.
    relay = Relay(app, client=None, batch=100, inflight_per_company=3, inflight_capacity=3, inflight_lease_s=60)  # type: ignore[arg-type]
    assert _taken(relay, 1) == []
    relay = Relay(app, client=None, batch=100, inflight_per_company=5, inflight_capacity=5, inflight_lease_s=60)  # type: ignore[arg-type]
    assert _taken(relay, 1) == waiting[:2]  # the two stuck rows do not count: 3 in flight


def test_rows_left_waiting_are_taken_once_the_chains_move_on(app):
    """Nothing is lost: a row the budget holds back is taken on a later pass, each row once."""
    flying = _rows(app, 1, 2, dispatched_ago_s=1)
    waiting = _rows(app, 1, 3)
    relay = Relay(app, client=None, batch=100, inflight_per_company=2, inflight_capacity=2)  # type: ignore[arg-type]
    assert _taken(relay, 1) == []
    with app.app_context(), company_scope(1):
        for submission_id in flying:  # the chains imported their leads, called, and wait for the results
            lead = Lead(source="website", chain_stage=ChainStage.WAITING_FOR_RESULT)
            db.session.add(lead)
            db.session.flush()
            submission = db.session.get(LeadSubmission, submission_id)
            assert submission is not None
            submission.lead_id, submission.processed_at = lead.id, utcnow()
        db.session.commit()
        db.session.remove()
    assert _taken(relay, 1) == waiting[:2]


def test_the_budget_defaults_to_the_deployments_setting(app):
    chain = app.config["LEADCHAIN"].chain
    relay = Relay(app, client=None)  # type: ignore[arg-type]
    assert (relay.inflight_per_company, relay.inflight_lease_s, relay.inflight_capacity) == (
        chain.relay_inflight_per_company,
        chain.relay_inflight_lease_s,
        chain.relay_inflight_capacity,
    )
    assert (chain.relay_inflight_per_company, chain.relay_inflight_capacity) == (4, 16)


def test_a_company_alone_fills_the_capacity_and_the_cap_bites_when_another_is_active(app):
    """Work-conserving: company 1 alone may have `inflight_capacity` busy chains; once another company has a
    row waiting, or had a chain started within `share_grace_s`, each is held to `inflight_per_company`. The
    held company's rows are a backlog (started at the lower Temporal priority), the other's are not."""
    _rows(app, 1, 3, dispatched_ago_s=1)  # 3 busy
    waiting = _rows(app, 1, 20)
    relay = Relay(app, client=None, batch=100, inflight_per_company=4, inflight_capacity=10)  # type: ignore[arg-type]
    assert _taken(relay, 1) == waiting[:7]  # alone: 10 less its 3 busy
    other = second_company(app)
    _rows(app, other, 1, dispatched_ago_s=120, stage=ChainStage.BOOKED)  # its last lead long done: idle
    assert _taken(relay, 1) == waiting[:7]
    _rows(app, other, 1, dispatched_ago_s=5, stage=ChainStage.WAITING_FOR_RESULT)  # started 5 s ago: active
    assert _taken(relay, 1) == waiting[:1]  # the cap: 4 less its 3 busy
    relay.share_grace_s = 2.0
    assert _taken(relay, 1) == waiting[:7]  # past the grace period the other company is idle again
    b_waiting = _rows(app, other, 2)
    assert [(i, c, backlog) for i, _, c, backlog in relay._pending()] == [
        (waiting[0], 1, True),
        (b_waiting[0], other, False),
        (b_waiting[1], other, False),
    ]
