"""Hold-out figures: AUC (ranking), Brier score and expected calibration error (how honest p_win is)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score

CALIBRATION_BINS = 10


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a won lead ranks above a lost one (ties count half)."""
    return float(roc_auc_score(y, score))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probabilities (0 is perfect; always saying the base rate scores r(1-r))."""
    return float(brier_score_loss(y, p))


def ece(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error over equal-width bins: per bin |mean p - share won|, weighted by the bin's rows."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(float(p[inside].mean()) - float(y[inside].mean()))
    return float(total / len(y))
