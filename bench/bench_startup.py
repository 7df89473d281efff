"""Benchmark: time to the first node, and what the project imports while it registers its pipelines.

Side by side in one run:

- the wall time from the start of ``kedro run --pipelines=sample_world --params=sample_world.preset=tiny`` to its
  first "Running node" line (and to the end of the run), in a throw-away copy of the project as a fresh clone has
  it (your data/ and mlflow.db are untouched): its first run (which also creates the MLflow store) and the next one;
  with ``--baseline REV`` the same for that commit's ``src`` and ``conf`` (``git archive``), alternating;
- ``python -X importtime`` of registering every pipeline
  (``import engagement_lab.pipeline_registry; project_pipelines()``): the ten slowest imports by cumulative time,
  and for each heavy library (torch, catboost, gensim, sentence-transformers, plotly, mlflow) the import time of its
  own modules and the module that imported it first.

    .venv/bin/python bench/bench_startup.py [--repeat N]
    .venv/bin/python bench/bench_startup.py --baseline <git rev>   # that commit's start beside this tree's, one run
    .venv/bin/python bench/bench_startup.py --pipeline transfer_evaluation   # time that pipeline's start instead
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "bench"))
from bench_sample_world import KEDRO, copy_project  # noqa: E402  (the copy helper)

RUN_ARGS = ["run", "--pipelines=sample_world", "--params=sample_world.preset=tiny"]  # the default run measured
REGISTER = (
    "import engagement_lab.pipeline_registry; from engagement_lab.pipelines.demo import project_pipelines; "
    "project_pipelines()"
)
HEAVY = ("torch", "catboost", "gensim", "sentence_transformers", "plotly", "mlflow")
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def checkout(rev: str, root: Path) -> None:
    """Replace the copy's ``src`` and ``conf`` by those of commit ``rev`` (``git archive``)."""
    for folder in ("src", "conf"):
        shutil.rmtree(root / folder)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src", "conf"], cwd=PROJECT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    (root / "conf/local").mkdir(exist_ok=True)


def time_to_first_node(root: Path, run_args: list[str]) -> tuple[float, float]:
    """Seconds from the start of ``kedro <run_args>`` to its first "Running node" line, and to its end."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DO_NOT_TRACK": "true", "KEDRO_DISABLE_TELEMETRY": "true"}
    env["COLUMNS"] = "200"  # one log record per line
    start = time.perf_counter()
    first = float("nan")
    with subprocess.Popen(
        [KEDRO, *run_args], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        tail = []
        for line in proc.stdout:
            tail = [*tail[-40:], line]
            if math.isnan(first) and "Running node" in line:
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"kedro {' '.join(run_args)} failed:\n{''.join(tail)}")
    return first, total


def import_times() -> list[tuple[int, int, int, str]]:
    """(cumulative µs, self µs, depth, module) of every import while the pipelines are registered, in the order
    importtime prints them (a module after the modules it imports, which are one level deeper)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", REGISTER], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    rows = []
    for line in result.stderr.splitlines():
        if match := IMPORT_LINE.match(line):
            rows.append((int(match.group(2)), int(match.group(1)), len(match.group(3)) // 2, match.group(4)))
    return rows


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def first_importer(rows: list[tuple[int, int, int, str]], package: str) -> tuple[float, str] | None:
    """The import time of ``package``'s own modules (their self times, without the libraries they import) and
    the first module outside it that imported it; None when nothing imported it."""
    own = sum(self_us for _, self_us, _, module in rows if _inside(module, package))
    first = next((index for index, row in enumerate(rows) if _inside(row[3], package)), None)
    if first is None:
        return None
    depth = rows[first][2]
    for _, _, parent_depth, parent in rows[first + 1 :]:
        if parent_depth < depth:
            if not _inside(parent, package):
                return own / 1e6, parent
            depth = parent_depth
    return own / 1e6, "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (the best is shown)")
    parser.add_argument("--baseline", help="a git revision to time beside this tree (its src and conf)")
    parser.add_argument(
        "--pipeline", help="time `kedro run --pipelines=<this>` instead (in a fresh copy: it may fail or skip)"
    )
    args = parser.parse_args()
    run_args = ["run", f"--pipelines={args.pipeline}"] if args.pipeline else RUN_ARGS
    trees = {"this tree": None, **({f"baseline {args.baseline}": args.baseline} if args.baseline else {})}
    runs: dict[str, list[tuple[tuple[float, float], tuple[float, float]]]] = {name: [] for name in trees}
    for _ in range(args.repeat):
        for name, rev in trees.items():  # alternating, so a slow minute of the machine hits both
            with tempfile.TemporaryDirectory() as tmp:
                copy_project(Path(tmp))
                if rev is not None:
                    checkout(rev, Path(tmp))
                first_run = time_to_first_node(Path(tmp), run_args)
                runs[name].append((first_run, time_to_first_node(Path(tmp), run_args)))
    tables = [import_times() for _ in range(args.repeat)]
    rows = min(tables, key=lambda t: max(c for c, _, _, _ in t))
    title = f"kedro {' '.join(run_args)}: seconds to the first 'Running node' / to the end (best of {args.repeat})"
    print(title)  # noqa: T201
    print(f"  {'':34}" + "".join(f"{name:>26}" for name in trees))  # noqa: T201
    for index, label in enumerate(("fresh clone, first run (+ MLflow store)", "next run")):
        best = {name: min(r[index] for r in runs[name]) for name in trees}
        cells = "".join(f"{f'{best[name][0]:.1f} / {best[name][1]:.1f}':>26}" for name in trees)
        print(f"  {label:34}{cells}")  # noqa: T201
    print(f"\npython -X importtime -c '{REGISTER}'")  # noqa: T201
    print(f"  {'cumulative s':>12}  module (top 10)")  # noqa: T201
    for cumulative, _, _, module in sorted(rows, reverse=True)[:10]:
        print(f"  {cumulative / 1e6:12.2f}  {module}")  # noqa: T201
    print(f"\n  {'own s':>12}  heavy library  (first imported by)")  # noqa: T201
    for package in HEAVY:
        found = first_importer(rows, package)
        shown = f"{found[0]:12.2f}  {package}  ({found[1]})" if found else f"{'-':>12}  {package}  (not imported)"
        print(f"  {shown}")  # noqa: T201


if __name__ == "__main__":
    main()
