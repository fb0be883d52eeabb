"""One training run of the current company, in two steps the weekly workflow calls (docs/scoring.md):

1. `train(run_key)`: read every lead's signals and outcome, check the minimum, fit a candidate on the older
   outcomes and judge it on the newest against the rule score and the model in force; store the candidate
   and the run. A retried step finds its run by `run_key` and answers what it recorded.
2. `finish(run_key, promote, reason)`: promote the candidate (retiring the model it replaces) or keep what
   is in force, and record why. The workflow decides (workflows/score_model_payloads.should_promote).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from crm.extensions import db
from crm.learning import store, training
from crm.learning.labels import OutcomeCounts, read_outcomes
from crm.learning.labels import counts as outcome_counts
from crm.learning.rule_baseline import rule_score
from crm.learning.signals import read_signals
from crm.models import ScoreModel, ScoreTrainingRun
from crm.models.types import utcnow
from crm.services.scoring import ScoringRules, rules_in_force
from crm.tenancy.context import require_company_id

ACTOR = "score-model"


@dataclass(frozen=True)
class RunReport:
    outcome: str  # "not_enough_data" | "trained" | "promoted" | "kept"
    reason: str | None
    counts: OutcomeCounts
    model_id: int | None = None
    version: int | None = None
    metrics: dict | None = None
    in_force_version: int | None = None


def examples(rules: ScoringRules) -> list[training.Example]:
    signals = read_signals()
    return [
        training.Example(signals[lead_id], outcome, rule_score(signals[lead_id], rules))
        for lead_id, outcome in sorted(read_outcomes().items())
        if lead_id in signals
    ]


def _run(run_key: str) -> ScoreTrainingRun | None:
    return db.session.scalars(sa.select(ScoreTrainingRun).where(ScoreTrainingRun.run_key == run_key)).first()


def _report(run: ScoreTrainingRun) -> RunReport:
    model = db.session.get(ScoreModel, run.model_id) if run.model_id is not None else None
    in_force = store.in_force_row()
    return RunReport(
        outcome=run.outcome,
        reason=run.reason,
        counts=OutcomeCounts(run.closed_rows, run.won_rows, run.lost_rows),
        model_id=model.id if model else None,
        version=model.version if model else None,
        metrics=dict(model.metrics) if model else None,
        in_force_version=in_force.version if in_force is not None else None,
    )


def train(run_key: str, rules: ScoringRules | None = None) -> RunReport:
    """Step 1 (commits)."""
    found = _run(run_key)
    if found is not None and found.outcome != "training":
        return _report(found)
    rules = rules or rules_in_force()
    run = found or ScoreTrainingRun(company_id=require_company_id(), run_key=run_key, started_at=utcnow())
    in_force_row = store.in_force_row()
    rows = examples(rules)
    counts = outcome_counts(e.outcome for e in rows)
    result = training.train(
        rows,
        rules.freemail_domains,
        in_force=store.to_stored(in_force_row) if in_force_row is not None else None,
        version=store.next_version(),
    )
    if isinstance(result, training.NotEnoughData):
        run.outcome, run.reason, run.finished_at = "not_enough_data", result.reason, utcnow()
    else:
        ev = result.evaluation
        metrics = {**ev.as_dict(), "in_force_version": in_force_row.version if in_force_row is not None else None}
        row = store.save_candidate(result.model, metrics, ev.train_rows, ev.holdout_rows, ev.trained_until)
        run.outcome, run.model_id = "trained", row.id
    run.closed_rows, run.won_rows, run.lost_rows = counts.closed, counts.won, counts.lost
    db.session.add(run)
    db.session.commit()
    return _report(run)


def finish(run_key: str, promote: bool, reason: str) -> RunReport:
    """Step 2 (commits): promote or keep, and record why. Repeating it changes nothing."""
    run = _run(run_key)
    if run is None:
        raise LookupError(f"no training run {run_key!r}")
    if run.outcome == "trained" and run.model_id is not None:
        model = db.session.get(ScoreModel, run.model_id)
        if promote and model is not None:
            store.promote(model, ACTOR)
        run.outcome = "promoted" if promote and model is not None else "kept"
        run.reason, run.finished_at = reason[:200], utcnow()
        db.session.commit()
    return _report(run)
