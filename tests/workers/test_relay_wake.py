"""The relay is woken by the commit that gives it work (workers/relay_wake.py, issue 21): a new inbox row
(migration 0028's triggers) or a lead leaving a busy stage (record_timeline, activities/relay_notify.py),
delivered by PostgreSQL at commit, never for a rollback. Real parts: PostgreSQL, the real relay with a
stand-in Temporal client that records the starts; the poll is set far beyond the test's bounds, so only a
wake-up can start a chain in time."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from activities.crm_activities import CrmActivities
from activities.relay_notify import BUSY_STAGES, frees_budget
from crm.extensions import db
from crm.models import Lead, LeadSubmission
from crm.tenancy.context import company_scope, unit_of_work
from workers import relay as relay_module
from workers.relay import Relay
from workers.relay_wake import RelayWake
from workflows.payloads import TimelineInput
from workflows.vocabulary import ChainStage

pytestmark = pytest.mark.tenancy


def _submit(app, *, commit: bool = True) -> int:
    with app.app_context(), company_scope(1):
        row = LeadSubmission(
            source="website", channel="webhook", actor="test", chain_id=f"lead-{uuid.uuid4().hex}", payload={}
        )
        db.session.add(row)
        db.session.flush()
        row_id = row.id
        if commit:
            db.session.commit()
        else:
            db.session.rollback()
        db.session.remove()
    return row_id


async def _listening(app) -> tuple[RelayWake, asyncio.Event, asyncio.Task]:
    wake, stop = RelayWake.for_app(app), asyncio.Event()
    task = asyncio.create_task(wake.listen(stop))
    async with asyncio.timeout(10):
        while not wake.connected:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    wake.clear()  # the wake-up the listener gives itself once connected
    return wake, stop, task


async def _woken(wake: RelayWake, within: float) -> bool:
    stop = asyncio.Event()
    started = time.monotonic()
    await wake.wait(stop, within)
    return time.monotonic() - started < within


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_committed_submission_wakes_the_listener_and_a_rolled_back_one_does_not(app):
    wake, stop, task = await _listening(app)
    try:
        await asyncio.to_thread(_submit, app, commit=False)
        assert not await _woken(wake, 0.5)
        await asyncio.to_thread(_submit, app)
        assert await _woken(wake, 5.0)
        assert wake.notifications == 1
    finally:
        stop.set()
        await task


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_lead_leaving_a_busy_stage_wakes_the_listener(app):
    with app.app_context(), company_scope(1):
        lead = Lead(source="website", chain_id="lead-wake", chain_stage=ChainStage.CALLING)
        db.session.add(lead)
        db.session.commit()
        lead_id = lead.id
        db.session.remove()
    steps = CrmActivities(app)

    def record(stage: str) -> None:
        with unit_of_work(1):
            steps.record_timeline(TimelineInput(lead_id, "lead-wake", stage, "test"))

    wake, stop, task = await _listening(app)
    try:
        await asyncio.to_thread(record, ChainStage.CALLING)  # no change of budget: no wake-up
        assert not await _woken(wake, 0.5)
        await asyncio.to_thread(record, ChainStage.WAITING_FOR_RESULT)
        assert await _woken(wake, 5.0)
    finally:
        stop.set()
        await task


def test_which_stage_changes_free_the_budget():
    assert frees_budget(None, ChainStage.WAITING_FOR_RESULT)
    assert frees_budget(ChainStage.CALLING, ChainStage.BOOKED)
    assert not frees_budget(ChainStage.IMPORTING, ChainStage.QUALIFYING)
    assert not frees_budget(ChainStage.WAITING_FOR_RESULT, ChainStage.NURTURING)  # it held none
    assert not frees_budget(ChainStage.WAITING_FOR_RESULT, ChainStage.FOLLOWING_UP)
    # The relay counts the same stages as busy as the step that wakes it.
    assert relay_module.BUSY_STAGES == BUSY_STAGES


class RecordingClient:
    """Stands in for Temporal: records each start (signal-with-start) the relay makes."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}

    async def start_workflow(self, *args, id: str, **kwargs) -> None:
        self.started.setdefault(id, time.monotonic())

    def list_workflows(self, query: str):
        async def none():
            return
            yield

        return none()


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_the_relay_starts_a_committed_lead_at_once_not_at_its_next_poll(app):
    client = RecordingClient()
    relay = Relay(app, client, poll_s=30.0)  # type: ignore[arg-type]
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        async with asyncio.timeout(10):
            while not relay.wake.connected:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # the first passes (sweep, broadcast) are over: the relay waits for 30 s
        committed = time.monotonic()
        row_id = await asyncio.to_thread(_submit, app)
        async with asyncio.timeout(5):
            while not client.started:
                await asyncio.sleep(0.01)
        assert time.monotonic() - committed < 5
        [chain_id] = client.started
        with app.app_context(), company_scope(1):
            assert db.session.get(LeadSubmission, row_id).chain_id == chain_id
            db.session.remove()
    finally:
        stop.set()
        await running
