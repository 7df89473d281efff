"""notebooks/tour.ipynb executed as a person runs it: a Jupyter kernel started in the project's notebooks/ folder,
on a project where the models predict uses are trained, predict has run, the three scorers are registered in the
project's own MLflow store (``sqlite:///${project_root:}/mlflow.db`` of conf/base/mlflow.yml) and a PPCL results contract exists.

It lives beside the predict tests because it reuses their session fixtures (the trained tiny world, predict's run,
the registered scorers): pytest shares a conftest's fixtures only with the tests below it."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from tests.conftest import PROJECT, project_catalog
from tests.pipelines.reporting.contracts import ppcl_contract

NOTEBOOK = PROJECT / "notebooks/tour.ipynb"
CELL_TIMEOUT_S = 600
# kedro.ipython shows values and logs through rich: colour codes and terminal links in the plain-text outputs.
ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\")


def _sqlite_path(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///"))


def _files(root: Path) -> set[Path]:
    """Every file and folder under ``root``, without going into ``data/`` (links to the trained project's data) or
    ``src/`` (a copy of the code)."""
    found = set()
    for folder, names, files in os.walk(root):
        if Path(folder) == root:
            names[:] = [n for n in names if n not in ("data", "src")]
        found.update(Path(folder) / n for n in [*names, *files])
    return found


@pytest.fixture(scope="module")
def notebook_project(predicted, scorers, tmp_path_factory) -> Path:
    """A Kedro project (pyproject.toml, conf/ as a fresh clone has it, a copy of src/) whose data/ is the trained tiny world's
    (linked; data/08_reporting copied, with a PPCL results contract saved through the catalog), whose mlflow.db is
    the store the scorers were registered in, and whose notebooks/ holds the notebook."""
    trained, _ = predicted
    store, _ = scorers
    root = tmp_path_factory.mktemp("notebook_project")
    shutil.copy(PROJECT / "pyproject.toml", root)
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("credentials.yml"))
    for local in (root / "conf/local").iterdir():
        if local.name != ".gitkeep":
            shutil.rmtree(local) if local.is_dir() else local.unlink()
    # Kedro checks that the source folder lies inside the project (a link out of it does not); the package itself
    # is imported from the venv's install.
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (root / "data").mkdir()
    for child in (trained / "data").iterdir():
        if child.name != "08_reporting":
            (root / "data" / child.name).symlink_to(child)
    if (trained / "data/08_reporting").is_dir():
        shutil.copytree(trained / "data/08_reporting", root / "data/08_reporting")
    project_catalog(root).save("ppcl_metrics", ppcl_contract())
    shutil.copy(_sqlite_path(store), root / "mlflow.db")
    (root / "notebooks").mkdir()
    shutil.copy(NOTEBOOK, root / "notebooks")
    return root


@pytest.fixture(scope="module")
def executed(notebook_project) -> tuple[nbformat.NotebookNode, set[Path], set[Path]]:
    """The notebook run top to bottom in a kernel started in notebooks/, with no MLflow URI in its environment (as
    a person's Jupyter has none); the project's files before and after."""
    root = notebook_project
    before = _files(root)
    notebook = nbformat.read(root / "notebooks/tour.ipynb", as_version=4)
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        NotebookClient(
            notebook,
            timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": str(root / "notebooks")}},
        ).execute()
    finally:
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return notebook, before, _files(root)


def _outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def _text(notebook: nbformat.NotebookNode) -> str:
    """What the notebook shows as text: printed lines and each displayed value's plain-text form."""
    parts = []
    for output in _outputs(notebook):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return ANSI.sub("", "\n".join(parts))


def _result(notebook: nbformat.NotebookNode, code: str) -> str:
    """The value shown by the code cell whose source has ``code``, as plain text."""
    cell = next(c for c in notebook.cells if c.cell_type == "code" and code in c.source)
    shown = [o["data"]["text/plain"] for o in cell.outputs if o["output_type"] == "execute_result"]
    assert shown, f"the cell with {code!r} shows no value"
    return ANSI.sub("", shown[-1])


def _html(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(o.get("data", {}).get("text/html", "") for o in _outputs(notebook))


@pytest.mark.slow
def test_every_cell_runs_and_shows_the_tables_the_contract_and_two_figures(executed, notebook_project):
    notebook, _, _ = executed
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in code), "a code cell did not run"
    assert not [o for o in _outputs(notebook) if o["output_type"] == "error"]
    text = _text(notebook)
    posts = pd.read_parquet(notebook_project / "data/03_primary/posts.parquet")
    users = posts["user_id"].nunique()
    assert f"{len(posts):,} posts by {users:,} users" in text
    # The posts per source, as a table: each source of the canonical posts with its count.
    for source, count in posts["source"].value_counts().items():
        assert re.search(rf"{source}\s+{count}\b", text), f"{source} {count} not in the per-source table"
    # The results contracts: the one that exists is listed with its models, the rest say they have not run.
    assert "ppcl            smpd: data/01_raw/sample_world/smpd: 18 models, seed [0, 1, 2]" in text
    assert "vise            not run yet (vise_metrics does not exist)" in text
    # The report's summary, honest that PPCL loses here, and the report's table with the paper beside ours.
    assert "**PPCL** (`full`) on `test_mae` (↓ lower is better): 0.834 ± 0.028" in text
    assert "It loses to the best baseline, `catboost` (0.823) by 0.011" in text
    assert "full (PPCL)" in _html(notebook) and "test_mae (paper)" in _html(notebook)
    figures = [o for o in _outputs(notebook) if "image/png" in o.get("data", {})]
    assert len(figures) == 2


@pytest.mark.slow
def test_the_registered_model_scores_a_post_as_predict_did(executed, notebook_project):
    notebook, _, _ = executed
    text = _text(notebook)
    registered = _result(notebook, "client.search_registered_models()")
    assert re.search(r"\sppcl\.full\s+1\s", registered), registered  # ppcl.full, version 1
    assert "models:/ppcl.full/1" in text and "'caption': string (required)" in text  # the named signature
    # The scores table: the good post scored with a popularity, the bad one an error naming the missing image.
    scores = _result(notebook, "scores = model.predict(request)")
    statuses = [line.split()[-1] for line in scores.splitlines() if line[:1].isdigit()][:2]  # rows 0 and 1
    assert statuses == ["scored", "error"], scores
    assert "popularity" in scores and "views_per_day" in scores
    assert "image missing" in _html(notebook)
    served, predicted = map(
        float, re.search(r"popularity ([\d.]+) \(registered model\) vs ([\d.]+) \(predict pipeline\)", text).groups()
    )
    assert served == pytest.approx(predicted, abs=1e-5)
    newest = sorted((notebook_project / "data/07_model_output/predictions.parquet").glob("*/predictions.parquet"))[-1]
    table = pd.read_parquet(newest)  # the version catalog.load("predictions") gives: other tests run predict too
    first = table[(table["status"] == "scored") & table["known_user"]].iloc[0]
    assert predicted == pytest.approx(first["ppcl_popularity"], abs=1e-5)


@pytest.mark.slow
def test_the_notebook_uses_the_projects_mlflow_store_and_makes_no_other(executed, notebook_project):
    notebook, before, after = executed
    root = notebook_project
    text = _text(notebook)
    assert f"MLflow:   sqlite:///{(root / 'mlflow.db').resolve()}" in text  # conf's ${project_root:}, absolute
    assert not (root / "notebooks/mlflow.db").exists() and not (root / "notebooks/mlruns").exists()
    assert not (root / "mlruns").exists()
    stores = sorted(p for p in after if p.suffix == ".db" or p.name == "mlruns")
    assert stores == [root / "mlflow.db"], stores
    new = sorted(str(p.relative_to(root)) for p in after - before)
    assert not [p for p in new if p.startswith(("notebooks", "conf", "src"))], new
    # kedro-mlflow set up the project's own store: its experiment is there, beside the registered scorers.
    with sqlite3.connect(root / "mlflow.db") as db:
        experiments = {name for (name,) in db.execute("select name from experiments")}
        models = {name for (name,) in db.execute("select name from registered_models")}
    assert "engagement_lab" in experiments and "ppcl.full" in models
