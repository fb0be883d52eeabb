"""What the reports process's per-company jobs share (privacy retention, monthly billing, the learned score's
weekly retraining): a worker on the job's own task queue, one schedule per active company that starts the job's
workflow in that company's time zone with the company in the workflow's header (which scopes its activities,
as the report schedules do) and search attribute, the schedules upserted at every start, then the worker run
until stopped. Each job's module says only what is its own: workflows, activities, request, calendar, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from flask import Flask
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Interceptor, Worker

from crm.tenancy.temporal_headers import HEADER, encode
from workers.chain import worker_runner
from workers.schedules import CompanySchedule, upsert_schedule
from workers.shutdown import graceful_shutdown_timeout
from workflows.payloads import COMPANY_ID

# workers.reports.company_schedules, handed in (that module starts the jobs): (active, retired company ids).
Companies = Callable[[Flask], tuple[list[CompanySchedule], list[int]]]


def queue_worker(
    client: Client,
    executor: ThreadPoolExecutor,
    *,
    task_queue: str,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]],
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    """A worker on the job's task queue, its activities on `executor` (as many at once as it has threads)."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=list(activities),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        graceful_shutdown_timeout=graceful_shutdown_timeout(),
        interceptors=interceptors,
    )


def company_schedule(
    company: CompanySchedule,
    run: Callable[..., Awaitable[Any]],
    request: Any,
    *,
    workflow_id: str,
    task_queue: str,
    execution_timeout: timedelta,
    calendar: ScheduleCalendarSpec,
    catchup_window: timedelta,
) -> Schedule:
    """Start `run(request)` at `calendar` in the company's time zone; a run still going skips the next start,
    and a start missed while the server was down still happens within `catchup_window`."""
    action = ScheduleActionStartWorkflow(
        run,
        request,
        id=workflow_id,
        task_queue=task_queue,
        execution_timeout=execution_timeout,
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(COMPANY_ID, company.company_id)]),
    )
    action.headers = {HEADER: encode(company.company_id)}  # scopes the activities (as the report schedules do)
    return Schedule(
        action=action,
        spec=ScheduleSpec(calendars=[calendar], time_zone_name=company.time_zone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup_window),
    )


async def upsert_company_schedules(
    client: Client, app: Flask, companies: Companies, prefix: str, schedule: Callable[[CompanySchedule], Schedule]
) -> list[str]:
    """One schedule `<prefix>-c<company id>` per active company; their ids."""
    active, _retired = await asyncio.to_thread(companies, app)
    done = []
    for company in active:
        sid = f"{prefix}-c{company.company_id}"
        await upsert_schedule(client, sid, schedule(company))
        done.append(sid)
    return done


def schedules_then_worker(
    worker: Worker, upsert: Callable[[], Awaitable[object]]
) -> Callable[[asyncio.Event], Awaitable[None]]:
    """For workers.chain.run_until_signalled: upsert the schedules, then run the worker until stopped."""
    inner = worker_runner(worker)

    async def run(stop: asyncio.Event) -> None:
        await upsert()
        await inner(stop)

    return run
