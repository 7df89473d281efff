"""The project's default runner: Kedro's sequential runner that skips pipelines whose inputs are missing, and runs
the single-thread trainings side by side in worker processes (parameter ``runner.workers``, decision 023)."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from itertools import chain
from typing import Any

from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from kedro.runner.task import Task

from engagement_lab.core.errors import user_facing
from engagement_lab.core.inputs_check import INPUT_CHECK_TAG
from engagement_lab.core.registry import ALL_CORES_TAG, REPORTING_TAG, WORKER_TAG
from engagement_lab.datasets import NotRunDataset
from engagement_lab.hooks import (
    current_run_params,
    input_check_descendants,
    missing_inputs,
    missing_inputs_error,
    read_only_after_checks,
)
from engagement_lab.reporting.tables import not_run
from engagement_lab.worker_pool import WorkerPool, check_picklable

logger = logging.getLogger(__name__)
# Nodes that read other pipelines' results and report "not run" for those that did not run.
Cause = tuple[str, str]  # (pipeline whose inputs are missing, why)


class SkippingRunner(SequentialRunner):
    """Runs nodes in order like ``SequentialRunner``; after a node tagged ``input_check`` reports that its
    pipeline's inputs are missing, every node downstream of it is skipped, except the reporting nodes.

    A skipped node's results contract (catalog metadata ``results_contract: <section>``) is saved as
    "not run: <reasons>"; its other outputs read as ``None`` for the reporting nodes that follow.

    A missing input that only nodes behind an input check read (``MissingInputsHook`` leaves those to this
    runner) stops the run with :class:`~engagement_lab.hooks.MissingInputsError` as soon as every check in front
    of a node that reads it has passed, before that node or any other behind the checks runs.

    With ``runner.workers`` above 1 (a parameter; 1 when the catalog has none), up to that many nodes run at a time:
    the nodes tagged ``worker`` in spawned worker processes, the others in this one, and those tagged ``all_cores``
    alone; loads, saves and hooks stay here.
    """

    def _run(self, pipeline: Pipeline, catalog: Any, hook_manager: Any = None, run_id: str | None = None) -> None:
        nodes = pipeline.nodes
        self._validate_catalog(catalog)
        self._validate_nodes(nodes)
        self._set_manager_datasets(catalog)
        workers = _workers(catalog, pipeline)
        if workers > 1:
            with WorkerPool(workers) as pool:
                self._schedule(pipeline, catalog, hook_manager, run_id, pool)
        else:
            self._schedule(pipeline, catalog, hook_manager, run_id, None)

    def _schedule(
        self, pipeline: Pipeline, catalog: Any, hook_manager: Any, run_id: str | None, pool: WorkerPool | None
    ) -> None:
        """Runs the nodes in Kedro's order. With a pool, up to ``pool.workers`` nodes run at a time, each on its share
        of the cores: ``worker`` nodes in worker processes, the others here, beside them, except ``all_cores`` nodes,
        which run here alone once no worker is busy. A free share goes to the ready node with the most ``worker``
        nodes behind it (the one that unlocks the most training), then to a node that runs here (they are short),
        then in Kedro's order."""
        nodes = pipeline.nodes
        dependencies = pipeline.node_dependencies
        priority = _priorities(pipeline) if pool is not None else {node: (index,) for index, node in enumerate(nodes)}
        load_counts = Counter(chain.from_iterable(n.inputs for n in nodes))
        causes_of: dict[str, tuple[Cause, ...]] = {}  # dataset not produced → why
        done: set = set()  # run or skipped
        ran: set = set()
        busy: dict[Future, _Started] = {}
        gate = _MissingBehindChecks(pipeline, catalog)
        todo = list(nodes)

        def finish(node: Any) -> None:
            done.add(node)
            self._release_datasets(node, catalog, load_counts, pipeline)

        def save(finished: set[Future]) -> list[Exception]:
            """Saves the outputs of the nodes that ``finished`` in workers, in a fixed order; returns their errors."""
            errors = []
            for future in sorted(finished, key=lambda f: busy[f].node.name):
                started_node = busy.pop(future)
                try:
                    started_node.save(future, catalog, hook_manager, run_id)
                except Exception as error:
                    errors.append(error)
                    continue
                ran.add(started_node.node)
                finish(started_node.node)
            return errors

        try:
            while todo or busy:
                started = False
                for node in sorted((n for n in todo if dependencies[n] <= done), key=priority.__getitem__):
                    in_worker = pool is not None and WORKER_TAG in node.tags
                    causes = tuple(dict.fromkeys(c for name in node.inputs for c in causes_of.get(name, ())))
                    if causes and REPORTING_TAG not in node.tags:
                        todo.remove(node)
                        self._skip(node, causes, catalog, causes_of)
                        finish(node)
                    elif pool is not None and (len(busy) >= pool.workers or (busy and ALL_CORES_TAG in node.tags)):
                        break  # its share of the cores (for all_cores: every core) is taken: wait for a node to finish
                    elif in_worker:
                        todo.remove(node)
                        gate.before(node)
                        started_node = _Started.load(node, catalog, hook_manager, run_id)
                        busy[pool.submit(node, started_node.inputs)] = started_node
                    else:
                        todo.remove(node)
                        gate.before(node)
                        task = Task(
                            node=node,
                            catalog=catalog,
                            hook_manager=hook_manager,
                            is_async=self._is_async,
                            run_id=run_id,
                        )
                        with _cores_for(node, pool):
                            task.execute()
                        ran.add(node)
                        logger.info("Completed node: %s", node.name)  # as Kedro's own runners log it
                        if INPUT_CHECK_TAG in node.tags:
                            gate.checked(node.name, self._read_check(node, catalog, causes_of))
                        finish(node)
                    started = True
                    break  # the next node in Kedro's order, now that this one has run or started
                if started:
                    continue
                if not busy:
                    raise RuntimeError(f"no node can run: {sorted(n.name for n in todo)} wait for nodes that never ran")
                finished, _ = wait(busy, return_when=FIRST_COMPLETED)
                errors = save(finished)
                if errors:
                    raise errors[0]
        except Exception as error:
            # Nothing that finishes is lost: nodes not started in a worker are dropped, those running are waited
            # for and their outputs saved, then the run stops with the first error.
            running = [future for future in busy if not future.cancel()]
            if running:
                names = ", ".join(sorted(busy[f].node.name for f in running))
                logger.warning("A node failed (%s); saving the nodes running beside it first: %s", error, names)
                for other in save(wait(running).done):
                    logger.error("A node running beside it failed too: %s", other)
            if user_facing(error) is None:  # resuming does not help with the data or the set-up
                self._suggest_resume_scenario(pipeline, ran, catalog)
            raise

    @staticmethod
    def _read_check(node: Any, catalog: Any, causes_of: dict[str, tuple[Cause, ...]]) -> bool:
        """Whether the check passed; when not, every output of its node carries the reason."""
        check = catalog.load(node.outputs[0])
        if not check["ready"]:
            logger.warning("%s not run: %s", check["pipeline"], check["reason"])
            for name in node.outputs:
                causes_of[name] = ((check["pipeline"], check["reason"]),)
        return bool(check["ready"])

    @staticmethod
    def _skip(node: Any, causes: tuple[Cause, ...], catalog: Any, causes_of: dict[str, tuple[Cause, ...]]) -> None:
        logger.info("Skipped node %s: %s not run", node.name, ", ".join(dict.fromkeys(p for p, _ in causes)))
        reason = "; ".join(reason for _, reason in causes)
        for name in node.outputs:
            causes_of[name] = causes
            section = (getattr(catalog.get(name), "metadata", None) or {}).get("results_contract")
            if section is not None:
                catalog.save(name, not_run(section, causes[0][0], reason, inputs_missing=True))
            else:
                _stand_in(catalog, name)


