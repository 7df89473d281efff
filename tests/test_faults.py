"""Faults (issue 18, items 7-9), with real ``kedro run``s in a copy of the project:

* a save that fails leaves the node's previous outputs, never a mix (and no half version folder);
* two runs of one project at once are serialised, or the second stops at once naming the first;
* a run that dies does not stay RUNNING in MLflow.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from engagement_lab.run_safety import RUN_LOCK_WAIT_ENV, OutputJournal, stale_journals
from tests.conftest import PROJECT
from tests.test_project import KEDRO, ignore_local_conf

INGEST = ["run", "--pipelines=demo", "--to-outputs=ingestion_metrics"]
WORLD = ["run", "--pipelines=sample_world"]
TINY = "--params=sample_world.preset=tiny"


def copy_project(root: Path) -> Path:
    """pyproject.toml, conf/ (as a fresh clone has it) and src/ in ``root``: a run there has its own data/ and
    mlflow.db."""
    shutil.copy(PROJECT / "pyproject.toml", root)
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=ignore_local_conf)
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return root


def kedro_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DO_NOT_TRACK": "true",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "COLUMNS": "400",  # rich wraps logs and tracebacks at the terminal width: keep messages on one line
        **extra,
    }


def start(root: Path, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [KEDRO, *args], cwd=root, env=kedro_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def run(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KEDRO, *args], cwd=root, env=kedro_env(**env), capture_output=True, text=True, timeout=600, check=False
    )


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout[-4000:] + result.stderr[-4000:]


def query(root: Path, sql: str, *args: object) -> list[tuple]:
    """Rows from the project's MLflow store. Every row is read and the connection closed: a statement left open
    would hold SQLite's lock against the run being watched."""
    with closing(sqlite3.connect(root / "mlflow.db")) as db:
        return db.execute(sql, args).fetchall()


def mlflow_runs(root: Path) -> list[tuple[str, str, int, int | None]]:
    """(run id, status, start, end) of every MLflow run in the project's store, oldest first."""
    return query(root, "select run_uuid, status, start_time, end_time from runs order by start_time")


def mlflow_tag(root: Path, run_id: str, key: str) -> str | None:
    rows = query(root, "select value from tags where run_uuid = ? and key = ?", run_id, key)
    return rows[0][0] if rows else None


def wait_for_running_run(root: Path, process: subprocess.Popen, seen: set[str], timeout: float = 180) -> str:
    """The id of the MLflow run ``process`` started (a RUNNING run not in ``seen``), once it exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be stopped: " + process.stdout.read()[-3000:]
        if (root / "mlflow.db").exists():
            try:
                running = [r[0] for r in mlflow_runs(root) if r[1] == "RUNNING" and r[0] not in seen]
            except sqlite3.OperationalError:  # tables not created yet
                running = []
            if running:
                return running[0]
        time.sleep(0.1)
    raise AssertionError("no MLflow run started")


def file_bytes(folder: Path) -> dict[str, bytes]:
    """Every parquet file under ``folder`` (the interactions table is a folder of parts), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet")) if p.is_file()}


def versions(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


# --------------------------------------------------------------------------------- 7. outputs all-or-nothing
@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """A project copy after one sample world + ingestion run."""
    root = copy_project(tmp_path_factory.mktemp("ingested"))
    result = run(root, *INGEST, TINY)
    assert result.returncode == 0, output(result)
    return root


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """``path`` cannot be written: read-only for a user, immutable (``chattr +i``) for root, whom modes do not
    stop."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode != 0:
        pytest.skip("running as root, and this file system has no immutable attribute (chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@contextmanager
def images_unwritable(root: Path) -> Iterator[str]:
    """The issue's case: ``images`` (the 4th of combine_sources' 7 outputs) cannot be written."""
    with unwritable(root / "data/03_primary/images.parquet"):
        yield "images"


@contextmanager
def reconciliation_unwritable(root: Path) -> Iterator[str]:
    """The last output fails after a new quarantine *version folder* was written: a file where the versioned
    reconciliation's folder should be."""
    folder = root / "data/08_reporting/ingestion/reconciliation.csv"
    shutil.rmtree(folder)
    folder.write_text("not a folder")
    yield "ingestion_reconciliation"


@pytest.mark.parametrize("fault", [images_unwritable, reconciliation_unwritable])
def test_a_failed_save_leaves_the_previous_outputs(ingested, tmp_path, fault):
    root = tmp_path / "project"
    shutil.copytree(ingested, root, symlinks=True)
    primary, quarantine = root / "data/03_primary", root / "data/02_intermediate/quarantine.parquet"
    tables, quarantine_versions = file_bytes(primary), versions(quarantine)
    tables_written = {f"{t}.parquet" for t in ["posts", "users", "comments", "images"]}
    assert set(tables) == tables_written | {"interactions.parquet/part-000000.parquet"}

    with fault(root) as failing:
        # Another world seed: every canonical table of this run differs from the first run's.
        result = run(root, *INGEST, "--params=sample_world.preset=tiny,sample_world.seed=11")
    assert result.returncode != 0
    assert f"DatasetError: {failing}: " in result.stdout + result.stderr  # the save that failed, named

    assert file_bytes(primary) == tables  # byte for byte the first run's set, not a mix
    assert versions(quarantine) == quarantine_versions  # no version folder left by the failed node
    reconciliation = root / "data/08_reporting/ingestion/reconciliation.csv"
    if reconciliation.is_dir():
        assert len(versions(reconciliation)) == 1
    leftovers = [p for p in (root / "data").rglob("*") if p.is_file() and ".partial" in p.name]
    assert leftovers == []
    assert list((root / "data/.run_safety/journal").rglob("*.json")) == []


