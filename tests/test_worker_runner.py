"""The project runner with worker processes (``runner.workers``): the same outputs as Kedro's SequentialRunner, the
workers' log lines in the run's log, errors that name the node, and finished nodes' outputs kept on a failure."""

from __future__ import annotations

import logging
import pickle
import time

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from engagement_lab.core.registry import ALL_CORES_TAG, WORKER_TAG
from engagement_lab.pipelines.ppcl.pipeline import model_pipeline, prepare_pipeline
from engagement_lab.runner import SkippingRunner
from engagement_lab.worker_pool import NodeNotPicklableError
from tests.conftest import add_params
from tests.pipelines.ppcl.conftest import tiny_params

MODELS = ("full", "no_cl", "rnc")


def _ppcl_slice() -> Pipeline:
    return Pipeline(
        prepare_pipeline() + sum((model_pipeline(m) for m in MODELS), Pipeline([])),
        namespace="ppcl",
        prefix_datasets_with_namespace=False,
    )


def _fresh_catalog(source: DataCatalog, pipeline: Pipeline, workers: int) -> DataCatalog:
    """A catalog of its own holding only the pipeline's inputs (copies), so two runs never share outputs."""
    catalog = DataCatalog()
    for name in pipeline.inputs():
        if not name.startswith("params:"):
            catalog[name] = MemoryDataset(source.load(name))
    add_params(catalog, "ppcl", tiny_params())
    add_params(catalog, "runner", {"workers": workers})
    return catalog


def _run_with_workers(source: DataCatalog, pipeline: Pipeline) -> tuple[DataCatalog, list[logging.LogRecord]]:
    catalog = _fresh_catalog(source, pipeline, workers=2)
    records: list[logging.LogRecord] = []
    collect = logging.Handler()
    collect.emit = records.append
    logging.getLogger("engagement_lab").addHandler(collect)
    try:
        SkippingRunner().run(pipeline, catalog)
    finally:
        logging.getLogger("engagement_lab").removeHandler(collect)
    return catalog, records


@pytest.fixture(scope="module")
def ppcl_runs(tiny_featured):
    """The same PPCL slice run by SequentialRunner, and twice by the project runner with 2 workers."""
    pipeline = _ppcl_slice()
    sequential = _fresh_catalog(tiny_featured, pipeline, workers=1)
    SequentialRunner().run(pipeline, sequential)
    parallel, records = _run_with_workers(tiny_featured, pipeline)
    again, _ = _run_with_workers(tiny_featured, pipeline)
    return sequential, parallel, again, records


def test_the_same_run_with_workers_gives_the_same_models_bit_for_bit(ppcl_runs):
    _, parallel, again, _ = ppcl_runs
    for model in MODELS:
        got = parallel.load(f"ppcl_{model}_predictions")
        assert len(got) > 0
        pd.testing.assert_frame_equal(again.load(f"ppcl_{model}_predictions"), got, check_exact=True)
        # weights (SHA-256 of every tensor), preprocessor and card with each seed's history
        assert again.load(f"ppcl_{model}_index_entry") == parallel.load(f"ppcl_{model}_index_entry")


def test_models_trained_in_workers_match_those_trained_in_the_run_process_up_to_float_rounding(ppcl_runs):
    # A worker's nodes run on its share of the cores (one torch thread here, two in a sequential run): the
    # preprocessing's sums are ordered differently, nothing else differs.
    sequential, parallel, *_ = ppcl_runs
    for model in MODELS:
        expected = sequential.load(f"ppcl_{model}_predictions")
        got = parallel.load(f"ppcl_{model}_predictions")
        assert len(got) == len(expected) > 0
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=1e-4)


def test_the_trainings_ran_in_two_other_processes_and_their_log_lines_reach_the_run_log(ppcl_runs):
    *_, records = ppcl_runs
    trainings = [r for r in records if r.name == "engagement_lab.core.training"]
    processes = {r.processName for r in trainings}
    assert len(processes) == 2 and "MainProcess" not in processes, processes
    best = [r.getMessage() for r in trainings if ": best epoch" in r.getMessage()]
    assert len(best) == len(MODELS) * len(tiny_params()["seeds"]), best  # each seed's training is in the log
    completed = [r.getMessage() for r in records if r.name == "engagement_lab.runner"]
    assert sorted(m for m in completed if "worker process" in m) == sorted(
        f"Completed node: ppcl.{m}.train (in a worker process)" for m in MODELS
    )


def double(x: int) -> int:
    return 2 * x


def slow_double(x: int) -> int:
    time.sleep(3)
    return 2 * x


def fail(x: int) -> int:
    raise ValueError(f"bad value {x} in node input")


