"""`leadchain worker reports`: the report workflows and activities on task queue "leadchain-reports",
and the report schedules, one set per active company, upserted at every start (workers/schedules.py).
Each run's activities are scoped to its company by the leadchain-company header its schedule sets.

Rendering a PDF is CPU-bound synchronous work: activities run in a small thread pool (two at a time
by default; LEADCHAIN_REPORT_CONCURRENCY), the workflow tasks on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from flask import Flask
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from activities.report_activities import ReportActivities
from crm.extensions import db
from crm.models.companies import Company
from crm.observability.tracing import ContextThreadPoolExecutor
from crm.reports.mail import ReportMailer, build_mailer
from crm.tenancy.context import operator_scope
from workers.chain import run_until_signalled, worker_runner
from workers.schedules import SCHEDULE_PREFIX, TIME_ZONE, CompanySchedule, upsert_schedules
from workers.shutdown import graceful_shutdown_timeout
from workflows.report_payloads import REPORTS_TASK_QUEUE
from workflows.reports import ReportWorkflow

log = logging.getLogger(__name__)


def reports_worker(
    client: Client,
    app: Flask,
    executor: ThreadPoolExecutor,
    *,
    mailer: ReportMailer | None,
    task_queue: str = REPORTS_TASK_QUEUE,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    activities = ReportActivities(app, mailer)
    # A report being rendered or mailed gets the grace period to finish on SIGTERM (workers/shutdown.py).
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ReportWorkflow],
        activities=activities.all(),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        graceful_shutdown_timeout=graceful_shutdown_timeout(),
        interceptors=interceptors,  # activity metrics (crm.observability.temporal)
    )


def company_schedules(app: Flask) -> tuple[list[CompanySchedule], list[int]]:
    """The active companies with their time zones, and the ids of the inactive ones. The companies table is
    a platform table: read in an operator context that says why."""
    with app.app_context(), operator_scope("reports", "one report schedule per company"):
        try:
            query = sa.select(Company.id, Company.timezone, Company.active).order_by(Company.id)
            rows = db.session.execute(query).all()
        finally:
            db.session.remove()
    active = [CompanySchedule(r.id, r.timezone or TIME_ZONE) for r in rows if r.active]
    return active, [r.id for r in rows if not r.active]


async def serve(
    app: Flask,
    client: Client,
    stop: asyncio.Event,
    *,
    mailer: ReportMailer | None = None,
    task_queue: str = REPORTS_TASK_QUEUE,
    schedule_prefix: str = SCHEDULE_PREFIX,
    executor: ThreadPoolExecutor | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> None:
    """Upsert the schedules (one set per active company), then run the worker until `stop` is set."""
    active, retired = await asyncio.to_thread(company_schedules, app)
    await upsert_schedules(client, active, task_queue=task_queue, prefix=schedule_prefix, retired=retired)
    own = executor is None
    executor = executor or ContextThreadPoolExecutor(
        max_workers=app.config["LEADCHAIN"].reports.concurrency, thread_name_prefix="reports-activity"
    )
    try:
        worker = reports_worker(client, app, executor, mailer=mailer, task_queue=task_queue, interceptors=interceptors)
        await worker_runner(worker)(stop)
    finally:
        if own:
            executor.shutdown(wait=False, cancel_futures=True)


async def run(app: Flask, client: Client, interceptors: Sequence[Interceptor] = ()) -> None:
    """Entry point of `leadchain worker reports` (workers/main.py): until SIGTERM or SIGINT."""
    mailer = build_mailer(app)
    if mailer is None:
        log.warning("no email sender configured: reports are built and stored but not emailed")
    # The privacy workflows (exports, erasures, retention) share this process: both are rare, batch-like work.
    # So does monthly billing (issue 20): one run per company and month; and the weekly retraining of the
    # learned lead score (issue 23), one run per company and week.
    from workers import billing, privacy, score_model

    executor = ContextThreadPoolExecutor(max_workers=2, thread_name_prefix="privacy-activity")
    billing_executor = ContextThreadPoolExecutor(max_workers=1, thread_name_prefix="billing-activity")
    score_model_executor = ContextThreadPoolExecutor(max_workers=1, thread_name_prefix="score-model-activity")
    await run_until_signalled(
        lambda stop: serve(app, client, stop, mailer=mailer, interceptors=interceptors),
        privacy.runner(app, client, executor, company_schedules, interceptors),
        billing.runner(app, client, billing_executor, company_schedules, interceptors),
        score_model.runner(app, client, score_model_executor, company_schedules, interceptors),
    )
