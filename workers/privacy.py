"""The privacy worker: the export, erasure and retention workflows and their activities on task queue
"leadchain-privacy", run inside the reports worker process (`leadchain worker reports`), and one daily
retention schedule per active company (03:30 in the company's time zone), upserted at every start like the
report schedules (workers/schedules.py)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import Flask
from temporalio.client import Client, Schedule, ScheduleCalendarSpec, ScheduleRange
from temporalio.worker import Interceptor, Worker

from activities.privacy_activities import PrivacyActivities
from crm import secret_names
from crm.email.factory import sendgrid_endpoint
from crm.privacy.sendgrid_contacts import ContactsClient
from providers.factory import registry
from workers.company_jobs import (
    Companies,
    company_schedule,
    queue_worker,
    schedules_then_worker,
    upsert_company_schedules,
)
from workers.schedules import CompanySchedule
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
    return queue_worker(
        client,
        executor,
        task_queue=task_queue,
        workflows=[PrivacyExportWorkflow, PrivacyErasureWorkflow, PrivacyRetentionWorkflow],
        activities=acts.all(),
        interceptors=interceptors,
    )


def retention_schedule(company: CompanySchedule, *, task_queue: str = PRIVACY_TASK_QUEUE) -> Schedule:
    return company_schedule(
        company,
        PrivacyRetentionWorkflow.run,
        RetentionRequest(company_id=company.company_id),
        workflow_id=f"{SCHEDULE_PREFIX}-c{company.company_id}-run",
        task_queue=task_queue,
        execution_timeout=timedelta(hours=6),
        calendar=ScheduleCalendarSpec(
            hour=[ScheduleRange(3)], minute=[ScheduleRange(30)], second=[ScheduleRange(0)], comment="daily 03:30"
        ),
        catchup_window=timedelta(hours=12),
    )


async def upsert_retention_schedules(
    client: Client, app: Flask, companies: Companies, *, task_queue: str = PRIVACY_TASK_QUEUE
) -> None:
    """One schedule per active company."""
    await upsert_company_schedules(
        client, app, companies, SCHEDULE_PREFIX, lambda company: retention_schedule(company, task_queue=task_queue)
    )


def runner(
    app: Flask,
    client: Client,
    executor: ThreadPoolExecutor,
    companies: Companies,
    interceptors: Sequence[Interceptor] = (),
):
    """For workers.chain.run_until_signalled: upsert the schedules, then run the worker until stopped."""
    worker = privacy_worker(client, app, executor, interceptors=interceptors)
    return schedules_then_worker(worker, lambda: upsert_retention_schedules(client, app, companies))
