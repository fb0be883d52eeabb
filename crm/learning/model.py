"""A stored model, and what it says about one lead: pure python over the JSON the models table holds.

p_win = sigmoid(intercept + sum_j coef_j * (x_j - mean_j) / scale_j). The term of feature j is its
contribution: how far the lead's value moves the log-odds from an average lead's. The terms plus the
intercept are the log-odds, so the explanation adds up to the prediction. No numpy or scikit-learn here:
scoring one lead is a dot product over a few dozen numbers (docs/scoring.md "Speed").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from crm.learning import features
from crm.learning.signals import LeadSignals


@dataclass(frozen=True)
class StoredModel:
    version: int
    feature_names: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"learned-v{self.version}"

    def terms(self, x: list[float]) -> list[float]:
        return [c * (v - m) / s for c, v, m, s in zip(self.coef, x, self.mean, self.scale, strict=True)]

    def logit(self, x: list[float]) -> float:
        return self.intercept + sum(self.terms(x))

    def p_win(self, s: LeadSignals) -> float:
        return sigmoid(self.logit(features.vector(self.feature_names, self.spec, s)))


@dataclass(frozen=True)
class Explained:
    p_win: float
    # (family, summed contribution in log-odds), largest effect first
    contributions: list[tuple[str, float]]
    # the lead's own value of each family, for display ("partner", "35 min", ...)
    shown: dict[str, str]


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def explain(model: StoredModel, s: LeadSignals) -> Explained:
    """The prediction with each feature family's contribution (one-hot members summed)."""
    x = features.vector(model.feature_names, model.spec, s)
    terms = model.terms(x)
    by_family: dict[str, float] = {}
    for name, term in zip(model.feature_names, terms, strict=True):
        key = features.family(name)
        by_family[key] = by_family.get(key, 0.0) + term
    ordered = sorted(by_family.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    return Explained(sigmoid(model.intercept + sum(terms)), ordered, _shown(model, s))


def _shown(model: StoredModel, s: LeadSignals) -> dict[str, str]:
    found = features.values(model.spec, s)
    shown = {fact: features.category(s, fact) for fact in features.CATEGORICAL}
    shown.update({flag: "yes" if found.get(flag) else "no" for flag in features.FLAGS})
    shown["email_opens"], shown["email_clicks"] = str(s.opens), str(s.clicks)
    shown["calls"] = ", ".join(s.call_outcomes) or "-"
    shown["sentiment"] = ", ".join(s.sentiments) or "-"
    shown["response_time"] = f"{round(s.first_call_minutes)}" if s.first_call_minutes is not None else "-"
    shown["not_called"] = "yes" if s.first_call_minutes is None else "no"
    shown["weekday"] = next((n.split("=")[1] for n in found if n.startswith("weekday=")), "-")
    return shown


def from_json(version: int, names: list[str], scaling: dict, coef: list, intercept: float, spec: dict) -> StoredModel:
    """A model from the stored columns (crm.models.ScoreModel), checked for consistent lengths."""
    mean, scale = [float(v) for v in scaling["mean"]], [float(v) for v in scaling["scale"]]
    if not (len(names) == len(mean) == len(scale) == len(coef)):
        raise ValueError("a stored model's feature names, scaling and coefficients differ in length")
    if names != features.feature_names(spec):
        raise ValueError("a stored model's feature names do not follow from its spec")
    return StoredModel(version, list(names), mean, scale, [float(c) for c in coef], float(intercept), spec)
