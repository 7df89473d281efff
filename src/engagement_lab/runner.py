"""The project's default runner: Kedro's sequential runner that skips pipelines whose inputs are missing."""

from __future__ import annotations

import logging
from collections import Counter
from itertools import chain
from typing import Any

from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from kedro.runner.task import Task

from engagement_lab.core.errors import user_facing
from engagement_lab.core.inputs_check import INPUT_CHECK_TAG
from engagement_lab.core.registry import REPORTING_TAG
from engagement_lab.datasets import NotRunDataset
from engagement_lab.hooks import (
    current_run_params,
    input_check_descendants,
    missing_inputs,
    missing_inputs_error,
    read_only_after_checks,
)
from engagement_lab.reporting.tables import not_run

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
    of a node that reads it has passed, before that node or any other behind the checks runs."""

    def _run(self, pipeline: Pipeline, catalog: Any, hook_manager: Any = None, run_id: str | None = None) -> None:
        nodes = pipeline.nodes
        self._validate_catalog(catalog)
        self._validate_nodes(nodes)
        self._set_manager_datasets(catalog)
        load_counts = Counter(chain.from_iterable(n.inputs for n in nodes))
        causes_of: dict[str, tuple[Cause, ...]] = {}  # dataset not produced → why
        done: set = set()
        gate = _MissingBehindChecks(pipeline, catalog)
        for node in nodes:
            causes = tuple(dict.fromkeys(c for name in node.inputs for c in causes_of.get(name, ())))
            if causes and REPORTING_TAG not in node.tags:
                self._skip(node, causes, catalog, causes_of)
            else:
                gate.before(node)
                task = Task(
                    node=node, catalog=catalog, hook_manager=hook_manager, is_async=self._is_async, run_id=run_id
                )
                try:
                    task.execute()
                except Exception as error:
                    if user_facing(error) is None:  # resuming does not help with the data or the set-up
                        self._suggest_resume_scenario(pipeline, done, catalog)
                    raise
                done.add(node)
                if INPUT_CHECK_TAG in node.tags:
                    gate.checked(node.name, self._read_check(node, catalog, causes_of))
            self._release_datasets(node, catalog, load_counts, pipeline)

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
