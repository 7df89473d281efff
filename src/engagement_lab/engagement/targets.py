"""The paper's two targets, each fitted on the training split only.

* Engagement score (§4.1): (likes + 2·comments + 3·shares + 3·favorites) / max(views, 1), cut into five
  ordered classes at the 20/40/60/80th percentiles of the training scores.
* Popularity score (§3, Eq. 1): Σ (1 − Cor(V, X))·x over X ∈ {likes, shares, comments, favorites} with
  Pearson correlations measured on the training posts; the regression target is log(1 + score) (the
  paper writes "logarithm"; the 1 keeps posts with no engagement at all finite).

An export that lacks a count altogether (the column is missing for every post, e.g. no share counts)
leaves that term out of both scores, and Eq. 1's weights are fitted on the counts that are there
(``TargetSpec.counts_used`` / ``counts_missing``). Views cannot be left out: both scores are relative to
them. A post missing a count that the export otherwise has gets no target (``data.build_model_input``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

COUNT_COLUMNS = ["views", "likes", "comments", "shares", "favorites"]
SCORE_WEIGHTS = {"likes": 1.0, "comments": 2.0, "shares": 3.0, "favorites": 3.0}
POPULARITY_COUNTS = ["likes", "shares", "comments", "favorites"]
CLASS_NAMES = ["very_low", "low", "medium", "high", "very_high"]
QUANTILES = (0.2, 0.4, 0.6, 0.8)


def counts_present(frame: pd.DataFrame) -> list[str]:
    """The count columns the data has: present in ``frame`` with at least one value (in COUNT_COLUMNS order)."""
    return [col for col in COUNT_COLUMNS if col in frame and frame[col].notna().any()]


def check_counts(counts: Iterable[str]) -> list[str]:
    """Why these counts cannot make the targets (empty when they can): views and one interaction are needed."""
    counts = set(counts)
    problems = []
    if "views" not in counts:
        problems.append("no view counts: both targets are relative to views")
    if not counts & set(SCORE_WEIGHTS):
        problems.append(f"no interaction counts (any of {list(SCORE_WEIGHTS)})")
    return problems


def engagement_score(counts: pd.DataFrame, used: Iterable[str] | None = None) -> pd.Series:
    """(likes + 2·comments + 3·shares + 3·favorites) / max(views, 1); missing wherever a count is missing.

    ``used`` (default: all) names the counts the data has; a term whose count is not used is left out."""
    used = set(COUNT_COLUMNS if used is None else used)
    weighted = sum(weight * counts[col].astype("Float64") for col, weight in SCORE_WEIGHTS.items() if col in used)
    return (weighted / counts["views"].astype("Float64").clip(lower=1)).astype("Float64")


@dataclass(frozen=True)
class TargetSpec:
    """Everything fitted on train that turns counts into labels (saved for the predict pipeline)."""

    thresholds: list[float]  # engagement-score cut points at 20/40/60/80 % of train
    weights: dict[str, float]  # 1 − Pearson(views, x) per count used, on train
    correlations: dict[str, float]
    counts_used: list[str] = field(default_factory=lambda: list(COUNT_COLUMNS))
    counts_missing: list[str] = field(default_factory=list)  # not in the data: left out of both scores

    def to_dict(self) -> dict:
        return asdict(self)


def fit_targets(train_counts: pd.DataFrame, used: Iterable[str] | None = None) -> TargetSpec:
    """Quintile thresholds of the engagement score and Eq. 1's weights, from training rows only.

    ``used`` (default: the counts ``train_counts`` has) are the counts both scores are built from."""
    used = counts_present(train_counts) if used is None else [c for c in COUNT_COLUMNS if c in set(used)]
    if problems := check_counts(used):
        raise ValueError(f"cannot fit the engagement targets: {'; '.join(problems)}")
    if len(train_counts) < 5:
        raise ValueError(f"need at least 5 training posts with every count to fit the targets, got {len(train_counts)}")
    score = engagement_score(train_counts, used).to_numpy(dtype=float)
    thresholds = np.quantile(score, QUANTILES).tolist()
    views = train_counts["views"].to_numpy(dtype=float)
    correlations = {}
    for col in (c for c in POPULARITY_COUNTS if c in used):
        values = train_counts[col].to_numpy(dtype=float)
        both_vary = views.std() > 0 and values.std() > 0
        correlations[col] = float(np.corrcoef(views, values)[0, 1]) if both_vary else 0.0
    weights = {col: 1.0 - r for col, r in correlations.items()}
    missing = [c for c in COUNT_COLUMNS if c not in used]
    return TargetSpec(
        thresholds=[float(t) for t in thresholds],
        weights=weights,
        correlations=correlations,
        counts_used=used,
        counts_missing=missing,
    )


def engagement_class(score: pd.Series | np.ndarray, thresholds: list[float]) -> np.ndarray:
    """Class 0..4: how many thresholds the score exceeds (a score equal to a cut point goes below it)."""
    return np.searchsorted(np.asarray(thresholds, dtype=float), np.asarray(score, dtype=float), side="left")


def popularity_score(counts: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    """Eq. 1: the correlation-weighted sum of likes, shares, comments and favorites (those ``weights`` has)."""
    return sum(weights[col] * counts[col].astype("Float64") for col in POPULARITY_COUNTS if col in weights).astype(
        "Float64"
    )


def log_popularity(score: pd.Series) -> pd.Series:
    """The regression target: log(1 + popularity score)."""
    return np.log1p(score.astype(float).clip(lower=0.0))
