"""Where the current company's learned score stands, and why the rule score applies when it does: what the
lead page and the settings page say in words (crm.ui.learned_score)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from crm.extensions import db
from crm.learning import store, training
from crm.learning.labels import OutcomeCounts, count_outcomes
from crm.models import ScoreModel, ScoreTrainingRun

RECENT_RUNS = 10


@dataclass(frozen=True)
class LearnedStatus:
    in_force: ScoreModel | None
    weight: float  # the weight in use: 0 without a model in force
    stored_weight: float | None  # the admin's, None for the default
    # Why the rule score applies alone: None while a model is in force and weighted, else one of
    # "weight_zero", "too_few_closed", "too_few_of_a_class", "holdout_one_class", "not_better", "not_trained_yet"
    reason: str | None
    counts: OutcomeCounts | None
    last_run: ScoreTrainingRun | None
    last_candidate: ScoreModel | None  # the model the last run trained, when it was not promoted
    min_closed: int = training.MIN_CLOSED
    min_each: int = training.MIN_EACH


def recent_runs(limit: int = RECENT_RUNS) -> list[ScoreTrainingRun]:
    return list(
        db.session.scalars(
            sa.select(ScoreTrainingRun)
            .order_by(ScoreTrainingRun.started_at.desc(), ScoreTrainingRun.id.desc())
            .limit(limit)
        )
    )


def model_labels(ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {m.id: m.label for m in db.session.scalars(sa.select(ScoreModel).where(ScoreModel.id.in_(ids)))}


def current() -> LearnedStatus:
    in_force = store.in_force_row()
    stored_weight = store.stored_weight()
    runs = recent_runs(1)
    last_run = runs[0] if runs else None
    if in_force is not None:
        weight = store.weight()
        reason = None if weight > 0 else "weight_zero"
        return LearnedStatus(in_force, weight, stored_weight, reason, None, last_run, None)
    # No model in force: count what there is to learn from now, not at the last run.
    found = count_outcomes()
    candidate = None
    reason = training.shortfall(found)
    if reason is None and last_run is not None and last_run.outcome == "not_enough_data":
        reason = last_run.reason  # e.g. a hold-out of one class
    if reason is None and last_run is not None and last_run.model_id is not None:
        candidate = db.session.get(ScoreModel, last_run.model_id)
        reason = "not_better"
    return LearnedStatus(None, 0.0, stored_weight, reason or "not_trained_yet", found, last_run, candidate)
