"""The relay across companies (workers/relay.py, docs/tenancy.md): it reads every company's inbox in an
operator context, takes the rows round-robin across companies, and starts each chain in its row's company:
the leadchain-company header, the CompanyId search attribute and the company's fairness key. Real parts:
both databases (the `backend` fixture), the session's Temporal dev server; no worker, so the chains stay
as the relay started them."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from temporalio.api.enums.v1 import EventType

from crm.extensions import db
from crm.models import LeadSubmission
from crm.tenancy.context import company_scope, operator_scope
from crm.tenancy.temporal_headers import decode
from tests.tenancy.companies import second_company
from workers.relay import Relay
from workflows.payloads import COMPANY_ID, fairness_key

pytestmark = pytest.mark.tenancy


def _submit(app, company_id: int, count: int, tag: str) -> list[int]:
    with app.app_context(), company_scope(company_id):
        rows = [
            LeadSubmission(
                source="website", channel="webhook", actor="test", chain_id=f"c{company_id}-lead-{tag}-{i}", payload={}
            )
            for i in range(count)
        ]
        db.session.add_all(rows)
        db.session.commit()
        ids = [r.id for r in rows]
        db.session.remove()
    return ids


def test_the_relay_takes_rows_round_robin_across_companies(app):
    other = second_company(app)
    tag = uuid.uuid4().hex[:6]
    # An import: the oldest rows are all company 1's (as many as its budget, so none is a backlog row).
    first = _submit(app, 1, 4, tag)
    second = _submit(app, other, 2, tag)
    relay = Relay(app, client=None, batch=4)  # type: ignore[arg-type]  (no Temporal call here)
    assert relay._pending() == [
        (first[0], f"c1-lead-{tag}-0", 1, False),
        (second[0], f"c{other}-lead-{tag}-0", other, False),
        (first[1], f"c1-lead-{tag}-1", 1, False),
        (second[1], f"c{other}-lead-{tag}-1", other, False),
    ]


async def test_each_chain_starts_in_its_rows_company(app, temporal_env):
    other = second_company(app)
    tag = uuid.uuid4().hex[:6]
    ids = {1: _submit(app, 1, 2, tag), other: _submit(app, other, 1, tag)}
    queue = f"relay-tenancy-{tag}"  # no worker polls it
    relay = Relay(app, temporal_env.client, batch=10, task_queue=queue)
    assert await relay.run_once() == 3
    try:
        for company_id, chain_id in (
            (1, f"c1-lead-{tag}-0"),
            (1, f"c1-lead-{tag}-1"),
            (other, f"c{other}-lead-{tag}-0"),
        ):
            handle = temporal_env.client.get_workflow_handle(chain_id)
            described = await handle.describe()
            assert described.typed_search_attributes.get(COMPANY_ID) == company_id
            started = [e async for e in handle.fetch_history_events()][0]
            assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
            attributes = started.workflow_execution_started_event_attributes
            assert decode(dict(attributes.header.fields)) == company_id
            assert attributes.priority.fairness_key == fairness_key(company_id)
    finally:
        for chain_id in [f"c1-lead-{tag}-0", f"c1-lead-{tag}-1", f"c{other}-lead-{tag}-0"]:
            await temporal_env.client.get_workflow_handle(chain_id).terminate("test finished")
    # Each row was marked in its own company's unit of work: all three are dispatched.
    with app.app_context(), operator_scope("tests", "read every company's inbox"):
        dispatched = db.session.execute(
            sa.select(LeadSubmission.id).where(LeadSubmission.dispatched_at.is_not(None))
        ).scalars()
        assert sorted(dispatched) == sorted(ids[1] + ids[other])
        db.session.remove()
