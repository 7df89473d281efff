"""Shared fixtures: the project's own parameters, and the sample world run on a temp catalog."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from engagement_lab.pipelines.sample_world import create_pipeline

PROJECT = Path(__file__).resolve().parents[1]
FORMATS = ["smpd", "pixelrec", "crowdtangle", "instaloader"]


def world_params(**overrides) -> dict:
    """The ``sample_world`` parameters exactly as conf/base has them, with overrides."""
    params = yaml.safe_load((PROJECT / "conf/base/parameters_sample_world.yml").read_text())["sample_world"]
    params = copy.deepcopy(params)
    params.update(overrides)
    return params


def project_catalog(root: Path) -> DataCatalog:
    """conf/base/catalog.yml as users have it, with every ``data/`` path moved under ``root``."""
    text = (PROJECT / "conf/base/catalog.yml").read_text().replace("data/", f"{root}/data/")
    return DataCatalog.from_config(yaml.safe_load(text))


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
