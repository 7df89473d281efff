"""Project hooks."""

from __future__ import annotations

import atexit
import gc
import inspect
import logging
import tempfile
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog

from engagement_lab.core.registry import CONTRACTS, RAW_FOLDERS, REPORTING_TAG
from engagement_lab.datasets import NotRunDataset
from engagement_lab.mlflow_artifacts import log_saved_artifact
from engagement_lab.run_safety import (
    ENDED_TAG,
    RUN_LOCK_WAIT_ENV,
    SETUP_LOCK_WAIT_S,
    STATE_FOLDER,
    InterruptGate,
    OutputJournal,
    ProjectLock,
    ProjectLockedError,
    journal_key,
    local_location,
    local_target,
    mark_stale_mlflow_runs,
    process_tags,
    run_lock_wait_s,
    stale_journals,
    tags_for_new_runs,
)

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
        from engagement_lab.reporting.tables import not_run

        needed: set[str] = set()
        for node in pipeline.nodes:
            if REPORTING_TAG in node.tags:
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


def raw_folder_paths(catalog: DataCatalog, names: set[str]) -> dict[str, Path]:
    """The local folder of every read-only raw dataset among ``names`` and ``raw_<folder>``."""
    from engagement_lab.datasets import RawFolderDataset, SampleWorldFolderDataset

    paths = {}
    for name in sorted(names | {f"raw_{folder}" for folder in RAW_FOLDERS}):
        if name.startswith("params:") or name == "parameters":
            continue
        dataset = catalog.get(name)
        if isinstance(dataset, RawFolderDataset) and not isinstance(dataset, SampleWorldFolderDataset):
            if (path := local_location(dataset)) is not None:
                paths[name] = path
    return paths


def writes_into_raw_data(catalog: DataCatalog, pipeline: Any) -> list[str]:
    """One line per output of ``pipeline`` whose file lies inside (or contains) a raw data folder."""
    raw = raw_folder_paths(catalog, set(pipeline.inputs()))
    clashes = []
    for name in sorted(pipeline.all_outputs()):
        path = local_location(catalog.get(name))
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


class RunLockHook:
    """One run at a time per project (see :mod:`engagement_lab.run_safety`): a run takes ``run.lock`` before
    anything else in ``before_pipeline_run`` (so before kedro-mlflow starts its MLflow run) and drops it after
    every other hook has handled the run's end. Creating a context (``kedro run``, ``kedro ipython``,
    ``kedro viz``) takes ``mlflow_setup.lock`` around kedro-mlflow's set-up, which creates the SQLite store."""

    def __init__(self) -> None:
        self._run_lock: ProjectLock | None = None

    @hook_impl(wrapper=True, tryfirst=True)
    def after_context_created(self, context: Any) -> Generator[None, Any, Any]:
        state = Path(context.project_path) / STATE_FOLDER
        if self._run_lock is None or self._run_lock.path != state / "run.lock":
            self._release()
            self._run_lock = ProjectLock(state / "run.lock")
        setup = ProjectLock(state / "mlflow_setup.lock")
        try:
            setup.acquire(SETUP_LOCK_WAIT_S, "Another kedro process has been setting up MLflow for too long")
        except ProjectLockedError as error:
            raise ProjectLockedError(f"{error}; if it is stuck, end that process") from None
        try:
            return (yield)
        finally:
            setup.release()

    @hook_impl(wrapper=True, tryfirst=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Any, catalog: DataCatalog
    ) -> Generator[None, Any, Any]:
        if self._run_lock is not None:
            try:
                self._run_lock.acquire(run_lock_wait_s(), "Another kedro run is using this project")
            except ProjectLockedError as error:
                raise ProjectLockedError(
                    f"{error}. Runs of one project are serialised so that its outputs, their reconciliation and "
                    f"the MLflow store stay consistent: wait for that run to end, or set {RUN_LOCK_WAIT_ENV}="
                    "<seconds> to wait for it."
                ) from None
        try:
            return (yield)
        except BaseException:
            self._release()  # no run follows: after_pipeline_run / on_pipeline_error will not be called
            raise

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: DataCatalog) -> None:
        self._release()

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._release()

    def _release(self) -> None:
        if self._run_lock is not None:
            self._run_lock.release()


