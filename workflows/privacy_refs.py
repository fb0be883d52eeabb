"""Typed references to the privacy activities (activities/privacy_activities.py), for
`workflow.execute_activity`: the registered name, input and result types, never run (see
workflows/activity_refs.py for why stubs)."""

from __future__ import annotations

from temporalio import activity

from workflows.privacy_payloads import (
    ExportBuilt,
    FinishInput,
    PrivacyRequestRef,
    RetentionOutcome,
    RetentionRequest,
    StepOutcome,
)


def _stub() -> NotImplementedError:
    return NotImplementedError("a typed reference for workflow.execute_activity; the worker runs the real one")


@activity.defn(name="privacy_start_request")
async def start_request(inp: PrivacyRequestRef) -> None:
    raise _stub()


@activity.defn(name="privacy_build_export")
async def build_export(inp: PrivacyRequestRef) -> ExportBuilt:
    raise _stub()


@activity.defn(name="privacy_remove_workflows")
async def remove_workflows(inp: PrivacyRequestRef) -> StepOutcome:
    raise _stub()


@activity.defn(name="privacy_erase_at_providers")
async def erase_at_providers(inp: PrivacyRequestRef) -> StepOutcome:
    raise _stub()


@activity.defn(name="privacy_suppress")
async def suppress(inp: PrivacyRequestRef) -> StepOutcome:
    raise _stub()


@activity.defn(name="privacy_erase_records")
async def erase_records(inp: PrivacyRequestRef) -> StepOutcome:
    raise _stub()


@activity.defn(name="privacy_finish_request")
async def finish_request(inp: FinishInput) -> None:
    raise _stub()


@activity.defn(name="privacy_sweep_retention")
async def sweep_retention(inp: RetentionRequest) -> RetentionOutcome:
    raise _stub()
