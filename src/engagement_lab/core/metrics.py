"""Tables 1–2 and §5.3's metrics: accuracy, macro/weighted F1; R², MAE and Spearman (SRC)."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, prefix: str = "test") -> dict[str, float]:
    labels = list(range(5))
    return {
        f"{prefix}_accuracy": float(accuracy_score(y_true, y_pred)),
        f"{prefix}_macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        f"{prefix}_weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, prefix: str = "test") -> dict[str, float]:
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    constant = np.ptp(y_pred) == 0
    src = 0.0 if constant else float(spearmanr(y_true, y_pred).statistic)
    return {
        f"{prefix}_r2": float(r2_score(y_true, y_pred)),
        f"{prefix}_mae": float(mean_absolute_error(y_true, y_pred)),
        f"{prefix}_src": src,
    }
