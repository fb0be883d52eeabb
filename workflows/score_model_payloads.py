"""Payloads of the weekly score-model workflow (docs/scoring.md): ids, counts and figures, nothing personal.

The promotion rule lives here, pure, so the workflow applies it deterministically from the figures the
training step returns."""

from __future__ import annotations

from dataclasses import dataclass

SCORE_MODEL_TASK_QUEUE = "leadchain-score-model"


@dataclass
class ScoreModelRequest:
    """A schedule's (or an operator's) run for one company (the header scopes the activities to it)."""

    company_id: int


@dataclass
class TrainModelInput:
    # The workflow's id and run id: a retried step finds the run it recorded.
    run_key: str


@dataclass
class ModelTrained:
    run_key: str
    outcome: str  # "not_enough_data" | "trained" (| "promoted" | "kept" when the run was already finished)
    reason: str | None
    closed: int
    won: int
    lost: int
    model_id: int | None = None
    version: int | None = None
    auc: float | None = None
    brier: float | None = None
    ece: float | None = None
    rule_auc: float | None = None
    in_force_auc: float | None = None
    in_force_version: int | None = None


@dataclass
class FinishModelInput:
    run_key: str
    promote: bool
    reason: str


@dataclass
class ScoreModelOutcome:
    outcome: str  # "not_enough_data" | "promoted" | "kept"
    reason: str | None
    version: int | None
    in_force_version: int | None


def should_promote(trained: ModelTrained) -> tuple[bool, str]:
    """Promote a candidate only when its hold-out AUC beats both the rule score's and the model in force's
    on the same hold-out (strictly: a tie keeps what is in force)."""
    if trained.model_id is None or trained.auc is None or trained.rule_auc is None:
        return False, "no candidate"
    if trained.auc <= trained.rule_auc:
        return False, f"AUC {trained.auc:.3f} does not beat the rule score's {trained.rule_auc:.3f}"
    if trained.in_force_auc is not None and trained.auc <= trained.in_force_auc:
        return False, f"AUC {trained.auc:.3f} does not beat the model in force's {trained.in_force_auc:.3f}"
    rival = max(trained.rule_auc, trained.in_force_auc or 0.0)
    return True, f"AUC {trained.auc:.3f} beats {rival:.3f}"
