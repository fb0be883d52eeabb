"""A failed settings broadcast must not stop the relay dispatching (workers/relay.py `_broadcast_guarded`).
The chaos slice once lost every lead to a Temporal server that refused the broadcast's CompanyId query:
the whole pass failed with it. Real parts: both databases (the `backend` fixture), the session's Temporal
dev server (the chains really start); only the broadcast is made to fail, as that server made it fail."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
import sqlalchemy as sa
from temporalio.service import RPCError, RPCStatusCode

from crm.extensions import db
from crm.models import LeadSubmission
from crm.tenancy.context import company_scope, operator_scope
from workers.relay import Relay

pytestmark = pytest.mark.tenancy


class _BroadcastRefused(Relay):
    """The relay, its visibility query refused as a server without the CompanyId attribute refuses it."""

    async def broadcast_settings(self, force: bool = False) -> int:
        raise RPCError("invalid search attribute: CompanyId", RPCStatusCode.INVALID_ARGUMENT, b"")


def _submit(app, chain_ids: list[str]) -> list[int]:
    with app.app_context(), company_scope(1):
        rows = [
            LeadSubmission(source="website", channel="webhook", actor="test", chain_id=c, payload={}) for c in chain_ids
        ]
        db.session.add_all(rows)
        db.session.commit()
        ids = [r.id for r in rows]
        db.session.remove()
    return ids


def _dispatched(app, ids: list[int]) -> set[int]:
    with app.app_context(), operator_scope("tests", "read the inbox"):
        done = db.session.execute(
            sa.select(LeadSubmission.id).where(LeadSubmission.id.in_(ids), LeadSubmission.dispatched_at.is_not(None))
        ).scalars()
        result = set(done)
        db.session.remove()
    return result


async def _until(predicate, timeout_s: float = 20.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


async def test_a_failed_broadcast_is_logged_and_dispatch_goes_on(app, temporal_env, caplog):
    tag = uuid.uuid4().hex[:6]
    first_chains = [f"c1-lead-bcast-{tag}-{i}" for i in range(2)]
    later_chains = [f"c1-lead-bcast-{tag}-late-{i}" for i in range(2)]
    # settings_poll_s=0: the broadcast is tried (and fails) on every pass, as in the chaos slice.
    relay = _BroadcastRefused(
        app, temporal_env.client, batch=10, task_queue=f"relay-bcast-{tag}", settings_poll_s=0, poll_s=0.05
    )
    first = _submit(app, first_chains)
    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, logger="workers.relay")
    runner = asyncio.create_task(relay.run(stop))
    try:
        assert await _until(lambda: _dispatched(app, first) == set(first))
        assert await _until(lambda: relay.settings_broadcast_failures >= 2)  # later passes fail again...
        later = _submit(app, later_chains)
        assert await _until(lambda: _dispatched(app, later) == set(later))  # ...and still dispatch
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)
        for chain_id in first_chains + later_chains:
            try:
                await temporal_env.client.get_workflow_handle(chain_id).terminate("test finished")
            except RPCError:
                pass
    refused = [r for r in caplog.records if "settings broadcast failed" in r.getMessage()]
    assert refused and all("RPCError" in r.getMessage() for r in refused)
    assert "relay pass failed" not in caplog.text  # the pass itself never failed
