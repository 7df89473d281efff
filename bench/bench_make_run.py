"""Benchmark: `make run` pipeline by pipeline — wall time and peak memory of each, and the total.

Runs every pipeline of the demo in dependency order, each as its own ``kedro run --pipelines=demo --tags=<name>``,
in a throw-away copy of the project (your data/ and mlflow.db are untouched), on the demo world of conf/base.
Peak memory is the largest resident set of that kedro process or of one of its children (wait4's ``ru_maxrss``:
the worker processes of ``runner.workers`` count one at a time, not summed). ``--whole`` runs `make run`'s own
command once instead, ``kedro run --pipelines=demo``.
With ``--baseline REV`` the same runs for that commit's ``src`` and ``conf`` (``git archive``) in a second copy,
alternating pipeline by pipeline (or run by run), so a slow minute of the machine hits both; the two are printed
side by side with their ratio.

    .venv/bin/python bench/bench_make_run.py                      # every pipeline from an empty data/
    .venv/bin/python bench/bench_make_run.py --baseline HEAD~3    # the same beside that commit's
    .venv/bin/python bench/bench_make_run.py --whole --baseline HEAD~3   # `make run` once each, side by side
    .venv/bin/python bench/bench_make_run.py reporting --from-data # only these, on a copy of ./data

The issue's budget (issue 22): the whole demo within 10 minutes on 2 CPU cores after the install.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "bench"))
from bench_sample_world import copy_project, kedro_run  # noqa: E402  (the copy-and-measure helpers)
from bench_startup import checkout  # noqa: E402  (a commit's src and conf into a copy)

BUDGET_S = 10 * 60
WHOLE = "`make run`"


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


LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) - \S+ - \w+ - (.*)$")


def producers() -> dict[str, tuple[str, str, bool]]:
    """Each dataset → (pipeline, node, whether the node runs in a worker process) of the node that writes it."""
    from engagement_lab.core.registry import WORKER_TAG
    from engagement_lab.pipelines.demo import on_sample_world, project_pipelines

    return {
        output: (name, node.name, WORKER_TAG in node.tags)
        for name, pipe in project_pipelines().items()
        for node in on_sample_world(pipe).nodes
        for output in node.outputs
    }


def node_seconds(log: Path, made_by: dict[str, tuple[str, str, bool]]) -> dict[str, float]:
    """Seconds of node time per pipeline in a run's ``info.log``: from each "Running node" line to the node's
    "Completed node" line or, in a log without them (the runner before decision 023), to the next node's start.
    Nodes in worker processes overlap the others, so the sum can exceed the run's wall time."""
    seconds: dict[str, float] = dict.fromkeys(dict.fromkeys(p for p, _, _ in made_by.values()), 0.0)
    running: dict[str, tuple[str, float]] = {}  # node → (pipeline, start)
    here: str | None = None  # the node running in the kedro process, when its end is not logged
    text = log.read_text()
    workers_logged = "(in a worker process)" in text  # else every node ran in the kedro process
    for line in text.splitlines():
        match = LOG_LINE.match(line)
        if not match:
            continue
        stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        message = match.group(2)
        if message.startswith("Running node:") and "-> [" in message:
            made = made_by.get(message.split("-> [", 1)[1].split(";")[0].rstrip("]"))
            if made is None:
                continue
            pipeline, node, in_worker = made
            in_worker = in_worker and workers_logged
            if not in_worker and here is not None:
                seconds[running[here][0]] += stamp - running.pop(here)[1]
            running[node] = (pipeline, stamp)
            here = here if in_worker else node
        elif message.startswith("Completed node: "):
            node = message.removeprefix("Completed node: ").split(" ")[0]
            if node in running:
                seconds[running[node][0]] += stamp - running.pop(node)[1]
                here = None if node == here else here
        elif message.startswith("Pipeline execution completed") and here is not None:
            seconds[running[here][0]] += stamp - running.pop(here)[1]
            here = None
    return seconds


def _contracts(root: Path) -> dict[str, dict]:
    """The latest version of each results contract (``data/08_reporting/<section>/metrics.json``) in a copy."""
    found = {}
    for folder in sorted((root / "data/08_reporting").glob("*/metrics.json")):
        versions = sorted(folder.glob("*/metrics.json"))
        if versions:
            found[folder.parent.name] = json.loads(versions[-1].read_text())
    return found


def _leaves(tree: object, path: tuple = ()) -> dict[tuple, object]:
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _leaves(value, (*path, key)).items()}
    return {path: tree}


def _std_path(path: tuple, leaves: dict[tuple, object]) -> tuple | None:
    """The seed std beside a number: ``<metric>_std`` beside ``<metric>`` or ``<metric>_mean``."""
    name = path[-1]
    for std in (f"{name}_std", f"{name.removesuffix('_mean')}_std" if name.endswith("_mean") else None):
        if std is not None and (*path[:-1], std) in leaves:
            return (*path[:-1], std)
    return None


