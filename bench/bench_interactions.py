"""Benchmark: PixelRec interactions ingested in bounded memory, and how time and memory scale with the rows.

For each size (default 2M and 20M rows), writes a synthetic PixelRec export in a temporary folder, in the
published layout (``item_info.csv`` with ``--items`` items, no covers; ``interactions.csv``: item_id, user_id,
timestamp, as PixelRec and the sample world write it), then ingests it in a fresh process through the project's
catalog and ingestion pipeline (``ingestion.sources=[pixelrec]``, parquet writes included), and prints side by
side: wall and CPU time, peak RSS, RSS after imports, rows per second, and the canonical rows written. The last
lines give the largest size against the smallest: rows, time and peak RSS ratios (linear scaling: the time ratio
near the row ratio; bounded memory: the peak RSS ratio near 1).

With ``--baseline SRC`` (a copy of another checkout's ``src``, with its ``conf`` beside it if its catalog differs),
the sizes up to ``--baseline-max-rows`` (default 2M) are also ingested by that code, alternately with this
checkout's, and printed beside it: what the change costs or saves, in one run. (The reader before issue 22 held
one Python dict per row: 20M rows would take more memory than a shared box should give it.)

    .venv/bin/python bench/bench_interactions.py [--baseline /tmp/orig/src] [--items 20000] [rows ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
GB = 1024**3
CHUNK = 1_000_000  # rows written at a time
T0 = 1_600_000_000  # 2020-09-13: every interaction is a plausible time
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import yaml
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
import engagement_lab
from engagement_lab.ingestion import tabular
from engagement_lab.pipelines.ingestion import create_pipeline, nodes

conf_root, root = Path(sys.argv[1]), sys.argv[2]
config = {}
for path in sorted((conf_root / "conf/base").glob("catalog*.yml")):
    text = path.read_text().replace("data/", f"{root}/data/")
    config.update({k: v for k, v in yaml.safe_load(text).items() if not k.startswith("_")})
catalog = DataCatalog.from_config(config)
params = yaml.safe_load((conf_root / "conf/base/parameters_ingestion.yml").read_text())["ingestion"]
catalog["params:ingestion"] = {**params, "sources": ["pixelrec"], "staging_dir": f"{root}/staging"}
spent = {"read": 0.0, "csv": 0.0, "save": 0.0}

def timed(function, name):
    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - start
    return run

nodes.READERS["pixelrec"] = timed(nodes.READERS["pixelrec"], "read")  # the reader: items, images, interactions
if hasattr(tabular, "stream_interactions"):  # interactions.csv alone: scanned, streamed, checked, staged
    tabular.stream_interactions = timed(tabular.stream_interactions, "csv")
else:  # the reader before issue 22: read_csv of interactions.csv, then _interactions
    read_csv = tabular.read_csv
    tabular.read_csv = lambda folder, key, *rest: (timed(read_csv, "csv") if key.endswith("interactions.csv") else read_csv)(folder, key, *rest)
    tabular._interactions = timed(tabular._interactions, "csv")
dataset = catalog.get("interactions")
dataset.save = timed(dataset.save, "save")  # the canonical interactions' parquet write
import pyarrow.parquet  # the parquet writer's first import (~0.3 s) is no part of the rows' cost
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start, cpu = time.perf_counter(), time.process_time()
SequentialRunner().run(create_pipeline(), catalog)
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
reconciliation = catalog.load("ingestion_reconciliation").set_index(["source", "table"])
row = reconciliation.loc[("pixelrec", "interactions")]
print(json.dumps({"wall": wall, "cpu": cpu, "peak": peak * 1024, "baseline": baseline * 1024, **spent,
                  "records": int(row["records_in"]), "canonical": int(row["canonical"]), "code": engagement_lab.__file__}))
"""


def show(line: str) -> None:
    """A line of the report: the benchmark's output is its printed table."""
    print(line, flush=True)  # noqa: T201


def write_export(folder: str, n_rows: str, n_items: str, seed: int = 0) -> None:
    """A PixelRec export of ``n_items`` items and ``n_rows`` interactions, written a chunk at a time (run in a
    child process: see :func:`in_child`)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    folder, n_rows, n_items = Path(folder), int(n_rows), int(n_items)
    folder.mkdir(parents=True)
    ids = np.arange(1, n_items + 1)
    items = "item_id,view_number,comment_number,thumbup_number,share_number,coin_number,favorite_number,"
    items += "barrage_number,title,tag,description\n"
    items += "".join(f"{i},100.0,1.0,5.0,0.0,0.0,1.0,0.0,title {i},tag,a description\n" for i in ids)
    (folder / "item_info.csv").write_text(items)
    rng = np.random.default_rng(seed)
    options = pa_csv.WriteOptions(include_header=False)  # pyarrow would quote the names; PixelRec does not
    with (folder / "interactions.csv").open("wb") as stream:
        stream.write(b"item_id,user_id,timestamp\n")
        schema = pa.schema([("item_id", pa.int64()), ("user_id", pa.int64()), ("timestamp", pa.int64())])
        writer = pa_csv.CSVWriter(stream, schema, write_options=options)
        for start in range(0, n_rows, CHUNK):
            n = min(CHUNK, n_rows - start)
            chunk = {
                "item_id": rng.integers(1, n_items + 1, n),
                "user_id": rng.integers(0, 30_000_000, n),  # PixelRec: ~30M viewers
                "timestamp": T0 + rng.integers(0, 365 * 86_400, n),
            }
            writer.write_table(pa.table(chunk, schema=schema))
        writer.close()


def create_tracking_store(uri: str) -> None:
    """Create MLflow's store before any timed run: its first use builds the schema (seconds), which is no
    part of ingestion (run in a child process)."""
    import mlflow

    mlflow.MlflowClient(uri).search_experiments()


def in_child(function: str, *args: object) -> None:
    """Run one of this script's functions in a child process. The parent stays small: Linux starts a child's
    peak RSS (``ru_maxrss``) at its parent's, which would inflate every measurement."""
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_interactions as b; b.{function}(*sys.argv[1:])"
    subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True, capture_output=True)


