"""Report schedules per company (workers/schedules.py, workers/reports.py): one set per active company in
its time zone, each starting the report workflow with the company's header and CompanyId; the schedules of
before tenancy and of inactive companies are removed; a triggered run's report is the company's. Real
parts: PostgreSQL and SQLite (the `backend` fixture), the session's Temporal dev server, the reports worker."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from temporalio.client import Schedule, ScheduleActionStartWorkflow, ScheduleSpec
from temporalio.service import RPCError

from crm.extensions import db
from crm.models.companies import Company
from crm.models.reports import Report
from crm.tenancy.context import operator_scope
from crm.tenancy.temporal_headers import decode
from workers import reports as reports_mod
from workers.schedules import schedule_id, upsert_schedules
from workflows.payloads import COMPANY_ID
from workflows.report_payloads import ReportOutcome, ReportRequest
from workflows.reports import ReportWorkflow

pytestmark = pytest.mark.tenancy


def _companies(app) -> tuple[int, int]:
    with app.app_context(), operator_scope("tests", "companies for the schedules"):
        new_york = Company(slug="new-york", name="New York Inc", timezone="America/New_York")
        gone = Company(slug="weg", name="Weg GmbH", active=False)
        db.session.add_all([new_york, gone])
        db.session.commit()
        ids = new_york.id, gone.id
        db.session.remove()
    return ids


async def _schedule_ids(client, prefix: str) -> set[str]:
    return {s.id async for s in await client.list_schedules() if s.id.startswith(prefix)}


async def _settled_schedule_ids(client, prefix: str, expected: set[str], within_s: float = 10.0) -> set[str]:
    """The schedules listed once the listing agrees, or as listed at the deadline. ListSchedules reads the
    visibility store, which trails a delete: a schedule deleted a moment ago may still be listed (seen in CI)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        found = await _schedule_ids(client, prefix)
        if found == expected or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def _delete_all(client, prefix: str) -> None:
    for sid in await _schedule_ids(client, prefix):
        try:
            await client.get_schedule_handle(sid).delete()
        except RPCError as e:  # deleted already: the listing trails the delete
            if "already completed" not in str(e) and "not found" not in str(e).lower():
                raise


async def test_one_schedule_set_per_active_company_in_its_time_zone(app, temporal_env):
    client = temporal_env.client
    other, inactive = _companies(app)
    prefix = f"tenancy-report-{uuid.uuid4().hex[:6]}"
    queue = f"{prefix}-queue"
    # A schedule of before tenancy (no company) and one of the company that left: both must go.
    old = Schedule(
        action=ScheduleActionStartWorkflow(
            ReportWorkflow.run, ReportRequest(kind="daily"), id=f"{prefix}-run", task_queue=queue
        ),
        spec=ScheduleSpec(cron_expressions=["0 18 * * *"]),
    )
    await client.create_schedule(f"{prefix}-daily", old)
    await client.create_schedule(schedule_id("weekly", inactive, prefix), old)

    active, retired = await asyncio.to_thread(reports_mod.company_schedules, app)
    assert [(c.company_id, c.time_zone) for c in active] == [(1, "Europe/Berlin"), (other, "America/New_York")]
    assert retired == [inactive]
    done = await upsert_schedules(client, active, task_queue=queue, prefix=prefix, retired=retired)
    try:
        assert done[f"{prefix}-daily"] == "deleted" and done[schedule_id("weekly", inactive, prefix)] == "deleted"
        expected = {schedule_id(k, c, prefix) for c in (1, other) for k in ("daily", "weekly", "monthly")}
        assert await _settled_schedule_ids(client, prefix, expected) == expected
        for company_id, zone in ((1, "Europe/Berlin"), (other, "America/New_York")):
            desc = await client.get_schedule_handle(schedule_id("daily", company_id, prefix)).describe()
            action = desc.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            assert desc.schedule.spec.time_zone_name == zone
            assert decode(dict(action.headers or {})) == company_id
            assert action.typed_search_attributes.get(COMPANY_ID) == company_id
            assert action.id == f"{prefix}-c{company_id}-run-daily"
        # A second start updates, and leaves nothing else behind.
        again = await upsert_schedules(client, active, task_queue=queue, prefix=prefix, retired=retired)
        assert set(again.values()) == {"updated"}
    finally:
        await _delete_all(client, prefix)


async def test_a_scheduled_run_reports_on_its_company(app, temporal_env):
    client = temporal_env.client
    other, _ = _companies(app)
    prefix = f"tenancy-run-{uuid.uuid4().hex[:6]}"
    queue = f"{prefix}-queue"
    active, retired = await asyncio.to_thread(reports_mod.company_schedules, app)
    await upsert_schedules(client, active, task_queue=queue, prefix=prefix, retired=retired, kinds=("daily",))
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            async with reports_mod.reports_worker(client, app, pool, mailer=None, task_queue=queue):
                await client.get_schedule_handle(schedule_id("daily", other, prefix)).trigger()
                outcome = await _scheduled_result(client, queue, other)
        with app.app_context(), operator_scope("tests", "whose report"):
            report = db.session.execute(sa.select(Report).where(Report.id == outcome.report.report_id)).scalar_one()
            assert report.company_id == other
            db.session.remove()
    finally:
        await _delete_all(client, prefix)


async def _scheduled_result(client, queue: str, company_id: int) -> ReportOutcome:
    """The result of the run the schedule started (its id gets the scheduled time appended)."""
    query = f'TaskQueue = "{queue}" AND CompanyId = {company_id}'
    for _ in range(150):  # visibility lags a little behind the start
        async for execution in client.list_workflows(query):
            try:
                return await asyncio.wait_for(
                    client.get_workflow_handle(execution.id, result_type=ReportOutcome).result(), 60
                )
            except RPCError:
                break
        await asyncio.sleep(0.2)
    raise AssertionError(f"no report run of company {company_id} on {queue}")
