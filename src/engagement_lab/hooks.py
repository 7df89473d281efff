"""Project hooks."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog

logger = logging.getLogger(__name__)


class MlflowArtifactsHook:
    """Log a dataset's file to the active MLflow run after it is saved, when its catalog entry
    says ``metadata: {mlflow_artifact: <artifact folder>}``.

    kedro-mlflow's ``MlflowArtifactDataset`` wrapper does the same, but its inner dataset draws
    its own save version, which clashes with the run's when the inner dataset is versioned; this
    keeps Kedro's versioning as it is and logs the exact version file that was written."""

    def __init__(self) -> None:
        self._catalog: DataCatalog | None = None

    @hook_impl
    def after_catalog_created(self, catalog: DataCatalog) -> None:
        self._catalog = catalog

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        if self._catalog is not None:
            log_saved_artifact(self._catalog, dataset_name)


def log_saved_artifact(catalog: DataCatalog, dataset_name: str) -> None:
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
