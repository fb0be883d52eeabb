"""The learned part of one lead's score, as score_lead blends it (docs/scoring.md "Blend").

final = (1 - w) * rule + w * 100 * p_win, rounded and clamped to 0..100, with w the company's weight
(crm.learning.store.weight). No model in force, or w = 0: nothing here, and the rule score is the score,
exactly as before the learned score existed. Five small queries and a dot product; no scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm.learning import store
from crm.learning.model import explain
from crm.learning.signals import read_signals

SHOWN_CONTRIBUTIONS = 8  # the largest effects the lead page lists


@dataclass(frozen=True)
class Learned:
    label: str  # "learned-v3": what the score records as its model version
    p_win: float
    weight: float
    contributions: list[tuple[str, float]]  # (feature family, log-odds), largest effect first
    shown: dict[str, str]  # the lead's own value per family

    def value(self, rule_value: int) -> int:
        return max(0, min(100, round((1.0 - self.weight) * rule_value + self.weight * 100.0 * self.p_win)))

    def breakdown(self, rule_value: int, rules_version: str) -> dict[str, Any]:
        """What ScoreHistory.breakdown keeps under "learned": enough for the lead page to explain the score."""
        return {
            "model": self.label,
            "p_win": round(self.p_win, 4),
            "weight": self.weight,
            "rule_score": rule_value,
            "rules_version": rules_version,
            "contributions": [[name, round(c, 4)] for name, c in self.contributions[:SHOWN_CONTRIBUTIONS]],
            "shown": {name: self.shown.get(name, "") for name, _ in self.contributions[:SHOWN_CONTRIBUTIONS]},
        }


def for_lead(lead_id: int) -> Learned | None:
    """The model in force's view of the lead, or None when the rule score alone applies."""
    row = store.in_force_row()
    if row is None:
        return None
    weight = store.weight()
    if weight <= 0.0:
        return None
    signals = read_signals([lead_id]).get(lead_id)
    if signals is None:
        return None
    explained = explain(store.to_stored(row), signals)
    return Learned(row.label, explained.p_win, weight, explained.contributions, explained.shown)
