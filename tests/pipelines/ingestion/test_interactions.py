"""The canonical ``interactions`` of the tiny world, streamed into parquet parts, are what the whole-file
reader gave before issue 22, and the quarantine holds the same rows in the same order."""

from __future__ import annotations

import pandas as pd

from engagement_lab.ingestion.common import Issues
from engagement_lab.ingestion.interactions import partitions_frame, stream_interactions
from tests.ingestion.raw_folders import load
from tests.ingestion.test_interactions_stream import whole_file_reader


def pixelrec_items(catalog) -> pd.Series:
    posts = catalog.load("posts")
    return posts.loc[posts["source"] == "pixelrec", "native_id"]


def test_tiny_world_interactions_equal_the_whole_file_reader(tiny_world, tiny_ingested):
    raw, _ = tiny_world
    folder = load(raw / "pixelrec")
    want, want_issues, n = whole_file_reader(folder, "interactions.csv", pixelrec_items(tiny_ingested))
    assert len(want) > 1000
    got = tiny_ingested.load("interactions")  # the catalog's PartitionedDataset: {part: loader}
    pd.testing.assert_frame_equal(partitions_frame(got), want)
    quarantine = tiny_ingested.load("quarantine")
    mine = quarantine[(quarantine["source"] == "pixelrec") & (quarantine["table"] == "interactions")]
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), want_issues)
    reconciliation = tiny_ingested.load("ingestion_reconciliation").set_index(["source", "table"])
    assert reconciliation.loc[("pixelrec", "interactions"), "records_in"] == n
    assert reconciliation.loc[("pixelrec", "interactions"), "canonical"] == len(want)


def test_tiny_world_interactions_in_many_small_blocks_are_the_same_table(tiny_world, tiny_ingested):
    raw, _ = tiny_world
    staged, n = stream_interactions(
        load(raw / "pixelrec"),
        "interactions.csv",
        pixelrec_items(tiny_ingested),
        Issues("pixelrec"),
        {"interactions_block_bytes": 2048},
    )
    assert len(staged.paths) > 10
    pd.testing.assert_frame_equal(staged.frame(), partitions_frame(tiny_ingested.load("interactions")))
