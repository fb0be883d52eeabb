"""The billing worker: the monthly billing workflow and its activities on task queue "leadchain-billing",
run inside the reports worker process (`leadchain worker reports`), and one monthly schedule per active
company (the 1st, 06:00 in the company's time zone: it bills the month that just ended), upserted at every
start like the report and retention schedules. Re-running a month changes nothing (workflows/billing.py)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import Flask
from temporalio.client import Client, Schedule, ScheduleCalendarSpec, ScheduleRange
from temporalio.worker import Interceptor, Worker

from activities.billing_activities import BillingActivities
from crm.reports.mail import build_mailer
from workers.company_jobs import (
    Companies,
    company_schedule,
    queue_worker,
    schedules_then_worker,
    upsert_company_schedules,
)
from workers.schedules import CompanySchedule
from workflows.billing import MonthlyBillingWorkflow
from workflows.billing_payloads import BILLING_TASK_QUEUE, BillingRequest

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
    return queue_worker(
        client,
        executor,
        task_queue=task_queue,
        workflows=[MonthlyBillingWorkflow],
        activities=acts.all(),
        interceptors=interceptors,
    )


def billing_schedule(company: CompanySchedule, *, task_queue: str = BILLING_TASK_QUEUE) -> Schedule:
    return company_schedule(
        company,
        MonthlyBillingWorkflow.run,
        BillingRequest(company_id=company.company_id),
        workflow_id=f"{SCHEDULE_PREFIX}-c{company.company_id}-run",
        task_queue=task_queue,
        execution_timeout=timedelta(hours=6),
        calendar=ScheduleCalendarSpec(
            day_of_month=[ScheduleRange(1)],
            hour=[ScheduleRange(6)],
            minute=[ScheduleRange(0)],
            second=[ScheduleRange(0)],
            comment="monthly, the 1st 06:00",
        ),
        # A month's run missed while the server was down still runs: a week of catch-up.
        catchup_window=timedelta(days=7),
    )


async def upsert_billing_schedules(
    client: Client, app: Flask, companies: Companies, *, task_queue: str = BILLING_TASK_QUEUE
) -> list[str]:
    return await upsert_company_schedules(
        client, app, companies, SCHEDULE_PREFIX, lambda company: billing_schedule(company, task_queue=task_queue)
    )


def runner(
    app: Flask,
    client: Client,
    executor: ThreadPoolExecutor,
    companies: Companies,
    interceptors: Sequence[Interceptor] = (),
):
    """For workers.chain.run_until_signalled: upsert the schedules, then run the worker until stopped."""
    worker = billing_worker(client, app, executor, interceptors=interceptors)
    return schedules_then_worker(worker, lambda: upsert_billing_schedules(client, app, companies))
