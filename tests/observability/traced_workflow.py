"""A one-activity workflow for the tracing tests (its own module: the workflow sandbox re-imports it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy


@dataclass
class Job:
    lead_id: int
    url: str
    calls: int = 2
    fail_with: str | None = None


@workflow.defn
class TracedWorkflow:
    @workflow.run
    async def run(self, job: Job) -> list[int]:
        return await workflow.execute_activity(
            "call_provider",
            job,
            result_type=list[int],
            start_to_close_timeout=timedelta(seconds=20),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
