"""workflows/vocabulary.py is the one vocabulary of the chain: the workflow writes only its codes, the
final stages are exactly the ones `_finish` can write, and what recorded histories hold decodes into it.

Read from the workflow's source (ast) and from the recorded histories of tests/workflows/histories, not
from a hand list, so a stage added to the workflow without the vocabulary fails here.
"""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path

import pytest

from crm.models import Lead
from crm.services import chain_reopen
from workflows import activity_refs, vocabulary
from workflows.lead_chain import LeadChainWorkflow
from workflows.vocabulary import FINAL_STAGES, ChainStage, StopReason, TimelineStep

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = sorted((ROOT / "tests/workflows/histories").glob("*.json"))
CHAIN_SOURCE = ast.parse((ROOT / "workflows/lead_chain.py").read_text())


def _calls(method: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(CHAIN_SOURCE)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method
    ]


def _member(node: ast.AST) -> object:
    """The vocabulary member an argument names (`ChainStage.BOOKED`), else its source text."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        enum = getattr(vocabulary, node.value.id, None)
        if enum is not None:
            return enum[node.attr]
    return ast.unparse(node)


def test_the_workflow_finishes_only_in_final_stages() -> None:
    finishes = [_member(call.args[0]) for call in _calls("_finish")]
    assert len(finishes) >= 5
    for stage in finishes:
        if stage == "stopped.reason":
            continue  # checked below: a stopped chain ends in its StopReason's stage
        assert isinstance(stage, ChainStage), f"_finish({stage}) is not a ChainStage"
        assert stage in FINAL_STAGES, f"_finish({stage}): crm.services.chain_reopen would not see it as final"
    assert "stopped.reason" in finishes


def test_every_stop_reason_is_a_final_stage() -> None:
    for reason in StopReason:
        assert ChainStage(reason.value) in FINAL_STAGES


def test_waits_and_stage_changes_use_running_stages() -> None:
    stages = [_member(call.args[0]) for call in _calls("_set_stage")]
    stages += [_member(call.args[1]) for call in _calls("_sleep")]
    literal = [s for s in stages if not isinstance(s, ChainStage) and s != "stage"]
    assert literal == [], "stages passed as bare strings"
    assert all(s not in FINAL_STAGES for s in stages if isinstance(s, ChainStage))
    timeline = [_member(call.args[0]) for call in _calls("_timeline") + _calls("_record")]
    assert all(isinstance(s, ChainStage | TimelineStep) or s == "stage" for s in timeline), timeline


@pytest.mark.parametrize("stage", [*StopReason, ChainStage.BOOKED, ChainStage.HANDED_OVER])
def test_chain_reopen_sees_every_final_stage_as_finished(stage) -> None:
    # A person whose chain was stopped because they replied is finished: a new submission is merged (or
    # re-opened by the rule), never forwarded to the ended chain.
    assert chain_reopen.finished_stage(Lead(chain_stage=str(stage))) == stage


@pytest.mark.parametrize("stage", [ChainStage.JOINED, ChainStage.WAITING_FOR_RETRY, ChainStage.NURTURING, None])
def test_running_or_joined_is_not_finished(stage) -> None:
    assert chain_reopen.finished_stage(Lead(chain_stage=stage)) is None


def _decoded(payload: dict) -> object:
    return json.loads(base64.b64decode(payload["data"]))


@pytest.mark.parametrize("history", HISTORIES, ids=lambda p: p.stem)
def test_recorded_histories_speak_the_vocabulary(history: Path) -> None:
    """Stages in LeadStage upserts, timeline stages, activity types and signal names of every recorded
    history are vocabulary members, typed activity references and workflow signal methods."""
    signals = {
        getattr(fn, "__temporal_signal_definition").name
        # Inherited handlers count: the signals are declared on workflows.chain_state.ChainState.
        for fn in (getattr(LeadChainWorkflow, name) for name in dir(LeadChainWorkflow))
        if hasattr(fn, "__temporal_signal_definition")
    }
    activities = {fn.__name__ for fn in activity_refs.CRM_STEPS + activity_refs.PROVIDER_STEPS}
    seen = {"stage": 0, "activity": 0}
    for event in json.loads(history.read_text())["events"]:
        attrs = event.get("upsertWorkflowSearchAttributesEventAttributes")
        if attrs and "LeadStage" in attrs["searchAttributes"]["indexedFields"]:
            ChainStage(_decoded(attrs["searchAttributes"]["indexedFields"]["LeadStage"]))
            seen["stage"] += 1
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if scheduled:
            name = scheduled["activityType"]["name"]
            assert name in activities
            seen["activity"] += 1
            if name == "record_timeline":
                stage = _decoded(scheduled["input"]["payloads"][0])["stage"]
                assert stage in set(ChainStage) | set(TimelineStep), stage
        signalled = event.get("workflowExecutionSignaledEventAttributes")
        if signalled:
            assert signalled["signalName"] in signals
    assert seen["stage"] and seen["activity"]
