"""The calendar sync workflow on a real Temporal dev server and a real Radicale: the starter starts one
workflow per connection (id c<company>-cal-<connection>, with the company header), its first round fills the
busy table and writes the rep's appointment out, and `sync_now` brings a new event in at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from temporalio.worker import Worker

from activities.calendar_activities import CalendarActivities
from crm.extensions import db
from crm.models import Appointment
from crm.models.calendars import CalendarBusy, CalendarEvent
from crm.tenancy.context import company_scope
from tests.calendars.test_caldav import _ics
from workers.calendars import ensure_workflows
from workflows.calendar_payloads import sync_workflow_id
from workflows.calendar_sync import CalendarSyncWorkflow

pytestmark = pytest.mark.tenancy
START = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)


def _count(app, model, **where) -> int:
    with app.app_context(), company_scope(1):
        query = sa.select(sa.func.count()).select_from(model).filter_by(**where)
        try:
            return int(db.session.scalar(query) or 0)
        finally:
            db.session.remove()


async def _until(predicate, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.2)


async def test_one_workflow_per_connection_syncs_and_writes_out(app, connect_rep, temporal_env):
    with app.app_context(), company_scope(1):
        rep = connect_rep()
        connection_id = rep.connection.id
        db.session.add(Appointment(owner_id=rep.user.id, starts_at=START, ends_at=START + timedelta(minutes=30)))
        db.session.commit()
        stamp = (START + timedelta(hours=3)).strftime("%Y%m%dT%H%M%SZ")
        end = (START + timedelta(hours=4)).strftime("%Y%m%dT%H%M%SZ")
        rep.dav().save_event(_ics(f"UID:first\r\nDTSTART:{stamp}\r\nDTEND:{end}"))
        db.session.remove()

    queue = f"calendars-test-{uuid.uuid4().hex[:8]}"
    client = temporal_env.client
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[CalendarSyncWorkflow],
            activities=CalendarActivities(app).all(),
            activity_executor=executor,
        ):
            await _exercise(app, client, queue, connection_id, rep, end)


async def _exercise(app, client, queue, connection_id, rep, end) -> None:
    assert await ensure_workflows(app, client, task_queue=queue) == 1
    assert await ensure_workflows(app, client, task_queue=queue) == 1  # already running: the same one
    handle = client.get_workflow_handle(sync_workflow_id(1, connection_id))
    try:
        await _until(lambda: _count(app, CalendarBusy, uid="first") == 1)
        await _until(lambda: _count(app, CalendarEvent, connection_id=connection_id) == 1)

        with app.app_context():
            rep.dav().save_event(_ics(f"UID:second\r\nDTSTART:{end}\r\nDTEND:{end[:9]}235900Z"))
        await handle.signal(CalendarSyncWorkflow.sync_now)
        await _until(lambda: _count(app, CalendarBusy, uid="second") == 1, timeout_s=10)
        description = await handle.describe()
        assert description.search_attributes.get("CompanyId") == [1]
    finally:
        await handle.terminate("test over")