@contextlib.contextmanager
def _cores_for(node: Any, pool: WorkerPool | None) -> Iterator[None]:
    """Beside busy workers a node here runs on one share of the cores, like each of them; an ``all_cores`` node
    (which runs alone) and any node of a run without workers on torch's own setting."""
    if pool is None or ALL_CORES_TAG in node.tags:
        yield
        return
    from engagement_lab.features.encoders import torch_threads  # torch: not at start-up

    with torch_threads(pool.threads):
        yield


def _priorities(pipeline: Pipeline) -> dict[Any, tuple[int, int, int]]:
    """Node → sort key: most ``worker`` nodes downstream first, then nodes that run in this process, then Kedro's
    order. The trainings are the long nodes: starting what they wait for early keeps every share of the cores busy
    (on the demo, the LDA in front of the 11 dual-attention models, the pseudo-labels in front of VisE)."""
    nodes = pipeline.nodes
    behind: dict[Any, set] = {node: set() for node in nodes}
    for node in reversed(nodes):  # children before parents: Kedro's order is topological
        for parent in pipeline.node_dependencies[node]:
            behind[parent] |= {node} | behind[node]
    return {
        node: (-sum(WORKER_TAG in n.tags for n in behind[node]), WORKER_TAG in node.tags, index)
        for index, node in enumerate(nodes)
    }