def ingest(root: Path, src: str | None) -> dict:
    """Ingest the export under ``root`` in a fresh process, with ``src`` (a source folder) in place of this checkout's."""
    conf_root = Path(src).parent if src and (Path(src).parent / "conf/base").is_dir() else PROJECT
    env = {**os.environ, "DO_NOT_TRACK": "true", "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root}/mlflow.db"
    if src:
        env["PYTHONPATH"] = src
    for stale in (root / "data/03_primary", root / "data/02_intermediate", root / "data/08_reporting"):
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    args = [sys.executable, "-c", CHILD, str(conf_root), str(root)]
    result = subprocess.run(args, env=env, check=False, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"ingestion failed ({src or 'this checkout'}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def interactions_s(run: dict) -> float:
    """The time that grows with the rows: reading and checking interactions.csv, and saving the canonical table."""
    return run["csv"] + run["save"]


def row(label: str, n_rows: int, run: dict) -> str:
    rate = run["records"] / interactions_s(run) / 1e6
    return (
        f"{label:>9} {n_rows:>11,} {run['wall']:>7.1f} {run['cpu']:>7.1f} {run['read']:>7.1f} {run['csv']:>7.1f} "
        f"{run['save']:>7.1f} "
        f"{run['peak'] / GB:>8.2f} {run['baseline'] / GB:>8.2f} {rate:>9.2f} {run['canonical']:>12,}"
    )


def main(sizes: list[int], n_items: int, baseline: str | None, baseline_max: int) -> None:
    show(f"PixelRec interactions: {n_items:,} items, {os.cpu_count()} CPUs; a fresh process per ingestion")
    show(
        f"{'code':>9} {'rows':>11} {'wall s':>7} {'CPU s':>7} {'read s':>7} {'csv s':>7} {'save s':>7} {'peak GB':>8} "
        f"{'base GB':>8} {'M rows/s':>9} {'canonical':>12}"
    )
    mine: dict[int, dict] = {}
    for n_rows in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            in_child("write_export", root / "data/01_raw/pixelrec", n_rows, n_items)
            in_child("create_tracking_store", f"sqlite:///{root}/mlflow.db")
            size = (root / "data/01_raw/pixelrec/interactions.csv").stat().st_size
            runs = {"this": ingest(root, None)}
            if baseline and n_rows <= baseline_max:
                runs = {"baseline": ingest(root, baseline), **runs}
            for label, run in runs.items():
                show(row(label, n_rows, run) + (f"  ({size / 1e6:,.0f} MB of CSV)" if label == "this" else ""))
            mine[n_rows] = runs["this"]
            if "baseline" in runs:
                ratio = {k: runs["this"][k] / runs["baseline"][k] for k in ("wall", "cpu", "peak", "csv", "save")}
                show(
                    f"{'':>9} this/baseline: wall {ratio['wall']:.2f}, CPU {ratio['cpu']:.2f}, csv {ratio['csv']:.2f}, "
                    f"save {ratio['save']:.2f}, peak RSS {ratio['peak']:.2f}"
                )
    if len(mine) > 1:
        small, large = min(mine), max(mine)
        a, b = mine[small], mine[large]
        show(
            f"scaling {small:,} -> {large:,} rows (x{large / small:.0f}): csv + save x"
            f"{interactions_s(b) / interactions_s(a):.1f}, whole pipeline wall x{b['wall'] / a['wall']:.1f} "
            f"(CPU x{b['cpu'] / a['cpu']:.1f}), peak RSS x{b['peak'] / a['peak']:.2f} "
            f"(above the imports: x{(b['peak'] - b['baseline']) / (a['peak'] - a['baseline']):.2f})"
        )
    show(
        "(wall, CPU: the whole ingestion pipeline, MLflow's metrics store set-up included; read: the PixelRec reader "
        "(items, covers, interactions); csv: reading and checking interactions.csv within it; save: writing the "
        "canonical interactions; M rows/s: rows / (csv + save))"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[2_000_000, 20_000_000])
    parser.add_argument("--items", type=int, default=20_000, help="items in item_info.csv (the same for every size)")
    parser.add_argument("--baseline", help="a copy of another checkout's src folder (its conf/ beside it, if any)")
    parser.add_argument("--baseline-max-rows", type=int, default=2_000_000, help="largest size the baseline ingests")
    options = parser.parse_args()
    main(options.sizes, options.items, options.baseline, options.baseline_max_rows)
