"""The score-model steps (crm.learning.retrain) inside the worker's Flask app, scoped to the run's company by
its leadchain-company header. Training is CPU-bound synchronous work: the worker runs it in a thread pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from temporalio import activity

from crm.learning import retrain
from workflows.score_model_payloads import FinishModelInput, ModelTrained, TrainModelInput


def _payload(run_key: str, report: retrain.RunReport) -> ModelTrained:
    m = report.metrics or {}
    return ModelTrained(
        run_key=run_key,
        outcome=report.outcome,
        reason=report.reason,
        closed=report.counts.closed,
        won=report.counts.won,
        lost=report.counts.lost,
        model_id=report.model_id,
        version=report.version,
        auc=m.get("auc"),
        brier=m.get("brier"),
        ece=m.get("ece"),
        rule_auc=m.get("rule_auc"),
        in_force_auc=m.get("in_force_auc"),
        in_force_version=report.in_force_version,
    )


class ScoreModelActivities:
    def __init__(self, app: Flask) -> None:
        self.app = app

    @activity.defn(name="train_score_model")
    def train_score_model(self, inp: TrainModelInput) -> ModelTrained:
        with self.app.app_context():
            return _payload(inp.run_key, retrain.train(inp.run_key))

    @activity.defn(name="finish_score_model")
    def finish_score_model(self, inp: FinishModelInput) -> ModelTrained:
        with self.app.app_context():
            return _payload(inp.run_key, retrain.finish(inp.run_key, inp.promote, inp.reason))

    def all(self) -> list[Callable[..., Any]]:
        return [self.train_score_model, self.finish_score_model]
