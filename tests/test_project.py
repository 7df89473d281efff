"""The project as users drive it: the kedro CLI, the registry, one MLflow run per kedro run."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT

KEDRO = str(Path(sys.executable).parent / "kedro")


def ignore_local_conf(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n != ".gitkeep"] if Path(folder).name == "local" else []


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory) -> Path:
    """pyproject.toml and conf/ in a temp folder: a run there writes its own data/ and mlflow.db."""
    root = tmp_path_factory.mktemp("project")
    shutil.copy(PROJECT / "pyproject.toml", root)
    # conf/ as a fresh clone has it: conf/local holds only its .gitkeep.
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=ignore_local_conf)
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return root


def kedro(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DO_NOT_TRACK": "true", "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    result = subprocess.run([KEDRO, *args], check=False, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_registry_lists_the_pipelines(project_copy):
    out = kedro(project_copy, "registry", "list").stdout
    for name in [
        "__default__",
        "demo",
        "sample_world",
        "ingestion",
        "features",
        "engagement_clustering",
        "pretraining",
        "transfer_evaluation",
        "user_environment",
        "dual_attention",
        "engagement",
        "ppcl",
        "reporting",
        "predict",
    ]:
        assert f"- {name}" in out


def test_kedro_run_writes_the_world_and_one_mlflow_run(project_copy):
    kedro(project_copy, "run", "--pipelines=sample_world", "--params=sample_world.preset=tiny,sample_world.seed=3")
    raw = project_copy / "data/01_raw/sample_world"
    assert len((raw / "smpd/train_label.txt").read_text().splitlines()) == 400
    assert (project_copy / "data/09_ground_truth/sample_world/posts.parquet").is_file()
    versions = list((project_copy / "data/08_reporting/sample_world/summary.json").iterdir())
    assert len(versions) == 1
    with sqlite3.connect(project_copy / "mlflow.db") as db:
        runs = db.execute("select run_uuid, status from runs").fetchall()
        params = dict(db.execute("select key, value from params").fetchall())
    assert len(runs) == 1 and runs[0][1] == "FINISHED"
    # Parameters are flattened, one MLflow param per leaf, with the runtime override applied.
    assert params["sample_world.preset"] == "tiny"
    assert params["sample_world.seed"] == "3"
    assert params["sample_world.presets.smpd.n_posts"] == "305000"


def test_kedro_run_ingestion_logs_the_reconciliation_to_mlflow(project_copy):
    # The demo's first two steps in one run: its ingestion reads the folders the sample world writes.
    kedro(
        project_copy, "run", "--pipelines=demo", "--to-outputs=ingestion_metrics", "--params=sample_world.preset=tiny"
    )
    assert (project_copy / "data/03_primary/posts.parquet").is_file()
    with sqlite3.connect(project_copy / "mlflow.db") as db:
        metrics = dict(db.execute("select key, value from metrics").fetchall())
    for source in ["smpd", "pixelrec", "crowdtangle", "instaloader"]:
        assert metrics[f"ingestion.{source}.posts.records_in"] == 400
        assert metrics[f"ingestion.{source}.posts.canonical"] == 400
        assert metrics[f"ingestion.{source}.posts.rejected"] == 0


def test_notebook_draws_figure_1_from_the_catalog(project_copy):
    """The notebook runs top to bottom on the world written above and draws its three panels."""
    import nbformat
    from nbclient import NotebookClient

    if not (project_copy / "data/01_raw/sample_world/smpd/train_label.txt").exists():
        kedro(project_copy, "run", "--pipelines=sample_world", "--params=sample_world.preset=tiny")
    notebook = nbformat.read(PROJECT / "notebooks/sample_world_figure1.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(project_copy)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs)
    assert "400 posts by 30 users" in text
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 1
