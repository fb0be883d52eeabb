"""ReportWorkflow: build (or find) the period's report, then email it to every manager once.

Started by the Temporal Schedules in workers/schedules.py (daily 18:00, Monday 08:00, the 1st 08:00,
Europe/Berlin) or directly. Deterministic: no I/O here; the period is derived from the schedule's
scheduled time (search attribute TemporalScheduledStartTime) inside the build activity, so a run
started late (catch-up after an outage) still reports on the period its slot belongs to.

`request.to_date` only travels in the build activity's input (a field with a default): the commands
stay the same two activities, so histories of older runs replay (tests/reports/test_report_replay.py)
and no workflow.patched marker is needed.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from workflows.activity_refs import build_report, send_report
    from workflows.report_payloads import (
        BuildReportInput,
        BuiltReport,
        ReportOutcome,
        ReportRequest,
        ReportSent,
        SendReportInput,
    )

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
BUILD_TIMEOUT = timedelta(minutes=20)
SEND_TIMEOUT = timedelta(minutes=10)
HEARTBEAT = timedelta(minutes=3)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=8,
    non_retryable_error_types=["InvalidReportRequest", "ProviderRejected"],
)


@workflow.defn(name="ReportWorkflow")
class ReportWorkflow:
    @workflow.run
    async def run(self, request: ReportRequest) -> ReportOutcome:
        at = request.at or workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
        queue = request.activity_task_queue or workflow.info().task_queue
        built: BuiltReport = await workflow.execute_activity(
            build_report,
            BuildReportInput(kind=request.kind, at=at, day=request.day, to_date=request.to_date),
            task_queue=queue,
            start_to_close_timeout=BUILD_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        sent: ReportSent = await workflow.execute_activity(
            send_report,
            SendReportInput(report_id=built.report_id),
            task_queue=queue,
            start_to_close_timeout=SEND_TIMEOUT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        return ReportOutcome(report=built, delivery=sent)
