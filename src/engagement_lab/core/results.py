"""The results contract every modelling pipeline writes (see docs/design.md, "Results contract").

``data/08_reporting/<pipeline>/metrics.json`` (a versioned JSON catalog entry) holds
``{"pipeline", "dataset", "split_sizes", "seed", "models": {model: {metric: value}}, "oracle"}``
and the same numbers go to MLflow as ``<pipeline>.<model>.<metric>`` through a
``MlflowMetricsHistoryDataset`` whose ``prefix`` is the pipeline name. The reporting
pipeline and any dashboard read only this.
"""

from __future__ import annotations

import math
import re
from typing import Any

_NAME = re.compile(r"^[a-z0-9_]+$")


def _check_name(kind: str, name: str) -> None:
    # MLflow metric keys are dotted paths: a dot or space inside a model name would split it.
    if not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r} must be lower-case letters, digits and underscores")


def results_contract(
    pipeline: str,
    dataset: str,
    split_sizes: dict[str, int],
    seed: int | list[int],
    models: dict[str, dict[str, float]],
    oracle: dict[str, float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build the contract dict, checking names and turning numpy scalars into plain floats.

    ``extra`` holds pipeline-specific context (e.g. ``stds`` or ``notes``) and is kept as is."""
    _check_name("pipeline", pipeline)
    clean: dict[str, dict[str, float]] = {}
    for model, metrics in models.items():
        _check_name("model", model)
        for metric in metrics:
            _check_name("metric", metric)
        clean[model] = {metric: float(value) for metric, value in metrics.items()}
    return {
        "pipeline": pipeline,
        "dataset": dataset,
        "split_sizes": {name: int(size) for name, size in split_sizes.items()},
        "seed": seed,
        "models": clean,
        "oracle": {metric: float(value) for metric, value in (oracle or {}).items()},
        **extra,
    }


# Numbers in a contract's model rows that count or configure rather than measure: MLflow gets them as tags
# (``contract_tags``), so the runs list compares scores as metrics and settings as settings.
COUNT_FIELDS = frozenset({"seeds", "train_posts", "best_epoch", "best_iteration", "n_features", "epochs_run"})


def contract_metrics(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The contract's scores in MlflowMetricsHistoryDataset form: ``<model>.<metric>``.

    The catalog entry's ``prefix`` (the pipeline name) completes the key; the oracle is logged
    as the model ``oracle``. Non-finite values are skipped: MLflow rejects NaN in some stores. Counts
    (``COUNT_FIELDS``) are left to :func:`contract_tags`."""
    rows = {**results["models"], "oracle": results.get("oracle", {})}
    return {
        f"{model}.{metric}": {"value": float(value), "step": 0}
        for model, metrics in rows.items()
        for metric, value in metrics.items()
        if metric not in COUNT_FIELDS and math.isfinite(float(value))
    }


def contract_tags(results: dict[str, Any]) -> dict[str, str]:
    """The contract's counts and settings as MLflow tags: ``<pipeline>.<model>.<count>`` for each model's
    ``COUNT_FIELDS``, ``<pipeline>.split.<name>`` for the split sizes, ``<pipeline>.seed`` and ``.dataset``."""
    pipeline = results["pipeline"]
    tags = {f"{pipeline}.seed": str(results.get("seed")), f"{pipeline}.dataset": str(results.get("dataset", ""))}
    tags |= {f"{pipeline}.split.{name}": str(size) for name, size in results.get("split_sizes", {}).items()}
    for model, metrics in results.get("models", {}).items():
        for field in COUNT_FIELDS & set(metrics):
            value = float(metrics[field])
            tags[f"{pipeline}.{model}.{field}"] = str(int(value)) if value.is_integer() else str(value)
    return {key: value[:5000] for key, value in tags.items()}
