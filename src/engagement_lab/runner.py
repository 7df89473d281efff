"""The project's default runner: Kedro's sequential runner that skips pipelines whose inputs are missing."""

from __future__ import annotations

import logging
from collections import Counter
from itertools import chain
from typing import Any

from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from kedro.runner.task import Task

from engagement_lab.core.inputs_check import INPUT_CHECK_TAG
from engagement_lab.core.registry import REPORTING_TAG
from engagement_lab.datasets import NotRunDataset
from engagement_lab.reporting.tables import not_run

logger = logging.getLogger(__name__)
# Nodes that read other pipelines' results and report "not run" for those that did not run.
Cause = tuple[str, str]  # (pipeline whose inputs are missing, why)


class SkippingRunner(SequentialRunner):
    """Runs nodes in order like ``SequentialRunner``; after a node tagged ``input_check`` reports that its
    pipeline's inputs are missing, every node downstream of it is skipped, except the reporting nodes.

    A skipped node's results contract (catalog metadata ``results_contract: <section>``) is saved as
    "not run: <reasons>"; its other outputs read as ``None`` for the reporting nodes that follow."""

    def _run(self, pipeline: Pipeline, catalog: Any, hook_manager: Any = None, run_id: str | None = None) -> None:
        nodes = pipeline.nodes
        self._validate_catalog(catalog)
        self._validate_nodes(nodes)
        self._set_manager_datasets(catalog)
        load_counts = Counter(chain.from_iterable(n.inputs for n in nodes))
        causes_of: dict[str, tuple[Cause, ...]] = {}  # dataset not produced → why
        done: set = set()
        for node in nodes:
            causes = tuple(dict.fromkeys(c for name in node.inputs for c in causes_of.get(name, ())))
            if causes and REPORTING_TAG not in node.tags:
                self._skip(node, causes, catalog, causes_of)
            else:
                task = Task(
                    node=node, catalog=catalog, hook_manager=hook_manager, is_async=self._is_async, run_id=run_id
                )
                try:
                    task.execute()
                except Exception:
                    self._suggest_resume_scenario(pipeline, done, catalog)
                    raise
                done.add(node)
                if INPUT_CHECK_TAG in node.tags:
                    self._read_check(node, catalog, causes_of)
            self._release_datasets(node, catalog, load_counts, pipeline)

    @staticmethod
    def _read_check(node: Any, catalog: Any, causes_of: dict[str, tuple[Cause, ...]]) -> None:
        check = catalog.load(node.outputs[0])
        if not check["ready"]:
            logger.warning("%s not run: %s", check["pipeline"], check["reason"])
            for name in node.outputs:
                causes_of[name] = ((check["pipeline"], check["reason"]),)

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
                catalog[name] = NotRunDataset(None)
