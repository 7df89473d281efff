"""Benchmark: the own-data run on real public data — wall time, peak memory, what ran, and each method's test
metrics beside the mean predictor and the TF-IDF baselines.

Writes the real-data fixture of ``tests/real_exports.py`` (tweets as an SMPD folder without images, MovieLens
films and ratings as a PixelRec folder without covers) into a throw-away copy of the project, then runs the
README's own-data steps with conf/base's parameters: ``kedro run``.

    .venv/bin/python bench/bench_own_data.py [--posts 600]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "bench"), str(PROJECT)]
from bench_sample_world import copy_project, kedro_run  # noqa: E402

from tests.real_exports import OBSERVED_AT, load_real_items, load_real_posts, write_pixelrec, write_smpd  # noqa: E402

SECTIONS = {"ppcl": ("test_mae", "test_src"), "engagement": ("test_macro_f1", "test_r2", "test_mae")}


def latest(path: Path) -> dict:
    return json.loads((sorted(path.iterdir())[-1] / path.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=600, help="tweets and films to write (each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-own-data-") as tmp:
        root = Path(tmp)
        copy_project(root)
        write_smpd(load_real_posts(args.posts), root / "data/01_raw/smpd", layout="nested")
        write_pixelrec(*load_real_items(args.posts), root / "data/01_raw/pixelrec")
        local = {"ingestion": {"smpd_observed_at": OBSERVED_AT.strftime("%Y-%m-%d")}}
        (root / "conf/local/parameters.yml").write_text(yaml.safe_dump(local))
        wall, rss = kedro_run(root, [], root / "run.log")
        print(f"own-data kedro run: {wall:.0f} s wall, peak RSS {rss:.2f} GB ({args.posts} tweets, {args.posts} films)")  # noqa: T201
        for section in ("vise", "dual_attention", "engagement", "ppcl"):
            contract = latest(root / f"data/08_reporting/{section}/metrics.json")
            if contract.get("not_run"):
                print(f"\n{section}: not run: {contract['reason']}")  # noqa: T201
                continue
            metrics = SECTIONS[section]
            sizes = {k: contract["split_sizes"].get(k) for k in ("train", "val", "test")}
            print(f"\n{section} on {contract['dataset']}, split {sizes}")  # noqa: T201
            print(f"{'model':<28}" + "".join(f"{m:>15}" for m in metrics))  # noqa: T201
            for model, values in contract["models"].items():
                cells = "".join(f"{values[m]:>15.4f}" if m in values else f"{'':>15}" for m in metrics)
                print(f"{model:<28}{cells}")  # noqa: T201


if __name__ == "__main__":
    main()
