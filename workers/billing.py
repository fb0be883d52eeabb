"""The billing worker: the monthly billing workflow and its activities on task queue "leadchain-billing",
run inside the reports worker process (`leadchain worker reports`), and one monthly schedule per active
company (the 1st, 06:00 in the company's time zone: it bills the month that just ended), upserted at every
start like the report and retention schedules. Re-running a month changes nothing (workflows/billing.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import Flask
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Interceptor, Worker

from activities.billing_activities import BillingActivities
from crm.reports.mail import build_mailer
from crm.tenancy.temporal_headers import HEADER, encode
from workers.chain import worker_runner
from workers.privacy import Companies
from workers.schedules import CompanySchedule, upsert_schedule
from workers.shutdown import graceful_shutdown_timeout
from workflows.billing import MonthlyBillingWorkflow
from workflows.billing_payloads import BILLING_TASK_QUEUE, BillingRequest
from workflows.payloads import COMPANY_ID

SCHEDULE_PREFIX = "leadchain-billing"


def billing_worker(
    client: Client,
    app: Flask,
    executor: ThreadPoolExecutor,
    *,
    task_queue: str = BILLING_TASK_QUEUE,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    acts = BillingActivities(app, build_mailer(app))
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[MonthlyBillingWorkflow],
        activities=acts.all(),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        graceful_shutdown_timeout=graceful_shutdown_timeout(),
        interceptors=interceptors,
    )


def billing_schedule(company: CompanySchedule, *, task_queue: str = BILLING_TASK_QUEUE) -> Schedule:
    action = ScheduleActionStartWorkflow(
        MonthlyBillingWorkflow.run,
        BillingRequest(company_id=company.company_id),
        id=f"{SCHEDULE_PREFIX}-c{company.company_id}-run",
        task_queue=task_queue,
        execution_timeout=timedelta(hours=6),
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(COMPANY_ID, company.company_id)]),
    )
    action.headers = {HEADER: encode(company.company_id)}  # scopes the activities (as the report schedules do)
    calendar = ScheduleCalendarSpec(
        day_of_month=[ScheduleRange(1)],
        hour=[ScheduleRange(6)],
        minute=[ScheduleRange(0)],
        second=[ScheduleRange(0)],
        comment="monthly, the 1st 06:00",
    )
    return Schedule(
        action=action,
        spec=ScheduleSpec(calendars=[calendar], time_zone_name=company.time_zone),
        # A month's run missed while the server was down still runs: a week of catch-up.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=7)),
    )


async def upsert_billing_schedules(
    client: Client, app: Flask, companies: Companies, *, task_queue: str = BILLING_TASK_QUEUE
) -> list[str]:
    active, _retired = await asyncio.to_thread(companies, app)
    done = []
    for company in active:
        sid = f"{SCHEDULE_PREFIX}-c{company.company_id}"
        await upsert_schedule(client, sid, billing_schedule(company, task_queue=task_queue))
        done.append(sid)
    return done


def runner(
    app: Flask,
    client: Client,
    executor: ThreadPoolExecutor,
    companies: Companies,
    interceptors: Sequence[Interceptor] = (),
):
    """For workers.chain.run_until_signalled: upsert the schedules, then run the worker until stopped."""
    inner = worker_runner(billing_worker(client, app, executor, interceptors=interceptors))

    async def run(stop: asyncio.Event) -> None:
        await upsert_billing_schedules(client, app, companies)
        await inner(stop)

    return run
