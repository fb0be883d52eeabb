"""The privacy workflows (docs/privacy.md): an export, an erasure, and the daily retention sweep.

Deterministic: every read and write is an activity; the inputs and results are ids, step names and counts.
Each activity is idempotent (the request record's steps are keyed), so Temporal's retries redo only what is
not done. An erasure that cannot finish (a provider refusing for good) marks its request failed, with each
step's result in the record, and ends: a person then sees what is missing and retries the request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.privacy_payloads import (
        ErasureOutcome,
        ExportBuilt,
        FinishInput,
        PrivacyRequestRef,
        RetentionOutcome,
        RetentionRequest,
        StepOutcome,
    )
    from workflows.privacy_refs import (
        build_export,
        erase_at_providers,
        erase_records,
        finish_request,
        remove_workflows,
        start_request,
        suppress,
        sweep_retention,
    )

TIMEOUT = timedelta(minutes=15)
HEARTBEAT = timedelta(minutes=3)
# Providers may be down for a while: an erasure keeps trying for about a day before it reports failure.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=30),
    maximum_attempts=60,
    non_retryable_error_types=["InvalidPrivacyRequest"],
)
FINISH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))


Result = TypeVar("Result")


async def _run(activity: Callable[[Any], Awaitable[Result]], inp: Any) -> Result:
    return await workflow.execute_activity(
        activity, inp, start_to_close_timeout=TIMEOUT, heartbeat_timeout=HEARTBEAT, retry_policy=RETRY
    )


async def _finish(request_id: int, status: str) -> None:
    await workflow.execute_activity(
        finish_request,
        FinishInput(request_id=request_id, status=status),
        start_to_close_timeout=timedelta(minutes=1),
        retry_policy=FINISH_RETRY,
    )


@workflow.defn(name="PrivacyExportWorkflow")
class PrivacyExportWorkflow:
    @workflow.run
    async def run(self, ref: PrivacyRequestRef) -> ExportBuilt | None:
        await _run(start_request, ref)
        try:
            built: ExportBuilt = await _run(build_export, ref)
        except ActivityError:
            await _finish(ref.request_id, "failed")
            raise
        await _finish(ref.request_id, "done")
        return built


@workflow.defn(name="PrivacyErasureWorkflow")
class PrivacyErasureWorkflow:
    @workflow.run
    async def run(self, ref: PrivacyRequestRef) -> ErasureOutcome:
        await _run(start_request, ref)
        outcome = ErasureOutcome(request_id=ref.request_id)
        # Order matters: the chain stops before anything else so it dials no one mid-erasure; the providers
        # and the suppression list need the identifiers that the last step empties.
        for step in (remove_workflows, erase_at_providers, suppress, erase_records):
            try:
                done: StepOutcome = await _run(step, ref)
            except ActivityError:
                outcome.status = "failed"
                break
            outcome.steps.append(done)
            if done.failed:
                outcome.status = "failed"
        await _finish(ref.request_id, outcome.status)
        return outcome


@workflow.defn(name="PrivacyRetentionWorkflow")
class PrivacyRetentionWorkflow:
    @workflow.run
    async def run(self, request: RetentionRequest) -> RetentionOutcome:
        total = RetentionOutcome()
        # One batch per class per activity; again while a batch was full, so old backlogs clear in one run.
        for _ in range(200):
            batch: RetentionOutcome = await _run(sweep_retention, request)
            total.transcripts += batch.transcripts
            total.recordings += batch.recordings
            total.email_bodies += batch.email_bodies
            total.inactive_leads += batch.inactive_leads
            total.overdue_requests = batch.overdue_requests
            if not (batch.transcripts or batch.recordings or batch.email_bodies or batch.inactive_leads):
                break
        return total