def test_a_journal_left_by_a_killed_run_is_rolled_back(tmp_path):
    """A process killed in the middle of a node's saves leaves its journal; the next run puts back what it held."""
    table, version = tmp_path / "data/posts.parquet", tmp_path / "data/quarantine.parquet/2026-01-01T00.00.00.000Z"
    table.parent.mkdir()
    table.write_bytes(b"previous table")
    journal_path = tmp_path / "journal/run-1/combine_sources.json"
    journal = OutputJournal(journal_path, "combine_sources")
    journal.record("posts", table)
    journal.record("quarantine", version)
    table.write_bytes(b"half of the new")  # the saves had begun when the process died
    version.mkdir(parents=True)
    (version / "quarantine.parquet").write_bytes(b"new")
    dead = subprocess.Popen(["true"])
    dead.wait()
    journal_path.write_text(journal_path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {dead.pid}'))

    assert stale_journals(tmp_path / "journal", current_run=tmp_path / "journal/run-2") == [journal_path]
    OutputJournal.read(journal_path)[0].rollback()
    assert table.read_bytes() == b"previous table"
    assert not version.parent.exists()  # the versioned folder did not exist before the save
    assert not journal_path.exists()


# --------------------------------------------------------------------------------- 8. two runs at once
def test_two_runs_at_once_are_serialised(tmp_path):
    """In a fresh folder (no MLflow store yet) two runs start together; told to wait, the second waits for the
    first, so neither trips over MLflow's set-up and their runs do not overlap."""
    root = copy_project(tmp_path)
    runs = [start(root, *WORLD, f"{TINY},sample_world.seed={seed}", **{RUN_LOCK_WAIT_ENV: "600"}) for seed in (1, 2)]
    outputs = [process.communicate(timeout=600)[0] for process in runs]
    for process, text in zip(runs, outputs, strict=True):
        assert process.returncode == 0, text[-4000:]
    (first, *_, first_end), (second, _, second_start, _) = mlflow_runs(root)
    assert [status for _, status, _, _ in mlflow_runs(root)] == ["FINISHED", "FINISHED"]
    assert first_end <= second_start  # one after the other
    assert query(root, "select name from experiments where name = 'engagement_lab'") == [("engagement_lab",)]
    assert len(versions(root / "data/08_reporting/sample_world/summary.json")) == 2


def test_a_second_run_stops_at_once_naming_the_first(tmp_path):
    root = copy_project(tmp_path)
    # The first run must outlast the second one's start-up (~10-20 s, longer on a loaded box): the demo world.
    first = start(root, *WORLD, "--params=sample_world.preset=demo")
    wait_for_running_run(root, first, seen=set())
    second = run(root, *WORLD, f"{TINY},sample_world.seed=2")
    assert first.poll() is None, "the first run ended before the second one started: the lock was not tested"
    first_output = first.communicate(timeout=600)[0]

    assert second.returncode != 0
    message = second.stdout + second.stderr
    assert "Another kedro run is using this project" in message
    assert f"held by pid {first.pid} on host" in message
    assert RUN_LOCK_WAIT_ENV in message
    assert first.returncode == 0, first_output[-4000:]
    # The second run stopped before kedro-mlflow opened a run for it.
    assert [status for _, status, _, _ in mlflow_runs(root)] == ["FINISHED"]


# --------------------------------------------------------------------------------- 9. runs that die
@pytest.fixture(scope="module")
def world_project(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("killed"))


def test_a_killed_run_is_marked_killed_by_the_next_run(world_project):
    root = world_project
    seen = {r[0] for r in mlflow_runs(root)} if (root / "mlflow.db").exists() else set()
    process = start(root, *WORLD, TINY)
    killed = wait_for_running_run(root, process, seen)
    process.kill()  # SIGKILL: nothing in the process can react
    process.communicate(timeout=60)
    assert dict((r[0], r[1]) for r in mlflow_runs(root))[killed] == "RUNNING"

    result = run(root, *WORLD, TINY)
    assert result.returncode == 0, output(result)
    assert dict((r[0], r[1]) for r in mlflow_runs(root))[killed] == "KILLED"
    assert f"its process {process.pid} on" in mlflow_tag(root, killed, "engagement_lab.ended")


def wait_for_a_node(root: Path, run_id: str, timeout: float = 120) -> None:
    """Until the run's first node has started (kedro-mlflow logs a node's parameters before it runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if query(root, "select count(*) from params where run_uuid = ?", run_id)[0][0]:
            return
        time.sleep(0.1)
    raise AssertionError("no node started")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("in_a_node", [False, True], ids=["as-it-starts", "in-a-node"])
def test_a_stopped_run_ends_killed(world_project, signum, in_a_node):
    """Ctrl-C or SIGTERM: the run unwinds and its MLflow run ends KILLED at once (not FINISHED, not RUNNING),
    whether it comes while the run starts or while a node runs."""
    root = world_project
    seen = {r[0] for r in mlflow_runs(root)} if (root / "mlflow.db").exists() else set()
    process = start(root, *WORLD, TINY)
    stopped = wait_for_running_run(root, process, seen)
    if in_a_node:
        wait_for_a_node(root, stopped)
    process.send_signal(signum)
    process.communicate(timeout=120)
    assert process.returncode != 0
    assert dict((r[0], r[1]) for r in mlflow_runs(root))[stopped] == "KILLED"
    ended = mlflow_tag(root, stopped, "engagement_lab.ended")
    assert ended.startswith("interrupted")
    if in_a_node:  # "as it starts" may land before the first node or, on a fast machine, in it
        assert "before the first node" not in ended
