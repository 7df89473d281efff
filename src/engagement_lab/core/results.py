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


def contract_metrics(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The contract's numbers in MlflowMetricsHistoryDataset form: ``<model>.<metric>``.

    The catalog entry's ``prefix`` (the pipeline name) completes the key; the oracle is logged
    as the model ``oracle``. Non-finite values are skipped: MLflow rejects NaN in some stores."""
    rows = {**results["models"], "oracle": results.get("oracle", {})}
    return {
        f"{model}.{metric}": {"value": float(value), "step": 0}
        for model, metrics in rows.items()
        for metric, value in metrics.items()
        if math.isfinite(float(value))
    }
