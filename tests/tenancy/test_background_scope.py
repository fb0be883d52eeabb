"""Background work carries and binds its company (docs/tenancy.md rule 2, crm/tenancy/temporal_headers.py).

Real parts: the session's Temporal dev server with the production interceptor on its client, a worker in
the workflow sandbox with a plain thread pool (the SDK's own context copy is what reaches a sync activity),
and the web's TemporalGateway on its own loop thread.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import pytest
    from temporalio.api.enums.v1 import EventType
    from temporalio.worker import Worker

    from crm.temporal_gateway import TemporalGateway
    from crm.tenancy.context import (
        CompanyScopeConflict,
        company_scope,
        current_company_id,
        current_scope,
        operator_scope,
    )
    from crm.tenancy.temporal_headers import HEADER, _with_company, decode, encode
    from workflows.payloads import LEGACY_COMPANY_ID

# These tests enter their own scopes (no default test company around them).
pytestmark = pytest.mark.tenancy
ONCE = RetryPolicy(maximum_attempts=1)


@activity.defn
def company_in_thread() -> list:
    # The worker's event loop runs in the main thread: a sync activity runs in a pool thread.
    return [current_company_id(), threading.current_thread() is not threading.main_thread()]


@activity.defn
async def company_on_loop() -> int | None:
    return current_company_id()


@workflow.defn(sandboxed=True)
class ScopeProbe:
    """Reports the company its activities see: its own, its child's, and after continue-as-new."""

    @workflow.run
    async def run(self, hops: int) -> list:
        timeout = timedelta(seconds=20)
        in_thread = await workflow.execute_activity(
            company_in_thread, start_to_close_timeout=timeout, retry_policy=ONCE
        )
        on_loop = await workflow.execute_activity(company_on_loop, start_to_close_timeout=timeout, retry_policy=ONCE)
        seen: list = [in_thread, on_loop]
        if hops == 0:
            return seen
        seen += await workflow.execute_child_workflow(
            ScopeProbe.run, 0, id=f"{workflow.info().workflow_id}-child-{hops}"
        )
        if hops == 2:
            workflow.continue_as_new(1)
        return seen


@pytest.fixture
async def probe_worker(temporal_env):
    queue = f"scope-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=4) as pool:  # the standard pool: no context copy of our own
        async with Worker(
            temporal_env.client,  # its CompanyInterceptor is the workers' too
            task_queue=queue,
            workflows=[ScopeProbe],
            activities=[company_in_thread, company_on_loop],
            activity_executor=pool,
        ):
            yield queue


def _company_header(attributes) -> int | None:
    return decode(dict(attributes.header.fields))


async def test_a_company_start_reaches_activities_in_threads_children_and_after_continue_as_new(
    temporal_env, probe_worker
):
    client = temporal_env.client
    wid = f"scope-probe-{uuid.uuid4().hex[:8]}"
    with company_scope(7):
        handle = await client.start_workflow(ScopeProbe.run, 2, id=wid, task_queue=probe_worker)
    assert current_company_id() is None
    # The continued run's activities, and its child's: the header went through continue-as-new and the child.
    assert await handle.result() == [[7, True], 7, [7, True], 7]

    started = [
        e async for e in client.get_workflow_handle(wid, run_id=handle.first_execution_run_id).fetch_history_events()
    ]
    first = started[0].workflow_execution_started_event_attributes
    assert _company_header(first) == 7
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in started
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert [_company_header(a) for a in scheduled] == [7, 7]


async def test_a_start_with_no_scope_runs_as_the_first_company(temporal_env, probe_worker):
    # Histories from before tenancy carry no header: their activities run as company 1.
    result = await temporal_env.client.execute_workflow(
        ScopeProbe.run, 0, id=f"scope-legacy-{uuid.uuid4().hex[:8]}", task_queue=probe_worker
    )
    assert result == [[LEGACY_COMPANY_ID, True], LEGACY_COMPANY_ID]


async def test_signals_carry_the_senders_company(temporal_env):
    client = temporal_env.client
    wid = f"scope-signal-{uuid.uuid4().hex[:8]}"
    # No worker: the start and the signal are recorded by the server, which is what is checked.
    with company_scope(4):
        handle = await client.start_workflow(
            ScopeProbe.run, 0, id=wid, task_queue=f"nobody-{uuid.uuid4().hex[:6]}", start_signal="poke"
        )
        await handle.signal("poke")
    try:
        events = [e async for e in handle.fetch_history_events()]
        signalled = [
            e.workflow_execution_signaled_event_attributes
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]
        assert [_company_header(s) for s in signalled] == [4, 4]
        assert _company_header(events[0].workflow_execution_started_event_attributes) == 4
    finally:
        await handle.terminate("test finished")


def test_a_header_of_another_company_is_refused():
    with company_scope(3):
        assert decode(_with_company({})) == 3
        assert decode(_with_company({HEADER: encode(3)})) == 3
        with pytest.raises(CompanyScopeConflict):
            _with_company({HEADER: encode(5)})
    with operator_scope("test", "no company"):
        assert _with_company({}) == {}
    with pytest.raises(ValueError):
        decode({HEADER: encode(0)})


async def test_the_web_gateway_carries_the_request_company(temporal_env, probe_worker):
    target = temporal_env.client.service_client.config.target_host
    gw = TemporalGateway(target, temporal_env.client.namespace, rpc_timeout_s=10)
    wid = f"scope-web-{uuid.uuid4().hex[:8]}"

    def web_request() -> list:
        # As in a Flask view: a sync thread in the request's scope, calling through the gateway's loop thread.
        with company_scope(9):
            return gw.run(lambda c: c.execute_workflow(ScopeProbe.run, 0, id=wid, task_queue=probe_worker), timeout=30)

    assert await asyncio.to_thread(web_request) == [[9, True], 9]


async def test_a_scope_does_not_leak_between_activities(temporal_env, probe_worker):
    client = temporal_env.client
    with company_scope(11):
        a = await client.start_workflow(
            ScopeProbe.run, 0, id=f"scope-a-{uuid.uuid4().hex[:8]}", task_queue=probe_worker
        )
    with company_scope(12):
        b = await client.start_workflow(
            ScopeProbe.run, 0, id=f"scope-b-{uuid.uuid4().hex[:8]}", task_queue=probe_worker
        )
    assert await asyncio.gather(a.result(), b.result()) == [[[11, True], 11], [[12, True], 12]]
    assert current_scope() is None