class AtomicOutputsHook:
    """Each node's outputs are saved all-or-nothing (see :mod:`engagement_lab.run_safety`): before each save,
    the file or folder it replaces is journalled; the journal is dropped when the node's last output is saved,
    and rolled back when the run fails, is interrupted, or (from disk) when the next run starts after a kill.

    Journals live in ``data/.run_safety/journal/<run>/`` under a Kedro session, in a temporary folder when a
    runner is driven without one (then nothing rolls back on failure: ``on_pipeline_error`` is a session hook)."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._run_dir: Path | None = None
        self._catalog: Any = None
        self._journals: dict[str, OutputJournal] = {}
        self._unsaved: dict[str, set[str]] = {}
        self._mutex = threading.Lock()  # ThreadRunner saves from several threads
        self._in_run = False
        self._exit_handler = False

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._root = Path(context.project_path) / STATE_FOLDER / "journal"

    @hook_impl
    def after_catalog_created(self, catalog: DataCatalog) -> None:
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: DataCatalog) -> None:
        self._catalog = catalog
        self._journals, self._unsaved = {}, {}
        self._run_dir = self._journal_root() / journal_key(str(run_params.get("run_id")))
        for path in stale_journals(self._journal_root(), self._run_dir):  # under RunLockHook's lock
            journal, owner = OutputJournal.read(path)
            logger.warning(
                "Rolling back node %s of an earlier run that did not end (pid %s)", journal.node, owner["pid"]
            )
            journal.rollback()
        for folder in self._journal_root().glob("*/"):  # runs killed between nodes leave an empty folder
            _remove_if_empty(folder)
        self._in_run = True
        if not self._exit_handler:
            atexit.register(self._rollback_at_exit)
            self._exit_handler = True

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        target = local_target(dataset) if dataset is not None else None
        with self._mutex:
            if node.name not in self._journals:
                path = self._run_folder() / f"{journal_key(node.name)}.json"
                self._journals[node.name] = OutputJournal(path, node.name)
                self._unsaved[node.name] = set(node.outputs)
            journal = self._journals[node.name]
        if target is not None:
            journal.record(dataset_name, target)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        with self._mutex:
            unsaved = self._unsaved.get(node.name)
            if unsaved is None:
                return
            unsaved.discard(dataset_name)
            # A generator node saves chunk after chunk: it is complete only when the run is.
            if unsaved or inspect.isgeneratorfunction(node.func):
                return
            journal = self._journals.pop(node.name)
            del self._unsaved[node.name]
        journal.drop()

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: DataCatalog) -> None:
        for journal in self._take_open():
            journal.drop()
        self._in_run = False
        self._cleanup_run_folder()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._rollback_open()
        self._in_run = False

    def _rollback_at_exit(self) -> None:
        """Ctrl-C or SIGTERM unwinds past the session without ``on_pipeline_error``: roll back at exit."""
        if self._in_run:
            self._rollback_open()

    def _rollback_open(self) -> None:
        for journal in self._take_open():
            try:
                journal.rollback()
            except Exception:  # keep the run's own error on top; the journal stays for the next run to finish
                logger.exception(
                    "Could not roll back node %s; the next run will retry from %s", journal.node, journal.path
                )
        self._cleanup_run_folder()

    def _take_open(self) -> list[OutputJournal]:
        with self._mutex:
            journals = list(self._journals.values())
            self._journals, self._unsaved = {}, {}
        return journals

    def _journal_root(self) -> Path:
        if self._root is None:  # a runner driven without a session
            self._root = Path(tempfile.mkdtemp(prefix="engagement-lab-journal-"))
        return self._root

    def _run_folder(self) -> Path:
        if self._run_dir is None:
            self._run_dir = self._journal_root() / journal_key(f"run-{id(self)}")
        self._run_dir.mkdir(parents=True, exist_ok=True)
        return self._run_dir

    def _cleanup_run_folder(self) -> None:
        if self._run_dir is not None:
            _remove_if_empty(self._run_dir)
            self._run_dir = None


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # absent, or holds what a later rollback still needs


class KilledRunsHook:
    """No MLflow run is left RUNNING by a run that dies (see :mod:`engagement_lab.run_safety`).

    Before a run starts, RUNNING runs of this host whose process is gone are ended KILLED with a tag saying
    why. The new run is created with its pid and host as tags (through ``MLFLOW_RUN_CONTEXT``, so that no kill
    can come between its creation and its tags). During the run Ctrl-C and SIGTERM go through an
    :class:`InterruptGate`, and a run interrupted either way ends KILLED (MLflow's own exit handler would end it
    FINISHED). A run opened before the session by someone else (an orchestrator) is left to them."""

    def __init__(self) -> None:
        self._run_id: str | None = None
        self._gate = InterruptGate()
        self._exit_handler = False

    @hook_impl(wrapper=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Any, catalog: DataCatalog
    ) -> Generator[None, Any, Any]:
        external = mlflow.active_run() is not None
        try:
            if marked := mark_stale_mlflow_runs(mlflow.MlflowClient()):
                logger.warning("Marked %d MLflow run(s) of killed kedro runs KILLED: %s", len(marked), marked)
        except Exception as error:  # a store we cannot query must not stop the run; kedro-mlflow will say more
            logger.warning("Could not check MLflow for runs left RUNNING by killed runs: %s", error)
        self._gate.install()
        try:
            with tags_for_new_runs({} if external else process_tags()):
                result = yield
            self._gate.checkpoint()
        except BaseException as error:
            if not external and (run := mlflow.active_run()) is not None:  # started by kedro-mlflow, no run follows
                interrupted = isinstance(error, KeyboardInterrupt)
                why = "interrupted (Ctrl-C or SIGTERM)" if interrupted else f"failed: {type(error).__name__}: {error}"
                mlflow.set_tag(ENDED_TAG, f"{why}, before the first node"[:5000])
                _end_mlflow_run(run.info.run_id, "KILLED" if interrupted else "FAILED")
            self._run_over()
            raise
        if not external and (run := mlflow.active_run()) is not None:
            self._run_id = run.info.run_id
            if not self._exit_handler:
                atexit.register(self._end_interrupted)
                self._exit_handler = True
        return result

    # Safe points for a pending interrupt: between what hooks and datasets do, never inside an MLflow call.
    @hook_impl(trylast=True)  # after kedro-mlflow has logged the node's parameters
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool, run_id: str) -> None:
        self._gate.in_node = True
        self._gate.checkpoint()

    @hook_impl(tryfirst=True)
    def after_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        self._gate.in_node = False
        self._gate.checkpoint()

    @hook_impl(tryfirst=True)
    def on_node_error(self, error: Exception, node: Any, catalog: Any, inputs: dict[str, Any]) -> None:
        self._gate.in_node = False

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node: Any) -> None:
        self._gate.checkpoint()

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        self._gate.checkpoint()

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: DataCatalog) -> None:
        self._run_over()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._run_over()

    def _run_over(self) -> None:
        self._run_id = None
        self._gate.restore()

    def _end_interrupted(self) -> None:
        """At exit after Ctrl-C / SIGTERM: end this process's MLflow run KILLED, before MLflow's exit handler."""
        gc.collect()  # frames of the interrupted call may hold a store connection (and its lock) until collected
        run = mlflow.active_run()
        if self._run_id is not None and run is not None and run.info.run_id == self._run_id:
            mlflow.set_tag(ENDED_TAG, "interrupted (Ctrl-C or SIGTERM): ended KILLED at exit")
            _end_mlflow_run(self._run_id, "KILLED")
            logger.warning("MLflow run %s ended KILLED: the kedro run was interrupted", self._run_id)
        self._run_over()


def _end_mlflow_run(run_id: str, status: str) -> None:
    """End ``run_id`` with ``status``. kedro-mlflow re-enters its run at every node (``nested: true`` stacks it
    once per node), so it may be on MLflow's active-run stack many times: end every entry."""
    while (run := mlflow.active_run()) is not None and run.info.run_id == run_id:
        mlflow.end_run(status)
