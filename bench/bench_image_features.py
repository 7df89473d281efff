"""Benchmark: EfficientNet-lite0 feature throughput, end to end against forward only.

End to end is the features node's own path: read the JPEG file, decode, resize to 160 (conf/base),
normalise (``ImageFiles`` in a DataLoader) and the forward pass, in the node's NHWC layout. Forward only runs the
same batches already decoded into tensors. Runs alternate (A B A B ...) on one model so
machine noise hits both; the best of each is printed with their ratio.

    .venv/bin/python bench/bench_image_features.py [n_images] [num_workers]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from engagement_lab.features.encoders import CNN_MEMORY_FORMAT, ImageFiles, image_features, load_image_encoder
from engagement_lab.world.config import WorldConfig
from engagement_lab.world.render import render_post_images
from engagement_lab.world.simulate import simulate

BATCH, SIZE, ROUNDS = 32, 160, 3


def main(n_images: int = 192, num_workers: int = 0) -> None:
    config = WorldConfig(n_users=20, n_posts=n_images, formats=("smpd",))  # demo-sized 96 px JPEGs
    posts = simulate(config).posts
    jpegs = render_post_images(posts, config)
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        paths = []
        for post_id, data in jpegs.items():
            path = Path(tmp) / f"{post_id}.jpg"
            path.write_bytes(data)
            paths.append(str(path))
        model = load_image_encoder(torch.device("cpu")).to(memory_format=CNN_MEMORY_FORMAT)
        loader = DataLoader(ImageFiles(paths, SIZE), batch_size=BATCH, num_workers=num_workers)
        preloaded = list(DataLoader(ImageFiles(paths, SIZE), batch_size=BATCH))
        image_features(model, preloaded[0].contiguous(memory_format=CNN_MEMORY_FORMAT))  # warm-up

        def end_to_end() -> float:
            start = time.perf_counter()
            for batch in loader:
                image_features(model, batch.contiguous(memory_format=CNN_MEMORY_FORMAT))
            return time.perf_counter() - start

        def forward_only() -> float:
            start = time.perf_counter()
            for batch in preloaded:
                image_features(model, batch.contiguous(memory_format=CNN_MEMORY_FORMAT))
            return time.perf_counter() - start

        e2e, fwd = [], []
        for _ in range(ROUNDS):
            e2e.append(end_to_end())
            fwd.append(forward_only())
    e2e_rate, fwd_rate = n_images / min(e2e), n_images / min(fwd)
    print(f"{'path':<34} {'images/s':>9}")  # noqa: T201
    print(f"{'end to end (file → features)':<34} {e2e_rate:>9.1f}")  # noqa: T201
    print(f"{'forward only (preloaded tensors)':<34} {fwd_rate:>9.1f}")  # noqa: T201
    print(f"ratio end-to-end / forward-only: {e2e_rate / fwd_rate:.2f} (target >= 0.7)")  # noqa: T201
    print(  # noqa: T201
        f"({n_images} images of {config.image_size} px resized to {SIZE}, batch {BATCH}, "
        f"{torch.get_num_threads()} torch threads, {num_workers} loader workers, best of {ROUNDS}; "
        f"spread e2e {np.ptp(e2e) / np.mean(e2e):.0%}, fwd {np.ptp(fwd) / np.mean(fwd):.0%})"
    )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
