"""A new user's first commands, as subprocesses in a fresh copy of the project (issue 20, items 4 and 5).

A run that cannot go on because of the user's data or set-up ends in one short message (what is missing, the
pipeline that makes it, the command to run) with exit status 1 and no traceback; a clean start prints no
warnings."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT

KEDRO = str(Path(sys.executable).parent / "kedro")
MAX_LINES_AFTER_LAST_INFO = 15
WARNING_LINE = re.compile(r"\bWARNING\b|Warning\b")


@pytest.fixture
def fresh_project(tmp_path: Path) -> Path:
    """pyproject.toml, conf/ (conf/local empty, as in a fresh clone) and src/ in a temp folder: no data, no
    MLflow store."""
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    shutil.copytree(PROJECT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf/local").mkdir()
    shutil.copytree(PROJECT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return tmp_path


def kedro(root: Path, *args: str, columns: int | None = None) -> subprocess.CompletedProcess:
    """``kedro <args>`` in ``root``; ``columns`` widens the log (one line per record) where a test reads it."""
    env = {**os.environ, "DO_NOT_TRACK": "true", "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    env.pop("MLFLOW_TRACKING_URI", None)  # tests/conftest.py points it at a temp store: a user's shell does not
    return subprocess.run([KEDRO, *args], check=False, cwd=root, env=env, capture_output=True, text=True, timeout=900)


def assert_short_failure(result: subprocess.CompletedProcess, *expected: str) -> str:
    """Exit status 1, no traceback, few lines after the last INFO record, and every ``expected`` text in the
    ``Error:`` message on stderr. Returns that message."""
    output = result.stdout + result.stderr
    lines = output.splitlines()
    last_info = max((i for i, line in enumerate(lines) if " INFO " in line), default=-1)
    tail = lines[last_info + 1 :]
    print("\n".join(tail))  # noqa: T201  (what the user sees at the end, shown when the test fails)
    assert result.returncode == 1, output[-4000:]
    assert "Traceback" not in output and "╭─" not in output, output[-4000:]
    assert len(tail) < MAX_LINES_AFTER_LAST_INFO, tail
    assert result.stderr.startswith("Error: "), result.stderr[-4000:]
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    return result.stderr


def test_a_pipeline_run_before_its_inputs_names_them_and_the_pipeline_to_run_first(fresh_project):
    message = assert_short_failure(
        kedro(fresh_project, "run", "--pipelines=dual_attention"),
        "user_environment_model_input",
        "data/05_model_input/user_environment/model_input.parquet",
        "`kedro run --pipelines=user_environment`",
    )
    # One command that makes everything it needs, from the raw data on.
    assert "`kedro run --pipelines=ingestion,features,user_environment,dual_attention`" in message
    # The check ran before kedro-mlflow opened a run.
    if (fresh_project / "mlflow.db").exists():
        with sqlite3.connect(fresh_project / "mlflow.db") as db:
            assert db.execute("select count(*) from runs").fetchone() == (0,)


def test_strict_ingestion_on_a_defect_stops_with_one_message(fresh_project):
    assert_short_failure(
        kedro(
            fresh_project,
            "run",
            "--pipelines=demo",
            "--tags=sample_world,ingestion",
            "--params=sample_world.preset=tiny,sample_world.defect_share=0.02,ingestion.strict=true",
        ),
        "strict ingestion: ",
        "issue(s); first: ",
        "ingestion.strict=false",
    )
    assert not (fresh_project / "data/03_primary/posts.parquet").exists()  # strict ingestion saved nothing


def test_no_source_folder_names_where_it_looked_and_how_to_provide_data(fresh_project):
    assert_short_failure(
        kedro(fresh_project, "run", "--pipelines=ingestion"),
        "no raw folder has data",
        "data/01_raw/smpd",
        "`kedro run --pipelines=demo`",
    )


def test_a_pipeline_that_does_not_apply_to_the_data_is_still_skipped(fresh_project):
    """transfer_evaluation reads trained backbones that do not exist either: its input check comes first."""
    result = kedro(fresh_project, "run", "--pipelines=transfer_evaluation", columns=400)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "transfer_evaluation not run: no labelled emotion images" in result.stdout


def test_inputs_needed_only_once_an_input_check_passes_are_named_then(fresh_project):
    """The demo's emotion images are written in the same run, so transfer_evaluation's check passes: then, before
    any backbone is evaluated, the run stops naming the backbones that pretraining has not trained yet."""
    result = kedro(
        fresh_project,
        "run",
        "--pipelines=demo",
        "--tags=sample_world,transfer_evaluation",
        "--params=sample_world.preset=tiny",
    )
    assert_short_failure(
        result,
        "pretraining_vise_backbone",
        "`kedro run --pipelines=demo --tags=pretraining`",
        "--tags=ingestion,engagement_clustering,pretraining,sample_world,transfer_evaluation",
    )
    assert "evaluate_" not in result.stdout  # no backbone evaluation started


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--pipelines=sample_world", "--params=sample_world.preset=tiny"),
        # The demo registers every pipeline (Kedro reads every node's type hints) and runs a tagged step.
        ("run", "--pipelines=demo", "--tags=sample_world", "--params=sample_world.preset=tiny"),
        ("registry", "list"),
    ],
    ids=["run_sample_world", "run_demo_step", "registry_list"],
)
def test_a_clean_start_prints_no_warnings(fresh_project, args):
    result = kedro(fresh_project, *args)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    output = result.stdout + result.stderr
    warnings = [line for line in output.splitlines() if WARNING_LINE.search(line)]
    print(f"warnings on `kedro {' '.join(args)}`: {warnings}")  # noqa: T201
    assert warnings == []
    assert "\x1b[" not in output and "[33m" not in output  # no ANSI colour codes (MLflow's)


# ------------------------------------------------------------------------------------------------ progress
def test_a_long_step_logs_its_name_while_it_runs(caplog):
    import logging
    import time

    from engagement_lab.core.progress import heartbeat

    logger = logging.getLogger("engagement_lab.test_progress")
    with caplog.at_level(logging.INFO, logger=logger.name), heartbeat(logger, "demo LDA", every_s=0.05):
        time.sleep(0.3)
    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith("demo LDA: running for") for line in lines[:-1]), lines
    assert lines[-1].startswith("demo LDA: done in"), lines


def test_training_logs_name_each_model_as_its_namespace_does():
    """The per-epoch lines of core.training.fit carry the model's name: each configured model maps to its own."""
    import yaml

    from engagement_lab.dual_attention.models import ModelConfig
    from engagement_lab.dual_attention.train import model_name
    from engagement_lab.ppcl.train import TrainConfig
    from engagement_lab.ppcl.train import model_name as ppcl_name

    dual = yaml.safe_load((PROJECT / "conf/base/parameters_dual_attention.yml").read_text())["dual_attention"]
    for name, variant in dual["models"].items():
        config = ModelConfig(
            arch=variant["arch"],
            explicit_attention=variant.get("explicit_attention", False),
            environment=variant.get("environment", "none"),
            vocab_size=10,
            image_dim=4,
            topic_dim=2,
        )
        assert model_name(config) == name
    ppcl = yaml.safe_load((PROJECT / "conf/base/parameters_ppcl.yml").read_text())["ppcl"]
    for name, variant in ppcl["models"].items():
        fields = {k: v for k, v in variant.items() if k in ("tasks", "sampler", "augment")}
        # The data-efficiency rows are their model trained on fewer posts (the log line gives the count).
        assert ppcl_name(TrainConfig(**fields)) == name.removesuffix("_100k").removesuffix("_200k")
