"""The privacy worker: the export, erasure and retention workflows and their activities on task queue
"leadchain-privacy", run inside the reports worker process (`leadchain worker reports`), and one daily
retention schedule per active company (03:30 in the company's time zone), upserted at every start like the
report schedules (workers/schedules.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
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

from activities.privacy_activities import PrivacyActivities
from crm import secret_names
from crm.email.factory import sendgrid_endpoint
from crm.privacy.sendgrid_contacts import ContactsClient
from crm.tenancy.temporal_headers import HEADER, encode
from providers.factory import registry
from workers.chain import worker_runner
from workers.schedules import CompanySchedule, upsert_schedule
from workers.shutdown import graceful_shutdown_timeout
from workflows.payloads import COMPANY_ID
from workflows.privacy import PrivacyErasureWorkflow, PrivacyExportWorkflow, PrivacyRetentionWorkflow
from workflows.privacy_payloads import PRIVACY_TASK_QUEUE, RetentionRequest

SCHEDULE_PREFIX = "leadchain-retention"


def contacts_client(app: Flask) -> ContactsClient | None:
    """SendGrid's contacts API with the installation's key, or the sandbox's (crm.email.factory)."""
    key = app.extensions["leadchain.secrets"].get(secret_names.SENDGRID_API_KEY)
    endpoint = sendgrid_endpoint(settings=app.config["LEADCHAIN"], api_key=key)
    return ContactsClient(api_key=endpoint[0], host=endpoint[1]) if endpoint else None


def privacy_activities(app: Flask, client: Client) -> PrivacyActivities:
    return PrivacyActivities(app, lambda: registry(app), lambda: contacts_client(app), client)


def privacy_worker(
    client: Client,
    app: Flask,
    executor: ThreadPoolExecutor,
    *,
    task_queue: str = PRIVACY_TASK_QUEUE,
    interceptors: Sequence[Interceptor] = (),
    activities: PrivacyActivities | None = None,
) -> Worker:
    acts = activities or privacy_activities(app, client)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PrivacyExportWorkflow, PrivacyErasureWorkflow, PrivacyRetentionWorkflow],
        activities=acts.all(),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        graceful_shutdown_timeout=graceful_shutdown_timeout(),
        interceptors=interceptors,
    )


def retention_schedule(company: CompanySchedule, *, task_queue: str = PRIVACY_TASK_QUEUE) -> Schedule:
    action = ScheduleActionStartWorkflow(
        PrivacyRetentionWorkflow.run,
        RetentionRequest(company_id=company.company_id),
        id=f"{SCHEDULE_PREFIX}-c{company.company_id}-run",
        task_queue=task_queue,
        execution_timeout=timedelta(hours=6),
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(COMPANY_ID, company.company_id)]),
    )
    action.headers = {HEADER: encode(company.company_id)}  # scopes the activities (as the report schedules do)
    calendar = ScheduleCalendarSpec(
        hour=[ScheduleRange(3)], minute=[ScheduleRange(30)], second=[ScheduleRange(0)], comment="daily 03:30"
    )
    return Schedule(
        action=action,
        spec=ScheduleSpec(calendars=[calendar], time_zone_name=company.time_zone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=12)),
    )


Companies = Callable[[Flask], tuple[list[CompanySchedule], list[int]]]


async def upsert_retention_schedules(
    client: Client, app: Flask, companies: Companies, *, task_queue: str = PRIVACY_TASK_QUEUE
) -> None:
    """One schedule per active company; `companies` is workers.reports.company_schedules (handed in: that
    module starts this one)."""
    active, _retired = await asyncio.to_thread(companies, app)
    for company in active:
        sid = f"{SCHEDULE_PREFIX}-c{company.company_id}"
        await upsert_schedule(client, sid, retention_schedule(company, task_queue=task_queue))


def runner(
    app: Flask,
    client: Client,
    executor: ThreadPoolExecutor,
    companies: Companies,
    interceptors: Sequence[Interceptor] = (),
):
    """For workers.chain.run_until_signalled: upsert the schedules, then run the worker until stopped."""
    inner = worker_runner(privacy_worker(client, app, executor, interceptors=interceptors))

    async def run(stop: asyncio.Event) -> None:
        await upsert_retention_schedules(client, app, companies)
        await inner(stop)

    return run
