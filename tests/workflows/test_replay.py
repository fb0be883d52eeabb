"""Replay committed chain histories with today's workflow code: a change that would break running
chains (non-determinism) fails here, before it reaches a deployment.

To record new histories (after a deliberate change guarded by workflow.patched):
    .venv/bin/python -m pytest tests/workflows/record_histories.py
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import ChainInput, ScoreInput, SubmissionRef

HISTORIES = Path(__file__).with_name("histories")


def _histories() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def test_histories_are_committed():
    names = {p.stem for p in _histories()}
    assert {
        "booked",
        "no_answer_then_nurture",
        "cancelled",
        "resubmitted_during_retry_wait",
        "merged_after_booked",
        "callback_requested",
        "callback_at_stated_time",
        "result_polled_early",
    } <= names


@pytest.mark.parametrize("path", _histories(), ids=lambda p: p.stem)
async def test_replay(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await Replayer(workflows=[LeadChainWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)


async def test_replay_detects_an_incompatible_change():
    """The guard works: code that schedules a different first step fails to replay the history."""
    from temporalio.worker import UnsandboxedWorkflowRunner
    from temporalio.workflow import NondeterminismError

    history = WorkflowHistory.from_json("booked", (HISTORIES / "booked.json").read_text())
    with pytest.raises(NondeterminismError):
        await Replayer(
            workflows=[ScoresBeforeImport],
            data_converter=pydantic_data_converter,
            workflow_runner=UnsandboxedWorkflowRunner(),
        ).replay_workflow(history)


@workflow.defn(name="LeadChainWorkflow")
class ScoresBeforeImport:
    """An incompatible edit of the chain: it scores before importing."""

    @workflow.signal
    def submission(self, ref: SubmissionRef) -> None:
        pass

    @workflow.run
    async def run(self, input: ChainInput) -> None:
        await workflow.execute_activity(
            "score_lead", ScoreInput(1, "intake"), start_to_close_timeout=timedelta(seconds=5)
        )


def _steps(path: Path) -> tuple[list[str], list[str]]:
    """(activity tasks scheduled, local activities run), in history order."""
    import base64
    import json

    scheduled, local = [], []
    for event in json.loads(path.read_text())["events"]:
        if "activityTaskScheduledEventAttributes" in event:
            scheduled.append(event["activityTaskScheduledEventAttributes"]["activityType"]["name"])
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_local_activity":
            data = json.loads(base64.b64decode(marker["details"]["data"]["payloads"][0]["data"]))
            local.append(data["activity_type"])
    return scheduled, local


async def test_a_chain_started_before_local_crm_steps_replays_as_it_ran():
    """booked_remote_crm.json was recorded with the code before patch "crm-steps-local" (every CRM step an
    activity task, the gate asked twice before the call): today's code replays it command for command."""
    path = HISTORIES / "booked_remote_crm.json"
    scheduled, local = _steps(path)
    assert local == [] and scheduled.count("check_call_gate") == 2 and len(scheduled) == 13
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await Replayer(workflows=[LeadChainWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)


async def test_a_chain_with_local_crm_steps_replays_and_asks_the_gate_once():
    """booked_local_crm.json, recorded with the patch: the CRM steps are local activities, the provider's and
    the call's outcome are activity tasks, and the gate is asked once before the call."""
    path = HISTORIES / "booked_local_crm.json"
    scheduled, local = _steps(path)
    assert scheduled == ["place_call", "record_call_outcome", "send_email"]
    assert local.count("check_call_gate") == 1 and "record_call_outcome" not in local
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await Replayer(workflows=[LeadChainWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)
