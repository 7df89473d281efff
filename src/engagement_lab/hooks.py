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
from kedro.io import CachedDataset, DataCatalog

from engagement_lab.core.errors import UserFacingError
from engagement_lab.core.inputs_check import INPUT_CHECK_TAG
from engagement_lab.core.registry import CONTRACTS, RAW_FOLDERS, REPORTING_TAG
from engagement_lab.datasets import (
    CacheParquetDataset,
    NotRunDataset,
    OptionalParquetDataset,
    RawFolderDataset,
    SampleWorldFolderDataset,
)
from engagement_lab.mlflow_artifacts import log_contract_tags, log_saved_artifact, log_saved_curves, run_name
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
            log_saved_curves(self._catalog, dataset_name, data)
            log_contract_tags(self._catalog, dataset_name, data)


class RunNameHook:
    """Name kedro-mlflow's run after what tells it apart: the pipeline(s), the ``--params`` overrides and the key
    parameters (``mlflow_artifacts.run_name``), e.g. ``sample_world preset=demo seed=7``; the overrides are also a
    tag. kedro-mlflow names runs after the pipeline only, and its hook opens the run before this one runs."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: DataCatalog) -> None:
        if mlflow.active_run() is None:
            return
        try:
            parameters = catalog.load("parameters")
        except Exception:  # noqa: BLE001 (a catalog without parameters: name the run by pipeline only)
            parameters = {}
        pipelines = list(run_params.get("pipeline_names") or [])
        runtime = run_params.get("runtime_params") or {}
        name = run_name(pipelines, runtime, parameters, run_params.get("env"))
        mlflow.set_tags({"mlflow.runName": name, "engagement_lab.overrides": str(runtime)[:5000]})


class MissingInputsError(UserFacingError, RuntimeError):
    """A run reads datasets that no run has written yet; the message names each one, the pipeline that writes it
    and the command to run."""


class MissingModelError(MissingInputsError):
    """A run reads a trained model (catalog layer ``models``) that no run has saved yet."""


# Inputs that may be absent: they load as None or as an empty table (a user's data has no ground truth; a cache
# starts empty), or stand in for a pipeline that did not run.
MAY_BE_ABSENT = (OptionalParquetDataset, CacheParquetDataset, NotRunDataset)


def _is_checked(dataset: Any) -> bool:
    """Whether a missing ``dataset`` means that an upstream pipeline has not run: a local file or folder that a
    pipeline writes. Not: parameters, memory and MLflow datasets, the datasets in ``MAY_BE_ABSENT``, and a user's
    raw folders (read-only; a missing one loads empty, and ingestion and the input checks say what it lacks)."""
    if dataset is None or isinstance(dataset, MAY_BE_ABSENT):
        return False
    if isinstance(dataset, RawFolderDataset) and not isinstance(dataset, SampleWorldFolderDataset):
        return False
    if isinstance(dataset, CachedDataset):
        dataset = dataset._dataset  # the file behind the in-memory copy
    return local_location(dataset) is not None


def missing_inputs(catalog: DataCatalog, pipeline: Any) -> list[str]:
    """The free inputs of ``pipeline`` that an upstream pipeline writes (see :func:`_is_checked`) and that do not
    exist yet. What the reporting nodes read is left to :class:`ReportingInputsHook` (it reports them as not
    run)."""
    reported = {name for node in pipeline.nodes if REPORTING_TAG in node.tags for name in node.inputs}
    names = (n for n in sorted(pipeline.inputs() - reported) if not n.startswith("params:") and n != "parameters")
    return [name for name in names if _is_checked(catalog.get(name)) and not catalog.exists(name)]


def input_check_descendants(pipeline: Any) -> dict[str, set[str]]:
    """Per input-check node (tag ``input_check``), the names of the nodes downstream of it: the project's
    ``SkippingRunner`` skips them when the check finds the data lacking."""
    checks = [node.name for node in pipeline.nodes if INPUT_CHECK_TAG in node.tags]
    return {check: {node.name for node in pipeline.from_nodes(check).nodes} - {check} for check in checks}


def read_only_after_checks(pipeline: Any, names: list[str]) -> list[str]:
    """Those of ``names`` that only nodes downstream of an input check read: they are needed only when the check
    passes (the ``SkippingRunner`` asks for them then), not when the pipeline does not apply to the data."""
    behind = set().union(*input_check_descendants(pipeline).values())
    return [name for name in names if all(n.name in behind for n in pipeline.only_nodes_with_inputs(name).nodes)]


def missing_inputs_error(
    catalog: DataCatalog, names: list[str], run_params: dict[str, Any] | None = None
) -> MissingInputsError:
    """One error for every missing dataset in ``names``: its file, the pipeline that writes it and the command
    that runs it; for a run of named pipelines (``run_params``), also the one command that makes everything they
    need and then runs them. A :class:`MissingModelError` when a trained model is among them."""
    run_params = run_params or {}
    demo = "demo" in (run_params.get("pipeline_names") or [])
    pipelines = _project_pipelines(demo)
    makers = _producers(names, pipelines)
    message = "This run needs datasets that no run has written yet:\n  " + "\n  ".join(
        _missing_lines(catalog, makers, demo)
    )
    first = list(dict.fromkeys(m[0] for m in makers.values() if m))
    # What this run runs: the demo's steps by tag, or the named pipelines.
    wanted = list(run_params.get("tags") or []) if demo else list(run_params.get("pipeline_names") or [])
    if first and wanted:
        chain = dict.fromkeys([*_pipelines_first(catalog, first, pipelines), *wanted])
        message += f"\nOr make them and run this in one go: `{_command(list(chain), demo)}`"
    if any(INPUT_CHECK_TAG in node.tags for m in first for node in pipelines[m].nodes):
        message += (
            '\nA pipeline that does not apply to your data is skipped ("not run: <reason>") and writes none of '
            "these; then this run does not apply to it either."
        )
    models = any(_layer(catalog.get(name)) == "models" for name in names)
    return (MissingModelError if models else MissingInputsError)(message)


def _missing_lines(catalog: DataCatalog, makers: dict[str, list[str]], demo: bool = False) -> list[str]:
    """Per missing dataset (``makers``: the pipelines that write each): its file and the command to run first."""
    lines = []
    for name, pipelines in makers.items():
        run = " or ".join(f"`{_command([m], demo)}`" for m in pipelines) or "the pipeline that writes it"
        lines.append(f"{name} ({_shown(catalog.get(name))}) does not exist: run {run} first")
    return lines


def _layer(dataset: Any) -> str | None:
    return ((getattr(dataset, "metadata", None) or {}).get("kedro-viz") or {}).get("layer")


def _shown(dataset: Any) -> str:
    """A dataset's file, relative to the working directory (the project) when it lies inside it."""
    path = local_location(dataset._dataset if isinstance(dataset, CachedDataset) else dataset)
    if path is None:
        return "?"
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _command(pipelines: list[str], demo: bool) -> str:
    """The ``kedro run`` that runs ``pipelines``: in the demo, its steps by tag (the demo's folders stand in for
    raw data)."""
    if demo:
        return f"kedro run --pipelines=demo --tags={','.join(pipelines)}"
    return f"kedro run --pipelines={','.join(pipelines)}"


