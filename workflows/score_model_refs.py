"""Typed references to the score-model activities (activities/score_model_activities.py), for
`workflow.execute_activity`: the registered name, input and result types, never run (see
workflows/activity_refs.py for why stubs)."""

from __future__ import annotations

from temporalio import activity

from workflows.score_model_payloads import FinishModelInput, ModelTrained, TrainModelInput


def _stub() -> NotImplementedError:
    return NotImplementedError("a typed reference for workflow.execute_activity; the worker runs the real one")


@activity.defn(name="train_score_model")
async def train_score_model(inp: TrainModelInput) -> ModelTrained:
    raise _stub()


@activity.defn(name="finish_score_model")
async def finish_score_model(inp: FinishModelInput) -> ModelTrained:
    raise _stub()


SCORE_MODEL_STEPS = (train_score_model, finish_score_model)