def contract_changes(new: Path, old: Path) -> list[str]:
    """Per results contract: how far each number with a seed std moved between two runs, in units of that std
    (the larger of the two runs'), and how many moved more than one std; for the numbers without one, how many
    changed and the largest change."""
    lines = []
    old_contracts = _contracts(old)
    for section, contract in _contracts(new).items():
        before, after = _leaves(old_contracts.get(section, {})), _leaves(contract)
        moves, changes = [], []
        for path, value in after.items():
            was = before.get(path)
            if path[-1].endswith("_std") or not isinstance(value, float) or not isinstance(was, float):
                continue
            std_path = _std_path(path, after)
            std = max(after[std_path], before.get(std_path) or 0.0) if std_path else 0.0
            if std > 0:
                moves.append((abs(value - was) / std, ".".join(map(str, path))))
            else:
                changes.append((abs(value - was), ".".join(map(str, path))))
        line = f"{section:<16}"
        if moves:
            move, where = max(moves)
            over = sum(m > 1 for m, _ in moves)
            line += (
                f" {len(moves)} numbers with a seed std: largest move {move:.2f} std ({where}), {over} over one std;"
            )
        if changes:
            change, where = max(changes)
            changed = sum(c > 0 for c, _ in changes)
            line += f" {len(changes)} without one: {changed} changed, largest by {change:.4g} ({where})"
        lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipelines", nargs="*", help="a subset (kept in dependency order); default: all")
    parser.add_argument("--from-data", action="store_true", help="start from a copy of ./data instead of empty")
    parser.add_argument("--whole", action="store_true", help="one `kedro run --pipelines=demo`, as `make run`")
    parser.add_argument("--baseline", help="a git revision to run beside this tree (its src and conf)")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away copies (data/, mlflow.db, logs)")
    args = parser.parse_args()
    order = pipeline_order()
    unknown = set(args.pipelines) - set(order)
    if unknown:
        raise SystemExit(f"unknown pipelines {sorted(unknown)}; registered: {order}")
    chosen = [n for n in order if not args.pipelines or n in args.pipelines]
    steps = {WHOLE: ["--pipelines=demo"]} if args.whole else {n: ["--pipelines=demo", f"--tags={n}"] for n in chosen}
    trees = {"this tree": None, **({f"baseline {args.baseline}": args.baseline} if args.baseline else {})}

    header = f"{'':22}" + "".join(f"{name[:26]:>28}" for name in trees) + ("   ratio" if args.baseline else "")
    columns = "".join(f"{'wall s / peak RSS GB':>28}" for _ in trees)
    print(f"{header}\n{'pipeline':<22}{columns}", flush=True)  # noqa: T201
    totals = dict.fromkeys(trees, 0.0)
    roots = {name: Path(tempfile.mkdtemp(prefix="bench-make-run-")) for name in trees}
    try:
        for name, rev in trees.items():
            copy_project(roots[name], args.from_data)
            if rev is not None:
                checkout(rev, roots[name])
        for step, run_args in steps.items():
            cells, walls = "", []
            for name in trees:  # alternating: this tree's pipeline, then the baseline's
                wall, rss = kedro_run(roots[name], run_args, roots[name] / f"{step.strip('`')}.log")
                totals[name] += wall
                walls.append(wall)
                cells += f"{f'{wall:.1f} / {rss:.2f}':>28}"
            ratio = f"{walls[1] / walls[0]:>7.2f}x" if args.baseline else ""
            print(f"{step:<22}{cells}{ratio}", flush=True)  # noqa: T201
        if args.whole:
            made_by = producers()
            split = {name: node_seconds(roots[name] / "info.log", made_by) for name in trees}
            print("node seconds per pipeline in that run (worker nodes overlap the others):")  # noqa: T201
            for pipeline in order:
                cells = "".join(f"{split[name].get(pipeline, 0.0):>28.1f}" for name in trees)
                print(f"  {pipeline:<20}{cells}")  # noqa: T201
        if args.baseline and not args.pipelines:
            print("results contracts, this tree against the baseline:")  # noqa: T201
            for line in contract_changes(*roots.values()):
                print(f"  {line}")  # noqa: T201
    finally:
        for root in roots.values():
            if args.keep:
                print(f"kept a run's copy in {root}")  # noqa: T201
            else:
                shutil.rmtree(root, ignore_errors=True)
    cells = "".join(f"{totals[name]:>28.1f}" for name in trees)
    ratio = f"{totals[list(trees)[1]] / totals['this tree']:>7.2f}x" if args.baseline else ""
    print(f"{'total':<22}{cells}{ratio}")  # noqa: T201
    if not args.pipelines:
        verdict = "ok" if totals["this tree"] <= BUDGET_S else "OVER"
        print(f"this tree: {totals['this tree']:.1f} s against the budget of {BUDGET_S} s: {verdict}")  # noqa: T201
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    start = "data copied from ./data" if args.from_data else "empty data/"
    print(f"({os.cpu_count()} CPUs, OMP_NUM_THREADS={threads}; wall times include kedro start-up; {start})")  # noqa: T201


if __name__ == "__main__":
    main()
