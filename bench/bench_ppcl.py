"""Benchmark: one PPCL training epoch at SMPD scale (305,000 posts) on CPU, with pre-extracted features.

The posts and users come from the sample world's ``smpd`` preset (metadata only, no images rendered);
the frozen image (1280-d) and text (384-d) embeddings are "pre-extracted" stand-ins drawn per post around
a per-concept prototype, since encoding 305,000 images is the features pipeline's job, not this one's.
Prints the preprocessing time (fit on train + transform), one epoch's wall time for PPCL and for
w/o CL, the contrastive losses' share of PPCL's step time, and peak resident memory.

    .venv/bin/python bench/bench_ppcl.py [n_posts] [threads] [config: paper|base] [max_steps]
"""

# ruff: noqa: T201
from __future__ import annotations

import logging
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from engagement_lab.features.encoders import IMAGE_DIM, TEXT_DIM
from engagement_lab.ppcl.data import Preprocessor, chronological_split
from engagement_lab.ppcl.model import ModelConfig
from engagement_lab.ppcl.train import Split, TrainConfig, train
from engagement_lab.world.config import build_config
from engagement_lab.world.simulate import simulate

logging.disable(logging.INFO)
PROJECT = Path(__file__).resolve().parents[1]


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def smpd_frame(n_posts: int, seed: int = 0) -> pd.DataFrame:
    """The smpd preset's posts joined to their users, in the shape build_model_input returns."""
    world_params = yaml.safe_load((PROJECT / "conf/base/parameters_sample_world.yml").read_text())["sample_world"]
    preset = dict(world_params["presets"]["smpd"])
    if n_posts != preset["n_posts"]:
        preset["n_users"] = max(10, round(preset["n_users"] * n_posts / preset["n_posts"]))
        preset["n_posts"] = n_posts
    world = simulate(build_config({"preset": "smpd", "presets": {"smpd": preset}, "seed": world_params["seed"]}))
    posts, users = world.posts, world.users
    posts = posts[np.isfinite(posts["label"])].reset_index(drop=True)  # zero-day posts: quarantined upstream
    frame = posts[["post_id", "user_id", "posted_at", "category", "subcategory", "concept"]].copy()
    frame["target"] = posts["label"].astype(float)
    u = users.set_index("user_id")
    for col in [
        "is_pro",
        "can_buy_pro",
        "is_public",
        "timezone_id",
        "timezone_offset",
        "followers",
        "following",
        "photo_count",
        "total_views",
        "total_tags",
        "total_geotagged",
        "total_faves",
        "total_in_group",
    ]:
        frame[col] = u[col].to_numpy()[posts["user_id"].to_numpy()]
    frame["pfirst_year"] = pd.to_datetime(u["photo_firstdate"].to_numpy()[posts["user_id"]], unit="s").year
    frame["pfirst_taken_year"] = pd.to_datetime(u["photo_firstdatetaken"].to_numpy()[posts["user_id"]], unit="s").year
    frame["user_id"] = "smpd:" + frame["user_id"].astype(str)
    frame["post_hour"], frame["post_day"] = frame["posted_at"].dt.hour, frame["posted_at"].dt.day_of_week
    frame["post_month"] = frame["posted_at"].dt.month
    rng = np.random.default_rng(seed)
    concept = posts["concept_id"].to_numpy()
    n_concepts = int(concept.max()) + 1
    for name, dim in (("image_embedding", IMAGE_DIM), ("text_embedding", TEXT_DIM)):
        prototypes = rng.normal(size=(n_concepts, dim)).astype(np.float32)
        vectors = prototypes[concept] + rng.normal(size=(len(posts), dim)).astype(np.float32)
        frame[name] = list(vectors)
        del vectors
    frame["has_image"] = 1
    return frame


def main(n_posts: int, threads: int, config: str, max_steps: int | None) -> None:
    torch.set_num_threads(threads)
    params = yaml.safe_load((PROJECT / "conf/base/parameters_ppcl.yml").read_text())["ppcl"]
    if config == "paper":
        paper = yaml.safe_load((PROJECT / "conf/paper/parameters_ppcl.yml").read_text())["ppcl"]
        params["model"].update(paper["model"])
        params["train"].update(paper["train"])
    start = time.perf_counter()
    frame = smpd_frame(n_posts)
    world_s = time.perf_counter() - start
    frame["split"] = chronological_split(frame, params["split"])
    start = time.perf_counter()
    preprocessor = Preprocessor(n_clusters=params["preprocessing"]["n_clusters"]).fit(frame[frame["split"] == "train"])
    data = {s: Split.from_arrays(preprocessor.transform(frame[frame["split"] == s])) for s in ("train", "val")}
    prep_s = time.perf_counter() - start
    del frame
    model_cfg = ModelConfig(
        image_dim=IMAGE_DIM,
        text_dim=TEXT_DIM,
        n_dense=preprocessor.n_dense,
        cardinalities=preprocessor.cardinalities,
        **params["model"],
    )
    print(
        f"PPCL benchmark: {n_posts:,} posts ({len(data['train']):,} train, {len(data['val']):,} val), "
        f"{config} config (hidden {model_cfg.hidden}, batch {params['train']['batch_size']}), "
        f"{threads} torch thread(s), CPU; world {world_s:.1f} s, preprocessing (fit on train + transform) "
        f"{prep_s:.1f} s"
    )
    rows = {}
    for name, tasks in (("full", ["crd", "uisd", "uid"]), ("no_cl", [])):
        cfg = TrainConfig(**{**params["train"], "epochs": 1, "tasks": tasks}, device="cpu", threads=threads)
        timer: dict[str, float] = defaultdict(float)
        start = time.perf_counter()
        train(model_cfg, cfg, data["train"], data["val"], max_steps=max_steps, timer=timer)
        rows[name] = (time.perf_counter() - start, timer)
    full_s, full_t = rows["full"]
    no_cl_s, no_cl_t = rows["no_cl"]
    step_full, step_no_cl = full_t["step"] / full_t["steps"], no_cl_t["step"] / no_cl_t["steps"]
    epoch_note = "" if max_steps is None else f" (first {max_steps} steps)"
    print(f"{'model':<8} {'epoch s':>9} {'steps':>7} {'ms/step':>9}")
    for name, (seconds, timer) in rows.items():
        print(f"{name:<8} {seconds:>9.1f} {int(timer['steps']):>7} {1000 * timer['step'] / timer['steps']:>9.1f}")
    print(f"one epoch{epoch_note}: PPCL {full_s:.1f} s, w/o CL {no_cl_s:.1f} s (incl. validation)")
    print(
        f"contrastive losses' share of PPCL step time: {full_t['contrastive_forward'] / full_t['step']:.1%} "
        f"(loss forward only); {(step_full - step_no_cl) / step_full:.1%} of the step is contrastive overhead "
        "(second dropout view, losses, their backward) against w/o CL"
    )
    print(f"peak RSS: {peak_gb():.2f} GB")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        int(args[0]) if args else 305_000,
        int(args[1]) if len(args) > 1 else 2,
        args[2] if len(args) > 2 else "paper",
        int(args[3]) if len(args) > 3 else None,
    )