WORKERS_PARAM = "params:runner.workers"


def _workers(catalog: Any, pipeline: Pipeline) -> int:
    """The run's worker processes (parameter ``runner.workers``; 1 without it): 1 when no node of this run is
    tagged ``worker``, since spawning processes would buy nothing."""
    workers = int(catalog.load(WORKERS_PARAM)) if WORKERS_PARAM in catalog else 1
    tagged = [node for node in pipeline.nodes if WORKER_TAG in node.tags]
    if workers > 1:
        for node in tagged:
            check_picklable(node)
    return workers if tagged else 1


@dataclass
class _Started:
    """A node running in a worker: its inputs were loaded (and ``before_node_run`` called) here; its outputs are
    saved here, with the same hooks as Kedro's own ``Task``."""

    node: Any
    inputs: dict[str, Any]

    @classmethod
    def load(cls, node: Any, catalog: Any, hook_manager: Any, run_id: str | None) -> _Started:
        inputs = {name: Task._synchronous_dataset_load(name, node, catalog, hook_manager) for name in node.inputs}
        inputs.update(Task._collect_inputs_from_hook(node, catalog, inputs, False, hook_manager, run_id=run_id))
        return cls(node, inputs)

    def save(self, future: Future, catalog: Any, hook_manager: Any, run_id: str | None) -> None:
        node, hook = self.node, hook_manager.hook
        try:
            outputs = future.result()
        except Exception as error:
            hook.on_node_error(
                error=error, node=node, catalog=catalog, inputs=self.inputs, is_async=False, run_id=run_id
            )
            raise
        hook.after_node_run(
            node=node, catalog=catalog, inputs=self.inputs, outputs=outputs, is_async=False, run_id=run_id
        )
        for name, data in outputs.items():
            hook.before_dataset_saved(dataset_name=name, data=data, node=node)
            catalog.save(name, data)
            hook.after_dataset_saved(dataset_name=name, data=data, node=node)
        for name in node.confirms:
            catalog.confirm(name)
        logger.info("Completed node: %s (in a worker process)", node.name)


def _stand_in(catalog: Any, name: str) -> None:
    """``name`` reads as None from here on, without Kedro's "Replacing dataset" warning: the skip is logged."""
    quiet = logging.getLogger("kedro.io.data_catalog")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        catalog[name] = NotRunDataset(None)
    finally:
        quiet.setLevel(level)


class _MissingBehindChecks:
    """The run's missing inputs that only nodes behind input checks read, and when they are needed: a node that
    reads one runs once every input check in front of it has passed."""

    def __init__(self, pipeline: Pipeline, catalog: Any) -> None:
        self._catalog = catalog
        self._missing = read_only_after_checks(pipeline, missing_inputs(catalog, pipeline))
        self._readers: dict[str, set[str]] = {}  # node name → the missing datasets it reads
        self._checks_of: dict[str, set[str]] = {}  # node name → the input checks in front of it
        self._passed: dict[str, bool] = {}
        if self._missing:
            for node in pipeline.only_nodes_with_inputs(*self._missing).nodes:
                self._readers[node.name] = set(node.inputs) & set(self._missing)
            for check, behind in input_check_descendants(pipeline).items():
                for name in behind & set(self._readers):
                    self._checks_of.setdefault(name, set()).add(check)

    def checked(self, check: str, passed: bool) -> None:
        """After an input check: stop when a node that reads a missing dataset will now run."""
        self._passed[check] = passed
        needed = [
            dataset
            for node, datasets in self._readers.items()
            if self._checks_of.get(node, set()) <= self._passed.keys()
            and all(self._passed[c] for c in self._checks_of.get(node, set()))
            for dataset in sorted(datasets)
        ]
        if needed:
            raise missing_inputs_error(self._catalog, list(dict.fromkeys(needed)), current_run_params())

    def before(self, node: Any) -> None:
        """Before a node runs: stop when it reads a missing dataset."""
        if node.name in self._readers:
            raise missing_inputs_error(self._catalog, sorted(self._readers[node.name]), current_run_params())
