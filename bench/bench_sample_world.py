"""Benchmark: sample world generation time and peak memory per preset.

Runs ``kedro run --pipelines=sample_world`` for each preset in a throw-away copy of
the project (so your data/ and mlflow.db are untouched) and prints wall time and
the peak resident memory of that process, side by side in one table.

    .venv/bin/python bench/bench_sample_world.py [preset ...]   # default: tiny demo smpd
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).parent / "kedro")
LIMITS = {"smpd": (120.0, 4.0)}  # issue 2: 305,000 posts within 2 minutes and 4 GB


def copy_project(root: Path, with_data: bool = False) -> None:
    """The project into ``root`` (a throw-away copy): pyproject, conf without its local secrets, src, and
    either a copy of ./data or its empty layer folders, as a fresh clone has them."""
    shutil.copy(PROJECT / "pyproject.toml", root)
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf/local").mkdir()
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    if with_data:
        shutil.copytree(PROJECT / "data", root / "data")
    else:
        for layer in (PROJECT / "data").iterdir():
            if layer.is_dir():
                (root / "data" / layer.name).mkdir(parents=True)


def kedro_run(root: Path, args: list[str], log: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB, children included via wait4) of ``kedro run <args>`` in ``root``; its
    output goes to ``log`` (a file, not a pipe: a full pipe would block the run)."""
    env = {**os.environ, "DO_NOT_TRACK": "true", "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen([KEDRO, "run", *args], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"kedro run {' '.join(args)} failed:\n{log.read_text()[-4000:]}")
    return wall, usage.ru_maxrss / 1024**2


def run_preset(preset: str) -> tuple[float, float, int, float]:
    """Wall seconds, peak RSS in GB, files written and their size in MB for one preset."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        copy_project(root)
        wall, rss = kedro_run(
            root, ["--pipelines=sample_world", f"--params=sample_world.preset={preset}"], root / "sample_world.log"
        )
        files = [p for p in (root / "data/01_raw/sample_world").rglob("*") if p.is_file()]
        return wall, rss, len(files), sum(p.stat().st_size for p in files) / 1e6


def main(presets: list[str]) -> None:
    print(f"{'preset':<8} {'wall s':>8} {'peak RSS GB':>12} {'files':>8} {'MB':>8}  limit")  # noqa: T201
    for preset in presets:
        wall, rss, n_files, mb = run_preset(preset)
        limit = LIMITS.get(preset)
        verdict = (
            ""
            if limit is None
            else f"<= {limit[0]:.0f} s, {limit[1]:.0f} GB: "
            + ("ok" if wall <= limit[0] and rss <= limit[1] else "OVER")
        )
        print(f"{preset:<8} {wall:>8.1f} {rss:>12.2f} {n_files:>8} {mb:>8.1f}  {verdict}")  # noqa: T201
    print(f"({os.cpu_count()} CPUs; wall time includes kedro start-up, about 4 s)")  # noqa: T201


if __name__ == "__main__":
    main(sys.argv[1:] or ["tiny", "demo", "smpd"])
