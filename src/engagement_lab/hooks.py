"""Project hooks."""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog

from engagement_lab.datasets import NotRunDataset

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


class MissingModelError(RuntimeError):
    """A pipeline reads a trained model that no run has saved yet."""


def missing_models(catalog: DataCatalog, pipeline: Any) -> list[str]:
    """One line per free input of ``pipeline`` in the ``models`` layer that does not exist yet: the
    catalog entry, its file, and the project pipeline(s) that write it."""
    missing = []
    for name in sorted(pipeline.inputs()):
        if name.startswith("params:") or name == "parameters":
            continue
        layer = ((getattr(catalog.get(name), "metadata", None) or {}).get("kedro-viz") or {}).get("layer")
        if layer == "models" and not catalog.exists(name):
            missing.append(name)
    makers = _producers(missing) if missing else {}  # builds every pipeline: only when a model is missing
    lines = []
    for name in missing:
        run = " or ".join(f"`kedro run --pipelines={m}`" for m in makers[name]) or "the pipeline that writes it"
        lines.append(f"{name} ({getattr(catalog.get(name), '_filepath', None)}) does not exist: run {run} first")
    return lines


class ReportingInputsHook:
    """Before a run that includes the ``reporting`` nodes (tag ``reporting``), check that the results and
    models they read exist. A missing one means its pipeline has not run: with ``reporting.on_missing: error``
    the run stops at once with one message naming every missing dataset and the pipeline that writes it;
    with ``not_run`` (the default) the report gets a "not run" section and the figures say so.

    Only *free* inputs are checked: in ``kedro run`` (the default pipeline) they are produced upstream."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: DataCatalog) -> None:
        from engagement_lab.pipelines.reporting.pipeline import CONTRACTS, TAG
        from engagement_lab.reporting.tables import not_run

        needed: set[str] = set()
        for node in pipeline.nodes:
            if TAG in node.tags:
                needed |= {name for name in node.inputs if not name.startswith("params:") and name != "parameters"}
        needed &= pipeline.inputs()
        missing = sorted(name for name in needed if not catalog.exists(name))
        if not missing:
            return
        producers = {name: makers[0] if makers else None for name, makers in _producers(missing).items()}
        on_missing = (catalog.load("params:reporting") or {}).get("on_missing", "not_run")
        listing = "; ".join(f"{name} (written by `kedro run --pipelines={producers[name] or '?'}`)" for name in missing)
        if on_missing == "error":
            raise MissingResultsError(
                f"reporting needs results that do not exist yet: {listing}. Run those pipelines first, "
                "or set reporting.on_missing: not_run to report them as not run."
            )
        logger.warning("reporting: not run yet, reported as such: %s", listing)
        sections = {dataset: section for section, dataset in CONTRACTS.items()}
        quiet = logging.getLogger("kedro.io.data_catalog")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # "Replacing dataset" once per stand-in: the warning above says it all
        for name in missing:
            value = not_run(sections[name], producers[name], f"{name} does not exist") if name in sections else None
            catalog[name] = NotRunDataset(value)
        quiet.setLevel(level)


class MissingResultsError(RuntimeError):
    """A pipeline whose results the report needs has not run."""


def _producers(names: list[str]) -> dict[str, list[str]]:
    """The project pipelines that write each dataset, by name (reporting only reads results). Built afresh
    from ``engagement_lab.pipelines``: during ``kedro run --pipelines=x`` Kedro's registry holds only x."""
    from engagement_lab.pipelines.demo import project_pipelines

    outputs = {name: pipeline.all_outputs() for name, pipeline in project_pipelines().items() if name != "reporting"}
    return {name: sorted(p for p, written in outputs.items() if name in written) for name in names}


class MissingModelsHook:
    """Before a run starts, name every trained model it reads that is missing and the pipeline that makes it,
    instead of a dataset load error midway through the run."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: DataCatalog) -> None:
        if lines := missing_models(catalog, pipeline):
            raise MissingModelError("This run needs trained models that do not exist yet:\n  " + "\n  ".join(lines))


class RawDataError(RuntimeError):
    """A run would write into a user's raw data folder."""


def _local_path(dataset: Any) -> Path | None:
    """Where a file-backed dataset lives on this machine (``None`` for memory, MLflow or remote datasets)."""
    location = getattr(dataset, "_filepath", None) or getattr(dataset, "_path", None)
    if location is None or "://" in str(location) and not str(location).startswith("file://"):
        return None
    return Path(str(location).removeprefix("file://")).resolve()


def raw_folder_paths(catalog: DataCatalog, names: set[str]) -> dict[str, Path]:
    """The local folder of every read-only raw dataset among ``names`` and ``raw_<folder>``."""
    from engagement_lab.datasets import RawFolderDataset, SampleWorldFolderDataset
    from engagement_lab.pipelines.demo import RAW_FOLDERS

    paths = {}
    for name in sorted(names | {f"raw_{folder}" for folder in RAW_FOLDERS}):
        if name.startswith("params:") or name == "parameters":
            continue
        dataset = catalog.get(name)
        if isinstance(dataset, RawFolderDataset) and not isinstance(dataset, SampleWorldFolderDataset):
            if (path := _local_path(dataset)) is not None:
                paths[name] = path
    return paths


def writes_into_raw_data(catalog: DataCatalog, pipeline: Any) -> list[str]:
    """One line per output of ``pipeline`` whose file lies inside (or contains) a raw data folder."""
    raw = raw_folder_paths(catalog, set(pipeline.inputs()))
    clashes = []
    for name in sorted(pipeline.all_outputs()):
        path = _local_path(catalog.get(name))
        for raw_name, raw_path in raw.items():
            if path is not None and (path == raw_path or raw_path in path.parents or path in raw_path.parents):
                clashes.append(f"{name} ({path}) would write into {raw_name} ({raw_path})")
    return clashes


class RawDataGuardHook:
    """Before any node runs, stop a run that would write where a raw data folder (``raw_<source>``) points:
    a user's exports are read-only, whatever the catalog in ``conf/local`` says."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: DataCatalog) -> None:
        if clashes := writes_into_raw_data(catalog, pipeline):
            raise RawDataError(
                "This run would write into raw data, which is read-only; point these outputs elsewhere "
                "(conf/local/catalog.yml):\n  " + "\n  ".join(clashes)
            )
