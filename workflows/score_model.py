"""ScoreModelWorkflow: retrain a company's learned lead score, judge it on the newest outcomes, and promote it
only when it beats both the rule score and the model in force (docs/scoring.md).

Started weekly by the company's Temporal Schedule (workers/score_model.py) with the company's
leadchain-company header, which scopes the activities. Deterministic: the decision is a pure function of
the training step's figures (score_model_payloads.should_promote); the run key is the workflow's own id and
run id, so a retried step finds what it recorded instead of training twice."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.score_model_payloads import (
        FinishModelInput,
        ModelTrained,
        ScoreModelOutcome,
        ScoreModelRequest,
        TrainModelInput,
        should_promote,
    )
    from workflows.score_model_refs import finish_score_model, train_score_model

# Training 100,000 leads takes well under a minute (bench/learned_score.py); the rest is room for a busy host.
TRAIN_TIMEOUT = timedelta(minutes=30)
FINISH_TIMEOUT = timedelta(minutes=2)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=10), maximum_interval=timedelta(minutes=5), maximum_attempts=5)


@workflow.defn(name="ScoreModelWorkflow")
class ScoreModelWorkflow:
    @workflow.run
    async def run(self, request: ScoreModelRequest) -> ScoreModelOutcome:
        info = workflow.info()
        run_key = f"{info.workflow_id}/{info.run_id}"
        trained: ModelTrained = await workflow.execute_activity(
            train_score_model, TrainModelInput(run_key), start_to_close_timeout=TRAIN_TIMEOUT, retry_policy=RETRY
        )
        if trained.outcome != "trained":
            return ScoreModelOutcome(trained.outcome, trained.reason, trained.version, trained.in_force_version)
        promote, reason = should_promote(trained)
        done: ModelTrained = await workflow.execute_activity(
            finish_score_model,
            FinishModelInput(run_key, promote, reason),
            start_to_close_timeout=FINISH_TIMEOUT,
            retry_policy=RETRY,
        )
        return ScoreModelOutcome(done.outcome, done.reason, done.version, done.in_force_version)
