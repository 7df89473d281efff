"""Benchmark: text and image embeddings, before (today's torch path) and after (OpenVINO), side by side in one run.

Every setting embeds the same held-out inputs end to end through the public functions the features node calls
(``embed_texts``, ``embed_image_files``: tokenising or decoding, batching, inference), in alternating rounds
(A B C ... A B C ...) so that machine noise hits each; the best round of each is printed. A first call per setting
on 64 items comes before the rounds and is shown apart (imports; OpenVINO's compile, which a process does once, as
in a run; the torch path loads its model in every call, as today's function does: 0.1-0.2 s of each round).
The inputs come from a sample world with a seed that no test and no tuning used (``--seed``):

- texts, demo: each post's title, caption and tags as the features pipeline builds them (about 30 tokens);
- texts, long-tail: 1 to 12 of those joined (30 to 256 tokens, 160 on average), like long captions with many tags;
- images: the world's 96 px JPEGs, embedded at 160 px as ``conf/base`` does.

Speed-ups are against "before" (today's default: the torch path on all cores) and against the faster of the two
torch thread settings in the same run (on a machine that other jobs load, torch's two OpenMP threads can run
several times slower than one). Cosine agreement is per item, each setting against the torch path's fp32 vectors.
The one-time export of the encoders (ONNX, into a temporary folder here) is timed apart: a real run does it once
per machine.

    .venv/bin/python bench/bench_embeddings.py [--texts 1000] [--long-texts 200] [--images 256] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engagement_lab.features import openvino_encoders
from engagement_lab.features.backends import cpu_has_bf16
from engagement_lab.features.encoders import embed_image_files, embed_texts, torch_threads
from engagement_lab.features.post_texts import build_post_texts
from engagement_lab.world.config import WorldConfig
from engagement_lab.world.render import render_post_images
from engagement_lab.world.simulate import simulate

IMAGE_SIZE = 160
# (label, backend, precision, threads): the first is "before", today's default (torch on all cores); the last is
# "after", conf/base's (OpenVINO runs one stream of one thread per thread asked for).
SETTINGS = [
    ("torch, 2 threads (before)", "torch", "f32", 2),
    ("torch, 1 thread", "torch", "f32", 1),
    ("openvino f32, 2 streams", "openvino", "f32", 2),
    ("openvino bf16, 1 stream", "openvino", "bf16", 1),
    ("openvino bf16, 2 streams (after)", "openvino", "bf16", 2),
]


def held_out_inputs(seed: int, n_texts: int, n_long: int, n_images: int, folder: Path) -> dict[str, list[str]]:
    """Demo texts, long-tail texts and image files of a sample world with ``seed``."""
    config = WorldConfig(seed=seed, n_users=max(20, n_texts // 20), n_posts=max(n_texts, n_images))
    posts = simulate(config).posts
    texts = build_post_texts(posts)["text"].tolist()
    rng = random.Random(seed)
    long_texts = [" ".join(rng.sample(texts, rng.randint(1, 12))) for _ in range(n_long)]
    paths = []
    for post_id, data in render_post_images(posts.iloc[:n_images], config).items():
        path = folder / f"{post_id}.jpg"
        path.write_bytes(data)
        paths.append(str(path))
    return {"texts, demo": texts[:n_texts], "texts, long-tail": long_texts, f"images @{IMAGE_SIZE}px": paths}


def embed(workload: str, items: list[str], backend: str, precision: str, threads: int, export_dir: str) -> np.ndarray:
    """One end-to-end call of the features node's embedding function, on ``threads`` CPU threads."""
    common = {"device": "cpu", "progress": False, "backend": backend, "precision": precision}
    with torch_threads(threads):
        if workload.startswith("images"):
            return embed_image_files(
                items, image_size=IMAGE_SIZE, threads=threads, export_dir=export_dir, batch_size=32, **common
            )
        return embed_texts(items, threads=threads, export_dir=export_dir, batch_size=64, **common)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Seconds that ``fn(*args)`` took, and its result."""
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--long-texts", type=int, default=200)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        inputs = held_out_inputs(args.seed, args.texts, args.long_texts, args.images, Path(tmp))
        export_dir = str(Path(tmp) / "exports")
        export_s = {kind: timed(openvino_encoders.exported_model, kind, export_dir)[0] for kind in ("text", "image")}
        first: dict[tuple[str, str], float] = {}  # the first call: imports, model load or compile, 64 items
        for workload, items in inputs.items():
            for label, backend, precision, threads in SETTINGS:
                first[workload, label] = timed(embed, workload, items[:64], backend, precision, threads, export_dir)[0]
        best: dict[tuple[str, str], float] = {}
        vectors: dict[tuple[str, str], np.ndarray] = {}
        for _ in range(args.rounds):
            for workload, items in inputs.items():
                for label, backend, precision, threads in SETTINGS:
                    seconds, out = timed(embed, workload, items, backend, precision, threads, export_dir)
                    best[workload, label] = min(seconds, best.get((workload, label), float("inf")))
                    vectors[workload, label] = out
    before = SETTINGS[0][0]
    header = f"{'workload':<18} {'setting':<34} {'items/s':>8} {'vs before':>9} {'vs best torch':>13}"
    print(f"{header} {'cos min':>8} {'cos mean':>9} {'first call s':>12}")  # noqa: T201
    for workload, items in inputs.items():
        best_torch = min(best[workload, label] for label, backend, *_ in SETTINGS if backend == "torch")
        for label, *_ in SETTINGS:
            agreement = cosine(vectors[workload, label], vectors[workload, before])
            rate = len(items) / best[workload, label]
            print(  # noqa: T201
                f"{workload:<18} {label:<34} {rate:>8.1f} {best[workload, before] / best[workload, label]:>8.2f}x "
                f"{best_torch / best[workload, label]:>12.2f}x {agreement.min():>8.5f} {agreement.mean():>9.5f} "
                f"{first[workload, label]:>12.1f}"
            )
    print(  # noqa: T201
        f"({len(inputs['texts, demo'])} demo texts, {len(inputs['texts, long-tail'])} long-tail texts, "
        f"{args.images} images; held-out world seed {args.seed}; best of {args.rounds} rounds after a first call; "
        f"CPU bf16: {cpu_has_bf16()}; {os.cpu_count()} cores; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after. One-time export: text {export_s['text']:.1f} s, "
        f"image {export_s['image']:.1f} s)"
    )


if __name__ == "__main__":
    main()
