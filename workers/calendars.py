"""`leadchain worker calendars`: the calendar sync workflows and their activity on task queue
"leadchain-calendars", and the starter that keeps one CalendarSyncWorkflow running per connection.

The starter scans the connections (an operator look-up across companies, ids only) at start and every
SCAN_INTERVAL, and starts a missing workflow in the connection's company scope, so the start carries the
leadchain-company header and the activity runs in that company. Starting an existing one is a no-op
(USE_EXISTING)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from flask import Flask
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.worker import Interceptor, Worker

from activities.calendar_activities import CalendarActivities
from crm.extensions import db
from crm.models.calendars import CalendarConnection
from crm.observability.tracing import ContextThreadPoolExecutor
from crm.tenancy.context import operator_scope, unit_of_work
from workers.chain import run_until_signalled, worker_runner
from workers.shutdown import graceful_shutdown_timeout
from workflows.calendar_payloads import CALENDARS_TASK_QUEUE, CalendarSyncInput, sync_workflow_id
from workflows.calendar_sync import CalendarSyncWorkflow
from workflows.payloads import COMPANY_ID

log = logging.getLogger(__name__)
SCAN_INTERVAL_S = 30.0


def calendars_worker(
    client: Client,
    app: Flask,
    executor: ThreadPoolExecutor,
    *,
    task_queue: str = CALENDARS_TASK_QUEUE,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CalendarSyncWorkflow],
        activities=CalendarActivities(app).all(),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        graceful_shutdown_timeout=graceful_shutdown_timeout(),
        interceptors=interceptors,
    )


def connection_ids(app: Flask) -> list[tuple[int, int]]:
    """(company id, connection id) of every connection, across companies (ids only)."""
    with app.app_context(), operator_scope("calendars", "one sync workflow per calendar connection"):
        try:
            rows = db.session.execute(
                sa.select(CalendarConnection.company_id, CalendarConnection.id).order_by(CalendarConnection.id)
            ).all()
        finally:
            db.session.remove()
    return [(int(company), int(connection)) for company, connection in rows]


async def ensure_workflows(app: Flask, client: Client, *, task_queue: str = CALENDARS_TASK_QUEUE) -> int:
    """Start the sync workflow of every connection that has none running; returns how many were asked."""
    pairs = await asyncio.to_thread(connection_ids, app)
    for company_id, connection_id in pairs:
        with unit_of_work(company_id):
            await client.start_workflow(
                CalendarSyncWorkflow.run,
                CalendarSyncInput(connection_id=connection_id),
                id=sync_workflow_id(company_id, connection_id),
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                search_attributes=TypedSearchAttributes([SearchAttributePair(COMPANY_ID, company_id)]),
            )
    return len(pairs)


def starter_runner(app: Flask, client: Client, task_queue: str = CALENDARS_TASK_QUEUE):
    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await ensure_workflows(app, client, task_queue=task_queue)
            except Exception:  # noqa: BLE001 - a failed scan is retried on the next one
                log.exception("calendar sync workflows: scan failed")
            try:
                await asyncio.wait_for(stop.wait(), SCAN_INTERVAL_S)
            except TimeoutError:
                pass

    return run


async def run(app: Flask, client: Client, interceptors: Sequence[Interceptor] = ()) -> None:
    """Entry point of `leadchain worker calendars` (workers/main.py): until SIGTERM or SIGINT."""
    executor = ContextThreadPoolExecutor(max_workers=4, thread_name_prefix="calendars-activity")
    try:
        worker = calendars_worker(client, app, executor, interceptors=interceptors)
        await run_until_signalled(worker_runner(worker), starter_runner(app, client))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
