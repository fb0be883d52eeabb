"""The score-model worker: the weekly retraining of each company's learned lead score (workflows/score_model.py)
on task queue "leadchain-score-model", run inside the reports worker process (`leadchain worker reports`),
and one weekly schedule per active company (Sunday 03:00 in the company's time zone, when nobody is
calling), upserted at every start like the report, retention and billing schedules."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import Flask
from temporalio.client import Client, Schedule, ScheduleCalendarSpec, ScheduleRange
from temporalio.worker import Interceptor, Worker

from activities.score_model_activities import ScoreModelActivities
from workers.company_jobs import (
    Companies,
    company_schedule,
    queue_worker,
    schedules_then_worker,
    upsert_company_schedules,
)
from workers.schedules import CompanySchedule
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
    return queue_worker(
        client,
        executor,
        task_queue=task_queue,
        workflows=[ScoreModelWorkflow],
        activities=acts.all(),
        interceptors=interceptors,
    )


def score_model_schedule(company: CompanySchedule, *, task_queue: str = SCORE_MODEL_TASK_QUEUE) -> Schedule:
    return company_schedule(
        company,
        ScoreModelWorkflow.run,
        ScoreModelRequest(company_id=company.company_id),
        workflow_id=f"{SCHEDULE_PREFIX}-c{company.company_id}-run",
        task_queue=task_queue,
        execution_timeout=timedelta(hours=2),
        calendar=ScheduleCalendarSpec(
            day_of_week=[ScheduleRange(0)],  # Sunday (Temporal's numbering)
            hour=[ScheduleRange(3)],
            minute=[ScheduleRange(0)],
            second=[ScheduleRange(0)],
            comment="weekly, Sunday 03:00",
        ),
        # A week's run missed while the server was down still runs within a day; older ones wait for the next.
        catchup_window=timedelta(days=1),
    )


async def upsert_score_model_schedules(
    client: Client, app: Flask, companies: Companies, *, task_queue: str = SCORE_MODEL_TASK_QUEUE
) -> list[str]:
    return await upsert_company_schedules(
        client, app, companies, SCHEDULE_PREFIX, lambda company: score_model_schedule(company, task_queue=task_queue)
    )


def runner(
    app: Flask,
    client: Client,
    executor: ThreadPoolExecutor,
    companies: Companies,
    interceptors: Sequence[Interceptor] = (),
):
    """For workers.chain.run_until_signalled: upsert the schedules, then run the worker until stopped."""
    worker = score_model_worker(client, app, executor, interceptors=interceptors)
    return schedules_then_worker(worker, lambda: upsert_score_model_schedules(client, app, companies))
