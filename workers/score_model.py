"""The score-model worker: the weekly retraining of each company's learned lead score (workflows/score_model.py)
on task queue "leadchain-score-model", run inside the reports worker process (`leadchain worker reports`),
and one weekly schedule per active company (Sunday 03:00 in the company's time zone, when nobody is
calling), upserted at every start like the report, retention and billing schedules."""

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

from activities.score_model_activities import ScoreModelActivities
from crm.tenancy.temporal_headers import HEADER, encode
from workers.chain import worker_runner
from workers.privacy import Companies
from workers.schedules import CompanySchedule, upsert_schedule
from workers.shutdown import graceful_shutdown_timeout
from workflows.payloads import COMPANY_ID
from workflows.score_model import ScoreModelWorkflow
from workflows.score_model_payloads import SCORE_MODEL_TASK_QUEUE, ScoreModelRequest

SCHEDULE_PREFIX = "leadchain-score-model"


def score_model_worker(
    client: Client,
    app: Flask,
    executor: ThreadPoolExecutor,
    *,
    task_queue: str = SCORE_MODEL_TASK_QUEUE,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    acts = ScoreModelActivities(app)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ScoreModelWorkflow],
        activities=acts.all(),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        graceful_shutdown_timeout=graceful_shutdown_timeout(),
        interceptors=interceptors,
    )


def score_model_schedule(company: CompanySchedule, *, task_queue: str = SCORE_MODEL_TASK_QUEUE) -> Schedule:
    action = ScheduleActionStartWorkflow(
        ScoreModelWorkflow.run,
        ScoreModelRequest(company_id=company.company_id),
        id=f"{SCHEDULE_PREFIX}-c{company.company_id}-run",
        task_queue=task_queue,
        execution_timeout=timedelta(hours=2),
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(COMPANY_ID, company.company_id)]),
    )
    action.headers = {HEADER: encode(company.company_id)}  # scopes the activities (as the report schedules do)
    calendar = ScheduleCalendarSpec(
        day_of_week=[ScheduleRange(0)],  # Sunday (Temporal's numbering)
        hour=[ScheduleRange(3)],
        minute=[ScheduleRange(0)],
        second=[ScheduleRange(0)],
        comment="weekly, Sunday 03:00",
    )
    return Schedule(
        action=action,
        spec=ScheduleSpec(calendars=[calendar], time_zone_name=company.time_zone),
        # A week's run missed while the server was down still runs within a day; older ones wait for the next.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def upsert_score_model_schedules(
    client: Client, app: Flask, companies: Companies, *, task_queue: str = SCORE_MODEL_TASK_QUEUE
) -> list[str]:
    active, _retired = await asyncio.to_thread(companies, app)
    done = []
    for company in active:
        sid = f"{SCHEDULE_PREFIX}-c{company.company_id}"
        await upsert_schedule(client, sid, score_model_schedule(company, task_queue=task_queue))
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
    inner = worker_runner(score_model_worker(client, app, executor, interceptors=interceptors))

    async def run(stop: asyncio.Event) -> None:
        await upsert_score_model_schedules(client, app, companies)
        await inner(stop)

    return run
