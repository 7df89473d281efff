"""Benchmark: `make run` pipeline by pipeline — wall time and peak memory of each, and the total.

Runs every pipeline of the demo in dependency order, each as its own ``kedro run --pipelines=demo --tags=<name>``,
in a throw-away copy of the project (your data/ and mlflow.db are untouched), on the demo world of conf/base.
Peak memory is the peak resident set of that kedro process (children included via wait4).

    .venv/bin/python bench/bench_make_run.py                      # every pipeline from an empty data/
    .venv/bin/python bench/bench_make_run.py reporting --from-data # only these, on a copy of ./data

The issue's budget: the whole default pipeline within 20 minutes on 2 CPU cores after the install.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "bench"))
from bench_sample_world import copy_project, kedro_run  # noqa: E402  (the copy-and-measure helpers)

BUDGET_S = 20 * 60


def pipeline_order() -> list[str]:
    """The demo's pipelines in dependency order: a pipeline comes after every pipeline whose outputs it reads;
    ties keep the registry's order."""
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT)
    from engagement_lab.pipelines.demo import on_sample_world, project_pipelines

    named = {name: on_sample_world(pipe) for name, pipe in project_pipelines().items()}
    needs = {
        name: {other for other, o in named.items() if other != name and o.all_outputs() & pipe.inputs()}
        for name, pipe in named.items()
    }
    order: list[str] = []
    while len(order) < len(named):
        ready = [n for n in named if n not in order and needs[n] <= set(order)]
        if not ready:
            raise SystemExit(f"pipelines depend on each other in a cycle: {sorted(set(named) - set(order))}")
        order.append(ready[0])
    return order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipelines", nargs="*", help="a subset (kept in dependency order); default: all")
    parser.add_argument("--from-data", action="store_true", help="start from a copy of ./data instead of empty")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away copy (its data/, mlflow.db, logs)")
    args = parser.parse_args()
    order = pipeline_order()
    unknown = set(args.pipelines) - set(order)
    if unknown:
        raise SystemExit(f"unknown pipelines {sorted(unknown)}; registered: {order}")
    chosen = [n for n in order if not args.pipelines or n in args.pipelines]

    print(f"{'pipeline':<22} {'wall s':>8} {'peak RSS GB':>12}", flush=True)  # noqa: T201
    total = 0.0
    root = Path(tempfile.mkdtemp(prefix="bench-make-run-"))
    try:
        copy_project(root, args.from_data)
        for name in chosen:
            wall, rss = kedro_run(root, ["--pipelines=demo", f"--tags={name}"], root / f"{name}.log")
            total += wall
            print(f"{name:<22} {wall:>8.1f} {rss:>12.2f}", flush=True)  # noqa: T201
    finally:
        if args.keep:
            print(f"kept the run's copy in {root}")  # noqa: T201
        else:
            shutil.rmtree(root, ignore_errors=True)
    verdict = "" if args.pipelines else f"  (budget {BUDGET_S} s: {'ok' if total <= BUDGET_S else 'OVER'})"
    print(f"{'total':<22} {total:>8.1f}{verdict}")  # noqa: T201
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    start = "data copied from ./data" if args.from_data else "empty data/"
    print(f"({os.cpu_count()} CPUs, OMP_NUM_THREADS={threads}; wall times include kedro start-up; {start})")  # noqa: T201


if __name__ == "__main__":
    main()
