"""Fit and judge a candidate model (docs/scoring.md "Training", "Hold-out", "Minimum data").

The closed outcomes are ordered by when they were decided; the oldest three quarters train, the newest
quarter is the hold-out: the model is judged on leads decided after everything it learned from, as it
will be used. A regularised logistic regression (L2, C below) on standardised features; the stored model
is the one fitted on the training part, exactly the one the figures describe.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sklearn.linear_model import LogisticRegression

from crm.learning import features, metrics
from crm.learning.labels import Outcome, OutcomeCounts, counts
from crm.learning.model import StoredModel
from crm.learning.signals import LeadSignals

MIN_CLOSED = 50  # closed outcomes (won + lost) before a model is trained at all
MIN_EACH = 10  # of each class: a hold-out needs both to rank
HOLDOUT_SHARE = 0.25
C = 1.0  # inverse L2 strength on standardised features: coefficients shrink toward 0 without evidence


@dataclass(frozen=True)
class Example:
    signals: LeadSignals
    outcome: Outcome
    rule_score: int  # the rule score of the same signals (crm.learning.rule_baseline)


@dataclass(frozen=True)
class Evaluation:
    auc: float
    brier: float
    ece: float
    rule_auc: float
    in_force_auc: float | None
    base_rate: float  # share won in the hold-out
    train_rows: int
    holdout_rows: int
    trained_until: datetime

    def as_dict(self) -> dict[str, float | None]:
        return {
            "auc": self.auc,
            "brier": self.brier,
            "ece": self.ece,
            "rule_auc": self.rule_auc,
            "in_force_auc": self.in_force_auc,
            "base_rate": self.base_rate,
        }


@dataclass(frozen=True)
class Trained:
    model: StoredModel
    evaluation: Evaluation


@dataclass(frozen=True)
class NotEnoughData:
    reason: str  # "too_few_closed" | "too_few_of_a_class" | "holdout_one_class"
    counts: OutcomeCounts


def shortfall(found: OutcomeCounts) -> str | None:
    """Why these outcomes are too few to train on, or None."""
    if found.closed < MIN_CLOSED:
        return "too_few_closed"
    if min(found.won, found.lost) < MIN_EACH:
        return "too_few_of_a_class"
    return None


def split(examples: Iterable[Example]) -> tuple[list[Example], list[Example]]:
    """(older, newest HOLDOUT_SHARE) by decision time; the lead id breaks ties so the cut is reproducible."""
    ordered = sorted(examples, key=lambda e: (e.outcome.at, e.signals.lead_id))
    cut = len(ordered) - math.ceil(len(ordered) * HOLDOUT_SHARE)
    return ordered[:cut], ordered[cut:]


def matrix(names: Sequence[str], spec: dict, rows: Sequence[Example]) -> np.ndarray:
    return np.array([features.vector(names, spec, e.signals) for e in rows], dtype=float).reshape(len(rows), -1)


def labels(rows: Sequence[Example]) -> np.ndarray:
    return np.array([1 if e.outcome.won else 0 for e in rows], dtype=int)


def fit(rows: Sequence[Example], freemail: Iterable[str], version: int = 0) -> StoredModel:
    spec = features.build_spec((e.signals for e in rows), freemail)
    names = features.feature_names(spec)
    x = matrix(names, spec, rows)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant feature: its coefficient is 0 whatever it is divided by
    lr = LogisticRegression(C=C, max_iter=2000)
    lr.fit((x - mean) / scale, labels(rows))
    return StoredModel(
        version=version,
        feature_names=names,
        mean=[float(v) for v in mean],
        scale=[float(v) for v in scale],
        coef=[float(v) for v in lr.coef_[0]],
        intercept=float(lr.intercept_[0]),
        spec=spec,
    )


def predict(model: StoredModel, rows: Sequence[Example]) -> np.ndarray:
    """p_win of each row, vectorised (the same arithmetic as StoredModel.p_win)."""
    x = matrix(model.feature_names, model.spec, rows)
    z = model.intercept + ((x - np.array(model.mean)) / np.array(model.scale)) @ np.array(model.coef)
    return 1.0 / (1.0 + np.exp(-z))


def train(
    examples: Sequence[Example], freemail: Iterable[str], *, in_force: StoredModel | None = None, version: int = 0
) -> Trained | NotEnoughData:
    """Check the minimum, split by time, fit on the older part, judge on the newest against the rule score
    and the model in force."""
    found = counts(e.outcome for e in examples)
    if (reason := shortfall(found)) is not None:
        return NotEnoughData(reason, found)
    older, newest = split(examples)
    y = labels(newest)
    if y.min() == y.max() or labels(older).min() == labels(older).max():
        return NotEnoughData("holdout_one_class", found)
    model = fit(older, freemail, version)
    p = predict(model, newest)
    evaluation = Evaluation(
        auc=metrics.auc(y, p),
        brier=metrics.brier(y, p),
        ece=metrics.ece(y, p),
        rule_auc=metrics.auc(y, np.array([e.rule_score for e in newest], dtype=float)),
        in_force_auc=metrics.auc(y, predict(in_force, newest)) if in_force is not None else None,
        base_rate=float(y.mean()),
        train_rows=len(older),
        holdout_rows=len(newest),
        trained_until=older[-1].outcome.at,
    )
    return Trained(model, evaluation)
