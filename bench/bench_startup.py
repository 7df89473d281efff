"""Benchmark: time to the first node, and what the project imports while it registers its pipelines.

Side by side in one run:

- the wall time from the start of ``kedro run --pipelines=sample_world --params=sample_world.preset=tiny`` to its
  first "Running node" line (and to the end of the run), in a throw-away copy of the project as a fresh clone has
  it (your data/ and mlflow.db are untouched);
- ``python -X importtime`` of registering every pipeline
  (``import engagement_lab.pipeline_registry; project_pipelines()``): the ten slowest imports by cumulative time,
  and for each heavy library (torch, catboost, gensim, sentence-transformers, plotly, mlflow) its cumulative import
  time and the module that imported it first.

    .venv/bin/python bench/bench_startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "bench"))
from bench_sample_world import KEDRO, copy_project  # noqa: E402  (the copy helper)

RUN_ARGS = ["run", "--pipelines=sample_world", "--params=sample_world.preset=tiny"]
REGISTER = (
    "import engagement_lab.pipeline_registry; from engagement_lab.pipelines.demo import project_pipelines; "
    "project_pipelines()"
)
HEAVY = ("torch", "catboost", "gensim", "sentence_transformers", "plotly", "mlflow")
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def time_to_first_node(root: Path) -> tuple[float, float]:
    """Seconds from the start of the run to its first "Running node" line, and to its end."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DO_NOT_TRACK": "true", "KEDRO_DISABLE_TELEMETRY": "true"}
    env["COLUMNS"] = "200"  # one log record per line
    start = time.perf_counter()
    first = float("nan")
    with subprocess.Popen(
        [KEDRO, *RUN_ARGS], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        tail = []
        for line in proc.stdout:
            tail = [*tail[-40:], line]
            if first != first and "Running node" in line:  # NaN until the first node
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"kedro {' '.join(RUN_ARGS)} failed:\n{''.join(tail)}")
    return first, total


def import_times() -> list[tuple[int, int, str]]:
    """(cumulative µs, depth, module) of every import while the pipelines are registered, in import order."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", REGISTER], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    rows = []
    for line in result.stderr.splitlines():
        if match := IMPORT_LINE.match(line):
            rows.append((int(match.group(2)), len(match.group(3)) // 2, match.group(4)))
    return rows


def first_importer(rows: list[tuple[int, int, str]], package: str) -> tuple[int, str] | None:
    """The cumulative time of ``package`` and the module that imported it (importtime prints a module after the
    modules it imports, one level deeper)."""
    for index, (cumulative, depth, module) in enumerate(rows):
        if module == package:
            parent = next((name for _, d, name in rows[index + 1 :] if d < depth), "-")
            return cumulative, parent
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (the best is shown)")
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            copy_project(Path(tmp))
            runs.append(time_to_first_node(Path(tmp)))
    tables = [import_times() for _ in range(args.repeat)]
    rows = min(tables, key=lambda t: max(c for c, _, _ in t))
    first, total = min(runs)
    print(f"kedro {' '.join(RUN_ARGS)}")  # noqa: T201
    print(f"  first 'Running node' after {first:6.1f} s; run over after {total:6.1f} s (best of {args.repeat})")  # noqa: T201
    print(f"\npython -X importtime -c '{REGISTER}'")  # noqa: T201
    print(f"  {'cumulative s':>12}  module (top 10)")  # noqa: T201
    for cumulative, _, module in sorted(rows, reverse=True)[:10]:
        print(f"  {cumulative / 1e6:12.2f}  {module}")  # noqa: T201
    print(f"\n  {'cumulative s':>12}  heavy library  (first imported by)")  # noqa: T201
    for package in HEAVY:
        found = first_importer(rows, package)
        shown = f"{found[0] / 1e6:12.2f}  {package}  ({found[1]})" if found else f"{'-':>12}  {package}  (not imported)"
        print(f"  {shown}")  # noqa: T201


if __name__ == "__main__":
    main()
