"""Saved catalog entries → the active MLflow run, by their catalog metadata (``hooks.MlflowArtifactsHook`` after
each node, and the pretraining ``torchrun`` entry point, where no node runs):

* ``mlflow_artifact: <folder>``: the file just written is logged as an artifact in that folder;
* ``mlflow_curves: <prefix>``: a training history (rows with an ``epoch``; ``{"runs": {seed: {"history": rows}}}``;
  or ``{model: {"history": rows}}``) is logged as per-epoch metrics ``<prefix>[.seed<k>|.<model>].<metric>``;
* ``results_contract: <pipeline>``: the contract's counts and split sizes are set as tags (``contract_tags``).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import PurePosixPath
from typing import Any

import mlflow
from mlflow.entities import Metric

from engagement_lab.core.results import contract_tags

logger = logging.getLogger(__name__)


def log_saved_artifact(catalog: Any, dataset_name: str) -> None:
    """Log the file ``dataset_name`` just saved to the active MLflow run, if its metadata asks."""
    if mlflow.active_run() is None:
        return
    artifact_path = _metadata(catalog, dataset_name).get("mlflow_artifact")
    if artifact_path is None:
        return
    dataset = catalog.get(dataset_name)
    if getattr(dataset, "_version", None) is not None:  # the version file just written
        local_path = dataset._get_versioned_path(dataset.resolve_save_version())
    else:
        local_path = dataset._filepath
    mlflow.log_artifact(str(PurePosixPath(local_path)), artifact_path=artifact_path)
    logger.info("Logged %s to MLflow under %s", local_path, artifact_path)


def epoch_curves(data: Any) -> dict[str, list[tuple[int, float]]]:
    """Per-epoch curves of a saved history: ``{"<sub>.<metric>": [(epoch, value), ...]}`` (``sub`` empty for a
    plain list of rows, ``seed<k>`` per training seed, or the model's name)."""
    if isinstance(data, list):
        groups = {"": data}
    elif isinstance(data, dict) and isinstance(data.get("runs"), dict):
        groups = {
            f"seed{seed}": run.get("history", []) if isinstance(run, dict) else run
            for seed, run in data["runs"].items()
        }
    elif isinstance(data, dict):
        groups = {
            model: card["history"] for model, card in data.items() if isinstance(card, dict) and "history" in card
        }
    else:
        groups = {}
    curves: dict[str, list[tuple[int, float]]] = {}
    for sub, rows in groups.items():
        for row in rows or []:
            if not isinstance(row, dict) or "epoch" not in row:
                continue
            for metric, value in row.items():
                if metric != "epoch" and isinstance(value, int | float) and math.isfinite(value):
                    key = f"{sub}.{metric}" if sub else metric
                    curves.setdefault(key, []).append((int(row["epoch"]), float(value)))
    return curves


def log_saved_curves(catalog: Any, dataset_name: str, data: Any) -> None:
    """Log a saved training history as per-epoch metrics of the active run, if its metadata asks."""
    run = mlflow.active_run()
    prefix = _metadata(catalog, dataset_name).get("mlflow_curves")
    if run is None or prefix is None:
        return
    now = int(time.time() * 1000)
    metrics = [
        Metric(f"{prefix}.{key}", value, now, step)
        for key, points in epoch_curves(data).items()
        for step, value in points
    ]
    client = mlflow.MlflowClient()
    for start in range(0, len(metrics), 1000):  # MLflow's batch limit
        client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
    logger.info("Logged %d per-epoch points of %s to MLflow under %s", len(metrics), dataset_name, prefix)


def log_contract_tags(catalog: Any, dataset_name: str, data: Any) -> None:
    """Set a results contract's counts and split sizes as tags of the active run."""
    if mlflow.active_run() is None or not _metadata(catalog, dataset_name).get("results_contract"):
        return
    if isinstance(data, dict) and "models" in data:
        mlflow.set_tags(contract_tags(data))


def _metadata(catalog: Any, dataset_name: str) -> dict[str, Any]:
    return getattr(catalog.get(dataset_name), "metadata", None) or {}


# Per pipeline, the parameters that tell two runs apart when nobody overrode anything (``--params`` overrides are
# always named): the world's seed and preset, the sources read, each pipeline's seed(s).
KEY_PARAMETERS = {
    "sample_world": ("preset", "seed"),
    "ingestion": ("sources",),
    "engagement_clustering": ("seed",),
    "pretraining": ("config.seed",),
    "transfer_evaluation": ("seed",),
    "user_environment": ("seed",),
    "dual_attention": ("seeds",),
    "engagement": ("seed",),
    "ppcl": ("seeds",),
}


def run_name(pipelines: list[str], runtime_params: dict[str, Any], parameters: dict[str, Any], env: str | None) -> str:
    """A run name a person can tell apart in the runs list: the pipeline(s), every ``--params`` override, the
    key parameters of the pipelines run (``demo`` and the default run: the world's), and a non-default env."""
    names = pipelines or ["__default__"]
    overrides = _flatten(runtime_params)
    own = f"{names[0]}." if len(names) == 1 else None  # `sample_world seed=7`, not `sample_world.seed=7`
    settings = [(key.removeprefix(own) if own else key, _short(value)) for key, value in overrides.items()]
    keyed = ("sample_world",) if set(names) & {"demo", "__default__"} else names
    flat = _flatten(parameters)
    for pipeline in keyed:
        for key in KEY_PARAMETERS.get(pipeline, ()):
            full = f"{pipeline}.{key}"
            value = flat.get(full)
            if full not in overrides and value is not None:
                settings.append((full if len(keyed) > 1 or pipeline != names[0] else key, _short(value)))
    if env and env not in ("local", "base"):
        settings.append(("env", env))
    # Seeds first: the runs list shows a name's first ~25 characters, and the seed is what most often differs.
    settings.sort(key=lambda item: not item[0].rsplit(".", 1)[-1].startswith("seed"))
    return " ".join(["+".join(names), *(f"{key}={value}" for key, value in settings)])[:250]


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in (values or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def _short(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)
