"""Shared fixtures: the project's own parameters, and the sample world run on a temp catalog."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from kedro.io import DataCatalog
from kedro.io.core import generate_timestamp
from kedro.runner import SequentialRunner

from engagement_lab.pipelines.demo import on_sample_world
from engagement_lab.pipelines.features import create_pipeline as features_pipeline
from engagement_lab.pipelines.ingestion import create_pipeline as ingestion_pipeline
from engagement_lab.pipelines.sample_world import create_pipeline
from engagement_lab.world.truth import NATIVE_POST_ID

PROJECT = Path(__file__).resolve().parents[1]
# Catalog entries that log to MLflow need a tracking store: a throw-away SQLite one.
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tempfile.mkdtemp(prefix='mlflow-tests-')}/mlflow.db")
FORMATS = ["smpd", "pixelrec", "crowdtangle", "instaloader"]
NATIVE_ID = NATIVE_POST_ID  # the ground-truth column holding each format's native post id


@pytest.fixture(autouse=True)
def no_mlflow_run_left_active():
    """Saving an MLflow metrics dataset outside a kedro-mlflow session makes MLflow start a run on its own and
    leave it active; end it after each test, so a later test that points MLflow at another store (the registry
    tests) does not inherit a run that store has never seen."""
    yield
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


def run_torchrun(root: Path, module: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --standalone --nproc_per_node=2 -m <module> <args>`` in the project ``root``
    (two CPU processes over Gloo), without the caller's MLflow URI; asserts it exits 0, showing the log if not."""
    base = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", module, *args],
        check=False,
        cwd=root,
        env={**base, "OMP_NUM_THREADS": "1", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def base_params(name: str, **overrides) -> dict:
    """The ``name`` parameters exactly as conf/base has them, with overrides."""
    params = yaml.safe_load((PROJECT / f"conf/base/parameters_{name}.yml").read_text())[name]
    params = copy.deepcopy(params)
    params.update(overrides)
    return params


def world_params(**overrides) -> dict:
    return base_params("sample_world", **overrides)


def add_params(catalog: DataCatalog, name: str, params: dict) -> DataCatalog:
    """``params:<name>`` and every nested ``params:<name>.<key>...``, as a Kedro session adds them."""
    catalog[f"params:{name}"] = params
    if isinstance(params, dict):
        for key, value in params.items():
            add_params(catalog, f"{name}.{key}", value)
    return catalog


def run_ingestion(catalog: DataCatalog, **overrides) -> DataCatalog:
    """Run the ingestion pipeline, as the demo wires it, on a catalog that already holds a written world."""
    catalog["params:ingestion"] = base_params("ingestion", **overrides)
    SequentialRunner().run(on_sample_world(ingestion_pipeline()), catalog)
    return catalog


def project_catalog(root: Path) -> DataCatalog:
    """conf/base/catalog*.yml as users have them, with every ``data/`` path moved under ``root``."""
    config: dict = {}
    for path in sorted((PROJECT / "conf/base").glob("catalog*.yml")):
        text = path.read_text().replace("data/", f"{root}/data/")
        config.update({name: entry for name, entry in yaml.safe_load(text).items() if not name.startswith("_")})
    # One save version for the whole catalog, as a session gives it: versioned dataset factories
    # materialised later in the run must share it.
    return DataCatalog.from_config(config, save_version=generate_timestamp())


def run_sample_world(root: Path, params: dict) -> DataCatalog:
    """Run the whole sample_world pipeline on the project catalog re-rooted at ``root``."""
    catalog = project_catalog(root)
    catalog["params:sample_world"] = params
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> tuple[Path, DataCatalog]:
    """The tiny preset with every defect kind injected, written once per test session.

    Returns the raw folder (``<root>/data/01_raw/sample_world``) and the catalog."""
    root = tmp_path_factory.mktemp("tiny_world")
    catalog = run_sample_world(root, world_params(preset="tiny", defect_share=0.02))
    return root / "data/01_raw/sample_world", catalog


@pytest.fixture(scope="session")
def tiny_ingested(tiny_world):
    """The tiny world with every defect, ingested from all four formats."""
    _, catalog = tiny_world
    return run_ingestion(catalog)


# Smaller image inputs keep the suite fast on 2 cores; the encoders are the real ones.
FAST_FEATURES = {"image_size": 96, "device": "cpu"}


@pytest.fixture(scope="session")
def tiny_featured(tiny_ingested):
    """The ingested tiny world with its frozen image and text embeddings (read-only: shared)."""
    catalog = tiny_ingested
    catalog["params:features"] = base_params("features", **FAST_FEATURES)
    SequentialRunner().run(features_pipeline(), catalog)
    return catalog


@pytest.fixture
def registry(tmp_path):
    """An MLflow client on an empty SQLite tracking store and model registry under ``tmp_path``."""
    import mlflow

    while mlflow.active_run() is not None:  # one a fixture's pipeline run left in the default store
        mlflow.end_run()
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield mlflow.MlflowClient()
    mlflow.set_tracking_uri(previous)
