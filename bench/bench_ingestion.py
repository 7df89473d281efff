"""Benchmark: SMPD-scale ingestion time and memory against the size of what it produces.

For each size (30K, 100K, 305K posts; users scaled as in SMPD), writes the SMPD
metadata with the sample world, then ingests it in a fresh process through the
project's own catalog and ingestion pipeline (as the demo wires it: reading the sample
world's folder), and prints side by side: wall time, peak RSS, RSS after imports (the
interpreter, pandas, torch, kedro), and the in-memory size of the canonical tables (pandas,
deep, with the contents of list cells). The ratio (peak - baseline) / canonical is the
memory the ingestion itself needs per byte kept.

With ``--baseline SRC`` (a copy of another checkout's ``src`` folder, with its ``conf`` beside it when its catalog
differs), each size's world is ingested by both that code and this checkout's, alternately ``--repeat`` times each,
and the median times and their ratio are printed: what a change to the readers costs, measured in one run.

    .venv/bin/python bench/bench_ingestion.py [--baseline /tmp/orig/src] [--repeat 3] [n_posts ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SMPD_USERS_PER_POST = 38_307 / 305_000
GB = 1024**3
CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
import pandas as pd
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
import engagement_lab
from engagement_lab.pipelines.demo.pipeline import on_sample_world
from engagement_lab.pipelines.ingestion import create_pipeline
from engagement_lab.pipelines.sample_world import create_pipeline as world_pipeline

project, root, n_posts, n_users, step = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
conf = (project / "conf/base/catalog.yml").read_text().replace("data/", f"{root}/data/")
catalog = DataCatalog.from_config({k: v for k, v in yaml.safe_load(conf).items() if not k.startswith("_")})
if step == "world":
    world = yaml.safe_load((project / "conf/base/parameters_sample_world.yml").read_text())["sample_world"]
    catalog["params:sample_world"] = {**world, "preset": "smpd", "n_posts": n_posts, "n_users": n_users}
    SequentialRunner().run(world_pipeline(), catalog)
    sys.exit(0)
params = yaml.safe_load((project / "conf/base/parameters_ingestion.yml").read_text())["ingestion"]
catalog["params:ingestion"] = {**params, "sources": ["smpd"]}
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start, cpu = time.perf_counter(), time.process_time()
SequentialRunner().run(on_sample_world(create_pipeline()), catalog)
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def deep_size(frame):
    # pandas' deep size counts a list cell as its list object only; add what the list holds.
    size = int(frame.memory_usage(deep=True).sum())
    for column in frame.columns[frame.dtypes == object]:
        size += sum(sum(sys.getsizeof(x) for x in cell) for cell in frame[column] if cell is not None)
    return size
def table(name):
    # PixelRec's interactions are a folder of parts (issue 22): the catalog gives a loader per part.
    value = catalog.load(name)
    return pd.concat([load() for _, load in sorted(value.items())], ignore_index=True) if isinstance(value, dict) else value
canonical = sum(deep_size(table(t)) for t in ("posts", "users", "images", "comments", "interactions"))
print(json.dumps({"wall": wall, "cpu": cpu, "peak": peak * 1024, "baseline": baseline * 1024, "canonical": int(canonical),
                  "posts": len(catalog.load("posts")), "code": engagement_lab.__file__}))
"""


def child(args: list[str], env: dict[str, str], src: str | None) -> subprocess.CompletedProcess:
    """Run the child step; ``src`` (a source folder) is imported in place of this checkout's, with the ``conf``
    beside it when there is one (its catalog may differ from this checkout's)."""
    if src:
        env = {**env, "PYTHONPATH": src}
        if (Path(src).parent / "conf/base").is_dir():
            args = [*args[:3], str(Path(src).parent), *args[4:]]
    result = subprocess.run(args, env=env, check=False, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{args[-1]} step failed ({src or 'this checkout'}):\n{result.stderr[-3000:]}")
    return result


def run(n_posts: int, sources: list[str | None], repeat: int) -> dict[str | None, list[dict]]:
    """Write one world of ``n_posts``; ingest it ``repeat`` times with each source tree, alternating."""
    n_users = round(n_posts * SMPD_USERS_PER_POST)
    env = {**os.environ, "DO_NOT_TRACK": "true", "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    results: dict[str | None, list[dict]] = {src: [] for src in sources}
    with tempfile.TemporaryDirectory() as root:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root}/mlflow.db"
        args = [sys.executable, "-c", CHILD, str(PROJECT), root, str(n_posts), str(n_users)]
        child([*args, "world"], env, None)
        for i in range(repeat):
            # Alternate the order, so that neither tree always runs on a warmer page cache.
            for src in sources if i % 2 == 0 else sources[::-1]:
                out = child([*args, "ingest"], env, src).stdout.strip().splitlines()[-1]
                results[src].append(json.loads(out))
    return results


def show(line: str) -> None:
    """A line of the report: the benchmark's output is its printed table."""
    print(line)  # noqa: T201


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def row(label: str, runs: list[dict], n: int) -> str:
    wall, peak, base, canon = (median(runs, k) for k in ("wall", "peak", "baseline", "canonical"))
    verdict = ""
    if n >= 305_000:
        verdict = f"<= 120 s, 4 GB: {'ok' if wall <= 120 and peak <= 4 * GB else 'OVER'}"
        verdict += f"; (peak-base)/canon <= 3: {'ok' if (peak - base) / canon <= 3 else 'OVER'}"
    return (
        f"{label:>9} {runs[0]['posts']:>8} {wall:>7.1f} {peak / GB:>8.2f} {base / GB:>8.2f} {canon / GB:>9.3f} "
        f"{(peak - base) / canon:>18.2f}  {verdict}"
    )


def main(sizes: list[int], baseline: str | None, repeat: int) -> None:
    sources = [baseline, None] if baseline else [None]
    show(
        f"{'code':>9} {'posts':>8} {'wall s':>7} {'peak GB':>8} {'base GB':>8} {'canon GB':>9} "
        f"{'(peak-base)/canon':>18}  limit"
    )
    for n in sizes:
        results = run(n, sources, repeat)
        for src in sources:
            show(row("baseline" if src else "this", results[src], n))
        if baseline:
            walls = {src: [round(r["wall"], 1) for r in results[src]] for src in sources}
            cpus = {src: [round(r["cpu"], 1) for r in results[src]] for src in sources}
            ratios = {k: median(results[None], k) / median(results[baseline], k) for k in ("wall", "cpu", "peak")}
            show(
                f"{'':>9} wall s: baseline {walls[baseline]}, this {walls[None]}; CPU s: baseline {cpus[baseline]}, "
                f"this {cpus[None]}; this/baseline: wall "
                f"{ratios['wall']:.3f}, CPU time {ratios['cpu']:.3f}, peak RSS {ratios['peak']:.3f}"
            )
    show(
        f"({os.cpu_count()} CPUs; wall = the ingestion pipeline with parquet writes; SMPD metadata only; "
        f"medians of {repeat} run(s) each; CPU time = the ingesting process's, less sensitive to other load than wall)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[30_000, 100_000, 305_000])
    parser.add_argument("--baseline", help="a copy of another checkout's src folder, ingesting the same worlds")
    parser.add_argument("--repeat", type=int, default=1, help="ingestions per source tree (medians are printed)")
    options = parser.parse_args()
    main(options.sizes, options.baseline, options.repeat)