def _pipelines_first(catalog: DataCatalog, producers: list[str], pipelines: dict[str, Any]) -> list[str]:
    """``producers`` with every pipeline they need whose outputs do not exist yet, each after the ones it needs."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        order.append(name)  # a placeholder against cycles: moved after what it needs below
        for needed in _producers(missing_inputs(catalog, pipelines[name]), pipelines).values():
            if needed and needed[0] != name:
                visit(needed[0])
        order.remove(name)
        order.append(name)

    for producer in producers:
        visit(producer)
    return order


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


class MissingResultsError(UserFacingError, RuntimeError):
    """A pipeline whose results the report needs has not run."""


def _project_pipelines(demo: bool = False) -> dict[str, Any]:
    """Every project pipeline but ``demo`` and ``reporting`` (which only reads results), built afresh from
    ``engagement_lab.pipelines``: during ``kedro run --pipelines=x`` Kedro's registry holds only x. With ``demo``,
    as the demo runs them: reading the sample world's folders instead of raw data."""
    from engagement_lab.pipelines.demo import on_sample_world, project_pipelines

    built = {name: pipeline for name, pipeline in project_pipelines().items() if name != "reporting"}
    return {name: on_sample_world(pipeline) for name, pipeline in built.items()} if demo else built


def _producers(names: list[str], pipelines: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """The project pipelines that write each dataset, by name (reporting only reads results)."""
    outputs = {name: pipeline.all_outputs() for name, pipeline in (pipelines or _project_pipelines()).items()}
    return {name: sorted(p for p, written in outputs.items() if name in written) for name in names}


class MissingInputsHook:
    """Before a run starts, name every dataset it reads that an upstream pipeline has not written yet (trained
    models, model inputs, canonical tables, ...), the pipeline that writes it and the command to run, instead of a
    load error midway through the run (see :func:`missing_inputs` for what is checked).

    Under the ``SkippingRunner``, when every missing dataset is read only by nodes behind an input check, they are
    left to the runner: they are needed only if the check finds the data fit for the pipeline (a pipeline that
    does not apply to the data is skipped, as without this hook). Otherwise the run stops naming them all. Runs
    first (``tryfirst``), so that no MLflow run is started for a run that cannot start."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: DataCatalog) -> None:
        _RUN_PARAMS.clear()
        _RUN_PARAMS.update(run_params)
        missing = missing_inputs(catalog, pipeline)
        skipping = "SkippingRunner" in str(run_params.get("runner"))
        if missing and not (skipping and len(read_only_after_checks(pipeline, missing)) == len(missing)):
            raise missing_inputs_error(catalog, missing, run_params)


# The parameters of the run in progress (pipelines, tags), kept by MissingInputsHook: the SkippingRunner's
# missing-input errors name the command to run as the hook's do.
_RUN_PARAMS: dict[str, Any] = {}


def current_run_params() -> dict[str, Any]:
    """The parameters of the run in progress under a Kedro session ({} without one)."""
    return dict(_RUN_PARAMS)


class RawDataError(UserFacingError, RuntimeError):
    """A run would write into a user's raw data folder."""


def raw_folder_paths(catalog: DataCatalog, names: set[str]) -> dict[str, Path]:
    """The local folder of every read-only raw dataset among ``names`` and ``raw_<folder>``."""
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
        # The run's MLflow runs end before the lock is dropped. Measured: pluggy calls this before kedro-mlflow's
        # after_pipeline_run, so the next run's MLflow run started ~0.3 s before this one's ended. kedro-mlflow's
        # own end_run then finds nothing open (a no-op); nested runs leave more than one entry on MLflow's stack.
        while mlflow.active_run() is not None:
            mlflow.end_run()
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

    @hook_impl(tryfirst=True)  # before kedro-mlflow's, which ends the run once per entry on MLflow's run stack
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        _drop_reentries()
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


def _drop_reentries() -> None:
    """Keep one entry of the run on top of MLflow's active-run stack. kedro-mlflow re-enters its run at every node
    (``nested: true`` stacks it once per node), and on a failed run ends it, with an INFO line, once per entry:
    dozens of "The run ... was closed because of an error" above the error. The stack is MLflow's private state:
    if it is not where it was, nothing is dropped."""
    try:
        from mlflow.tracking.fluent import _active_run_stack

        stack = _active_run_stack.get()
    except (ImportError, AttributeError):
        return
    while isinstance(stack, list) and len(stack) > 1 and stack[-1].info.run_id == stack[-2].info.run_id:
        stack.pop()


def _end_mlflow_run(run_id: str, status: str) -> None:
    """End ``run_id`` with ``status``. kedro-mlflow re-enters its run at every node (``nested: true`` stacks it
    once per node), so it may be on MLflow's active-run stack many times: end every entry."""
    while (run := mlflow.active_run()) is not None and run.info.run_id == run_id:
        mlflow.end_run(status)
