"""Losses are loud and errors come together: the rejected-share limit, sources with no posts,
every source's reader errors in one message, and ``sources: auto``."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from engagement_lab.ingestion.common import Ingested, IngestionError, Issues, conform, empty
from engagement_lab.pipelines.ingestion import create_pipeline, nodes
from engagement_lab.pipelines.ingestion.nodes import READERS, TABLES, combine_sources, make_reader
from tests.conftest import base_params
from tests.ingestion.raw_folders import (
    CROWDTANGLE_COLUMNS,
    PIXELREC_COLUMNS,
    csv_text,
    load,
    pixelrec_row,
    smpd_files,
    write,
)


def part(source: str, n_in: int, reasons: list[str]) -> Ingested:
    """``n_in`` post records of ``source``: one rejected per reason, the rest kept."""
    issues = Issues(source)
    for i, reason in enumerate(reasons):
        issues.add("posts", "posts.csv", f"row {i}", "field", reason)
    kept = n_in - len(reasons)
    posts = pd.DataFrame({"post_id": [f"{source}:{i}" for i in range(kept)], "source": source})
    tables = {t: empty(t) for t in TABLES} | {"posts": conform(posts, "posts")}
    return Ingested(source, tables, issues.frame(), {"posts": n_in})


def run_pipeline(tmp_path: Path, present: dict[str, dict], **overrides) -> DataCatalog:
    """The ingestion pipeline on raw folders written under ``tmp_path`` (absent ones stay absent)."""
    catalog = DataCatalog()
    for source in READERS:
        root = tmp_path / source
        if source in present:
            write(root, present[source])
        catalog[f"raw_{source}"] = load(root)
    catalog["params:ingestion"] = base_params("ingestion", **overrides)
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


def pixelrec_files(n: int, n_without_id: int = 0) -> dict[str, str]:
    rows = [pixelrec_row(str(i), "a") for i in range(n)] + [pixelrec_row("", "a") for _ in range(n_without_id)]
    return {"item_info.csv": csv_text(PIXELREC_COLUMNS, rows)}


def test_the_defaults_are_auto_and_a_five_percent_share():
    params = base_params("ingestion")
    assert params["sources"] == "auto" and params["max_rejected_share"] == 0.05


def test_a_source_over_the_rejected_share_stops_the_run_naming_share_reasons_and_parameter():
    reasons = ["no post id in URL"] * 3 + ["Post Created is not a time"] * 2 + ["duplicate", "other"]
    with pytest.raises(IngestionError) as caught:
        combine_sources(part("crowdtangle", 100, reasons), part("smpd", 100, []), base_params("ingestion"))
    message = str(caught.value)
    assert message.startswith("crowdtangle: 7 of 100 posts rejected (7.0%)")
    assert "'no post id in URL' x 3; 'Post Created is not a time' x 2; " in message and message.count(" x ") == 3
    assert "raise ingestion.max_rejected_share" in message and "smpd" not in message


def test_a_loss_under_the_share_is_logged_as_a_warning(caplog):
    caplog.set_level(logging.INFO, logger=nodes.__name__)
    combine_sources(part("smpd", 100, ["duplicate Pid"] * 5), part("pixelrec", 10, []), base_params("ingestion"))
    levels = {r.getMessage().split(":")[0]: r.levelno for r in caplog.records if "records in" in r.getMessage()}
    assert levels == {"smpd/posts": logging.WARNING, "pixelrec/posts": logging.INFO}


@pytest.mark.parametrize(("n_in", "reasons"), [(2, ["bad", "bad"]), (0, [])])
def test_a_source_read_with_no_canonical_posts_is_always_an_error(n_in, reasons):
    params = base_params("ingestion", max_rejected_share=1.0)
    with pytest.raises(IngestionError, match=r"^smpd: 0 canonical posts"):
        combine_sources(part("smpd", n_in, reasons), part("pixelrec", 10, []), params)


def test_every_sources_errors_are_reported_together(tmp_path):
    smpd = smpd_files()
    smpd["train_allmetadata_json/train_category.json"] = '[{"Pid": '
    present = {
        "smpd": smpd,
        "crowdtangle": {"posts.csv": csv_text(CROWDTANGLE_COLUMNS[:5], [["a"] * 5])},
        "pixelrec": pixelrec_files(2, n_without_id=2),
    }
    with pytest.raises(IngestionError) as caught:
        run_pipeline(tmp_path, present)
    lines = str(caught.value).split("\n- ")
    assert lines[0] == "ingestion failed with 3 problems:"
    assert lines[1].startswith("smpd: train_allmetadata_json/train_category.json is not valid JSON")
    assert lines[2].startswith("crowdtangle: posts.csv lacks columns")
    assert lines[3].startswith("pixelrec: 2 of 4 posts rejected (50.0%)") and "'item without item_id' x 2" in lines[3]


def test_a_bug_in_a_reader_still_propagates(tmp_path, monkeypatch):
    def broken(folder, params):
        raise KeyError("a bug")

    monkeypatch.setitem(READERS, "pixelrec", broken)
    with pytest.raises(KeyError, match="a bug"):
        make_reader("pixelrec")(load(write(tmp_path, pixelrec_files(2))), base_params("ingestion"))


def test_auto_reads_the_sources_present_and_logs_the_absent_ones(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=nodes.__name__)
    catalog = run_pipeline(tmp_path, {"pixelrec": pixelrec_files(3)})
    assert catalog.load("posts")["source"].tolist() == ["pixelrec"] * 3
    absent = [r for r in caplog.records if "not present" in r.getMessage()]
    assert sorted(r.getMessage() for r in absent) == sorted(
        f"{s}: not present: {tmp_path / s}" for s in ("smpd", "crowdtangle", "instaloader")
    )
    assert {r.levelno for r in absent} == {logging.INFO}


def test_auto_with_no_source_present_says_where_it_looked_and_how_to_provide_data(tmp_path):
    with pytest.raises(IngestionError) as caught:
        run_pipeline(tmp_path, {})
    message = str(caught.value)
    assert message.startswith("ingestion.sources is auto but no raw folder has data")
    assert all(f"{s}: {tmp_path / s}" in message for s in READERS)
    assert "data/01_raw/<source>/" in message and "conf/local/catalog.yml" in message and "make run" in message


def test_an_explicit_list_keeps_a_missing_source_an_error(tmp_path):
    with pytest.raises(IngestionError, match=r"^smpd is selected in ingestion.sources but .*smpd is missing or empty"):
        run_pipeline(tmp_path, {"pixelrec": pixelrec_files(3)}, sources=["pixelrec", "smpd"])
    catalog = run_pipeline(tmp_path / "listed", {"pixelrec": pixelrec_files(3)}, sources=["pixelrec"])
    assert len(catalog.load("posts")) == 3
