"""Benchmark: VisE training throughput, end to end against preloaded tensors, same model.

End to end is the training loop's own input path: ``PseudoLabelledImages`` in a DataLoader and
its ``augment`` (random-resized crop and flip: of whole batches at once when the images were decoded
once at build time, ``preload: true``; per image, read and decoded every epoch, with ``preload:
false``), then the step: batched colour jitter, normalisation, forward (NHWC), Eq. 1's loss, backward
and SGD. Preloaded runs the same steps on batches already cropped into tensors. The one-off
decoding is printed apart, and as its share of the default 8-epoch run. Runs alternate (A B A B ...) on one model so
machine noise hits both; the best of each is printed with their ratio. On CUDA it also
prints both with mixed precision on and off.

    .venv/bin/python bench/bench_pretraining.py [n_images] [num_workers]
"""

from __future__ import annotations

import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from engagement_lab.features.encoders import CNN_MEMORY_FORMAT
from engagement_lab.vise.models import VisEModel, vise_loss
from engagement_lab.vise.train import PseudoLabelledImages, TrainConfig, colour_jitter, normalise
from engagement_lab.world.config import WorldConfig
from engagement_lab.world.render import render_post_images
from engagement_lab.world.simulate import simulate

ROUNDS = 3
N_CLASSES = {"comments": 24, "reactions": 8}  # the demo's cluster counts


def _labels(folder: Path, n_images: int) -> pd.DataFrame:
    config = WorldConfig(n_users=20, n_posts=n_images, formats=("smpd",))  # demo-sized 96 px JPEGs
    posts = simulate(config).posts
    jpegs = render_post_images(posts, config)
    rng = np.random.default_rng(0)
    rows = []
    for post_id, data in jpegs.items():
        path = folder / f"{post_id}.jpg"
        path.write_bytes(data)
        comments = rng.integers(0, N_CLASSES["comments"], 10).tolist()
        rows.append(
            {
                "post_id": str(post_id),
                "image_path": str(path),
                "comment_clusters": comments,
                "reaction_cluster": int(rng.integers(0, N_CLASSES["reactions"])),
            }
        )
    return pd.DataFrame(rows)


def measure(
    labels: pd.DataFrame, config: TrainConfig, device: torch.device, amp: bool, preload: bool
) -> tuple[float, float, float]:
    """Best images/s end to end and on preloaded tensors, interleaved; and the dataset's build time."""
    start = time.perf_counter()
    dataset = PseudoLabelledImages(labels, N_CLASSES["comments"], config.image_size, preload=preload)
    build_s = time.perf_counter() - start
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        collate_fn=dataset.collate,
    )
    preloaded = [
        (dataset.augment(images.to(device)), comments.to(device), reactions.to(device))
        for images, comments, reactions, _ in DataLoader(
            dataset, batch_size=config.batch_size, collate_fn=dataset.collate
        )
    ]
    model = VisEModel(config.backbone, N_CLASSES).to(device, memory_format=CNN_MEMORY_FORMAT)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    autocast = torch.autocast(device.type, dtype=torch.float16) if amp else nullcontext()

    def step(images: torch.Tensor, comments: torch.Tensor, reactions: torch.Tensor) -> None:
        images = normalise(colour_jitter(images, config.hue_jitter))
        with autocast:
            loss, _ = vise_loss(model(images.contiguous(memory_format=CNN_MEMORY_FORMAT)), comments, reactions)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def end_to_end() -> float:
        start = time.perf_counter()
        for images, comments, reactions in loader:
            crops = dataset.augment(images.to(device, non_blocking=True))
            step(crops, comments.to(device, non_blocking=True), reactions.to(device, non_blocking=True))
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    def from_tensors() -> float:
        start = time.perf_counter()
        for batch in preloaded:
            step(*batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    step(*preloaded[0])  # warm-up
    e2e, pre = [], []
    for _ in range(ROUNDS):
        e2e.append(end_to_end())
        pre.append(from_tensors())
    return len(labels) / min(e2e), len(labels) / min(pre), build_s


def main(n_images: int = 512, num_workers: int = 0) -> None:
    config = TrainConfig(num_workers=num_workers)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    with tempfile.TemporaryDirectory() as tmp:
        labels = _labels(Path(tmp), n_images)
        header = (
            f"{'device':<8} {'amp':<5} {'preload':<8} {'end to end img/s':>17} {'preloaded img/s':>16} {'ratio':>6}"
        )
        print(header, f"{'decode once s':>14} {'8-epoch ratio':>14}")  # noqa: T201
        for device in devices:
            for amp in (False, True) if device.type == "cuda" else (False,):
                for preload in (True, False):
                    e2e, pre, build_s = measure(labels, config, device, amp, preload)
                    # The whole default run: the one-off decoding plus `epochs` epochs end to end.
                    run_ratio = (config.epochs * n_images / pre) / (build_s + config.epochs * n_images / e2e)
                    print(  # noqa: T201
                        f"{device.type:<8} {amp!s:<5} {preload!s:<8} {e2e:>17.1f} {pre:>16.1f} {e2e / pre:>6.2f} "
                        f"{build_s:>14.2f} {run_ratio:>14.2f}"
                    )
    print(  # noqa: T201
        f"({n_images} images of 96 px cropped to {config.image_size}, {config.backbone}, batch {config.batch_size}, "
        f"{torch.get_num_threads()} torch threads, {num_workers} loader workers, best of {ROUNDS}; "
        f"target ratio >= 0.8 on CPU)"
    )


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:]])