def test_a_failing_worker_node_raises_its_error_after_the_node_running_beside_it_is_saved():
    pipeline = Pipeline(
        [
            Node(slow_double, "a", "doubled", name="double", tags=WORKER_TAG),
            Node(fail, "a", "failed", name="fail", tags=WORKER_TAG),
            Node(double, "failed", "never", name="after"),
        ]
    )
    catalog = DataCatalog({"a": MemoryDataset(21), "doubled": MemoryDataset(), "never": MemoryDataset()})
    add_params(catalog, "runner", {"workers": 2})
    with pytest.raises(ValueError, match="bad value 21 in node input"):
        SkippingRunner().run(pipeline, catalog)
    assert catalog.load("doubled") == 42  # still running when the other failed: waited for and saved, not lost
    with pytest.raises(Exception, match="never"):
        catalog.load("never")


def test_a_node_that_cannot_go_to_a_worker_is_named_before_anything_runs():
    pipeline = Pipeline(
        [
            Node(double, "a", "doubled", name="double"),
            Node(lambda x: x, "doubled", "same", name="closure_node", tags=WORKER_TAG),
        ]
    )
    catalog = DataCatalog({"a": MemoryDataset(1), "doubled": MemoryDataset()})
    add_params(catalog, "runner", {"workers": 2})
    with pytest.raises(NodeNotPicklableError, match="closure_node.*module-level function"):
        SkippingRunner().run(pipeline, catalog)
    with pytest.raises(Exception, match="doubled"):
        catalog.load("doubled")  # nothing ran
    with pytest.raises((pickle.PicklingError, AttributeError)):  # the check is real: the lambda does not pickle
        pickle.dumps(pipeline.nodes[-1])


def test_every_node_tagged_worker_in_the_project_can_go_to_a_worker_and_the_multi_threaded_ones_run_alone():
    from engagement_lab.pipelines.demo import project_pipelines
    from engagement_lab.worker_pool import check_picklable

    nodes = [node for pipe in project_pipelines().values() for node in pipe.nodes]
    tagged = [node for node in nodes if WORKER_TAG in node.tags]
    # the single-thread trainings: 15 PPCL + 11 dual-attention models, the engagement fusion classifiers (3),
    # regressor and baselines
    assert len(tagged) == 15 + 11 + 3 + 1 + 1, sorted(node.name for node in tagged)
    for node in tagged:
        check_picklable(node)
    # the nodes that use both cores well: CatBoost (2 engagement, 1 PPCL), VisE pretraining (4) and transfer (6),
    # the embeddings (features 2, predict 1)
    alone = {node.name for node in nodes if ALL_CORES_TAG in node.tags}
    assert len(alone) == 3 + 4 + 6 + 3, sorted(alone)
    assert not alone & {node.name for node in tagged}
    assert {"engagement.catboost_paper.train_catboost", "pretraining.vise.pretrain", "features.embed_images"} <= alone


def timed(x: int) -> tuple[float, float]:
    start = time.time()
    time.sleep(1.5)
    return start, time.time()


def test_worker_nodes_run_side_by_side_and_an_all_cores_node_runs_alone():
    pipeline = Pipeline(
        [
            Node(timed, "a", "first", name="first", tags=WORKER_TAG),
            Node(timed, "a", "second", name="second", tags=WORKER_TAG),
            Node(timed, "a", "alone", name="alone", tags=ALL_CORES_TAG),
        ]
    )
    catalog = DataCatalog({name: MemoryDataset() for name in ("first", "second", "alone")})
    catalog["a"] = MemoryDataset(1)
    add_params(catalog, "runner", {"workers": 2})
    SkippingRunner().run(pipeline, catalog)
    spans = {name: catalog.load(name) for name in ("first", "second", "alone")}
    assert max(spans["first"][0], spans["second"][0]) < min(spans["first"][1], spans["second"][1])  # overlap
    for worker in ("first", "second"):
        assert spans["alone"][1] <= spans[worker][0] or spans["alone"][0] >= spans[worker][1]  # never beside


def test_a_node_failing_in_the_run_process_stops_the_run_after_the_worker_beside_it_is_saved():
    pipeline = Pipeline(
        [
            Node(double, "a", "x", name="quick", tags=WORKER_TAG),
            Node(slow_double, "a", "doubled", name="double", tags=WORKER_TAG),
            Node(fail, "x", "failed", name="fail_here"),  # starts once "quick" is back, "double" still running
        ]
    )
    catalog = DataCatalog({name: MemoryDataset() for name in ("x", "doubled", "failed")})
    catalog["a"] = MemoryDataset(21)
    add_params(catalog, "runner", {"workers": 2})
    with pytest.raises(ValueError, match="bad value 42 in node input"):
        SkippingRunner().run(pipeline, catalog)
    assert catalog.load("doubled") == 42  # running in a worker when the other failed here: waited for, saved
