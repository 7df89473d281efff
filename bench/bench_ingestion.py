"""Benchmark: SMPD-scale ingestion time and memory against the size of what it produces.

For each size (30K, 100K, 305K posts; users scaled as in SMPD), writes the SMPD
metadata with the sample world, then ingests it in a fresh process through the
project's own catalog and ingestion pipeline, and prints side by side: wall time,
peak RSS, RSS after imports (the interpreter, pandas, torch, kedro), and the
in-memory size of the canonical tables (pandas, deep, with the contents of list cells). The ratio
(peak - baseline) / canonical is the memory the ingestion itself needs per byte kept.

    .venv/bin/python bench/bench_ingestion.py [n_posts ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SMPD_USERS_PER_POST = 38_307 / 305_000
CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from engagement_lab.pipelines.ingestion import create_pipeline
from engagement_lab.pipelines.sample_world import create_pipeline as world_pipeline

project, root, n_posts, n_users, step = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
conf = (project / "conf/base/catalog.yml").read_text().replace("data/", f"{root}/data/")
catalog = DataCatalog.from_config(yaml.safe_load(conf))
if step == "world":
    world = yaml.safe_load((project / "conf/base/parameters_sample_world.yml").read_text())["sample_world"]
    catalog["params:sample_world"] = {**world, "preset": "smpd", "n_posts": n_posts, "n_users": n_users}
    SequentialRunner().run(world_pipeline(), catalog)
    sys.exit(0)
params = yaml.safe_load((project / "conf/base/parameters_ingestion.yml").read_text())["ingestion"]
catalog["params:ingestion"] = {**params, "sources": ["smpd"]}
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
SequentialRunner().run(create_pipeline(), catalog)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def deep_size(frame):
    # pandas' deep size counts a list cell as its list object only; add what the list holds.
    size = int(frame.memory_usage(deep=True).sum())
    for column in frame.columns[frame.dtypes == object]:
        size += sum(sum(sys.getsizeof(x) for x in cell) for cell in frame[column] if cell is not None)
    return size
canonical = sum(deep_size(catalog.load(t)) for t in ("posts", "users", "images", "comments", "interactions"))
print(json.dumps({"wall": wall, "peak": peak * 1024, "baseline": baseline * 1024, "canonical": int(canonical),
                  "posts": len(catalog.load("posts"))}))
"""


def run(n_posts: int) -> dict:
    n_users = round(n_posts * SMPD_USERS_PER_POST)
    env = {**os.environ, "DO_NOT_TRACK": "true", "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    with tempfile.TemporaryDirectory() as root:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root}/mlflow.db"
        args = [sys.executable, "-c", CHILD, str(PROJECT), root, str(n_posts), str(n_users)]
        subprocess.run([*args, "world"], env=env, check=True, capture_output=True)
        result = subprocess.run([*args, "ingest"], env=env, check=True, capture_output=True, text=True)
        return json.loads(result.stdout.strip().splitlines()[-1])


def main(sizes: list[int]) -> None:
    gb = 1024**3
    print(f"{'posts':>8} {'wall s':>7} {'peak GB':>8} {'base GB':>8} {'canon GB':>9} {'(peak-base)/canon':>18}  limit")  # noqa: T201
    for n in sizes:
        r = run(n)
        ratio = (r["peak"] - r["baseline"]) / r["canonical"]
        verdict = ""
        if n >= 305_000:
            ok = r["wall"] <= 120 and r["peak"] <= 4 * gb
            verdict = f"<= 120 s, 4 GB: {'ok' if ok else 'OVER'}"
        print(f"{r['posts']:>8} {r['wall']:>7.1f} {r['peak'] / gb:>8.2f} {r['baseline'] / gb:>8.2f} "  # noqa: T201
              f"{r['canonical'] / gb:>9.3f} {ratio:>18.2f}  {verdict}")  # fmt: skip
    print(f"({os.cpu_count()} CPUs; wall = the ingestion pipeline with parquet writes; SMPD metadata only)")  # noqa: T201


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [30_000, 100_000, 305_000])
