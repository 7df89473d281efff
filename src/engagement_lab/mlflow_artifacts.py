"""Saved catalog files → the active MLflow run: a dataset whose metadata names an ``mlflow_artifact`` folder is
logged there right after it is saved (by ``hooks.MlflowArtifactsHook`` after each node, and by the pretraining
``torchrun`` entry point, where no node runs)."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Any

import mlflow

logger = logging.getLogger(__name__)


def log_saved_artifact(catalog: Any, dataset_name: str) -> None:
    """Log the file ``dataset_name`` just saved to the active MLflow run, if its metadata asks."""
    if mlflow.active_run() is None:
        return
    dataset = catalog.get(dataset_name)
    artifact_path = (getattr(dataset, "metadata", None) or {}).get("mlflow_artifact")
    if artifact_path is None:
        return
    if getattr(dataset, "_version", None) is not None:  # the version file just written
        local_path = dataset._get_versioned_path(dataset.resolve_save_version())
    else:
        local_path = dataset._filepath
    mlflow.log_artifact(str(PurePosixPath(local_path)), artifact_path=artifact_path)
    logger.info("Logged %s to MLflow under %s", local_path, artifact_path)
