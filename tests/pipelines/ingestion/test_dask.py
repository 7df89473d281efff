"""The ``dask`` environment (conf/dask) ingests PixelRec through a local Dask cluster of two worker processes
and writes the same canonical interactions, quarantine and reconciliation as the default pandas path."""

from __future__ import annotations

from pathlib import Path

import distributed
import pandas as pd
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from engagement_lab.ingestion.interactions import partitions_frame
from engagement_lab.pipelines.demo import on_sample_world
from engagement_lab.pipelines.ingestion import create_pipeline
from tests.conftest import PROJECT


def moved(config: object, world: Path, root: Path) -> object:
    """The catalog's ``data/`` paths under ``root``, the sample world's raw folders under ``world``'s."""
    if isinstance(config, dict):
        return {key: moved(value, world, root) for key, value in config.items()}
    if isinstance(config, str) and config.startswith("data/"):
        return str((world if config.startswith("data/01_raw/sample_world") else root) / config)
    return config


def dask_environment(world: Path, root: Path) -> tuple[DataCatalog, dict]:
    """The catalog and ingestion parameters of ``kedro run --env=dask`` (conf/base under conf/dask)."""
    loader = OmegaConfigLoader(
        str(PROJECT / "conf"), base_env="base", default_run_env="dask", merge_strategy={"parameters": "soft"}
    )
    entries = {name: entry for name, entry in loader["catalog"].items() if not name.startswith("_")}
    return DataCatalog.from_config(moved(entries, world, root)), loader["parameters"]["ingestion"]


def pixelrec(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["source"] == "pixelrec"].reset_index(drop=True)


def test_the_dask_environment_writes_the_pandas_paths_interactions(tiny_world, tiny_ingested, tmp_path):
    raw, _ = tiny_world
    catalog, params = dask_environment(raw.parents[2], tmp_path)
    assert params["interactions_engine"] == "dask" and params["max_rejected_share"] == 0.05  # merged over base
    catalog["params:ingestion"] = {
        **params,
        "sources": ["pixelrec"],
        "dask": {**params["dask"], "blocksize": "8KB"},  # several blocks, so several workers' parts
    }
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        distributed.Client(cluster),
    ):
        SequentialRunner().run(on_sample_world(create_pipeline()), catalog)
        written = catalog.load("interactions")  # dask.ParquetDataset: a lazy frame of the workers' parts
        assert written.npartitions > 3
        interactions = written.compute().reset_index(drop=True)

    want = partitions_frame(tiny_ingested.load("interactions"))
    assert len(want) > 1000
    pd.testing.assert_frame_equal(interactions, want)
    pd.testing.assert_frame_equal(pixelrec(catalog.load("quarantine")), pixelrec(tiny_ingested.load("quarantine")))
    pd.testing.assert_frame_equal(
        pixelrec(catalog.load("ingestion_reconciliation")), pixelrec(tiny_ingested.load("ingestion_reconciliation"))
    )
