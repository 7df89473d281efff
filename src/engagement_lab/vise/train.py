"""VisE pretraining: one loop, a config, a checkpoint per epoch that holds everything to resume.

Runs inside a Kedro node (single process) or under ``torchrun`` (DistributedDataParallel):

    torchrun --nproc_per_node=4 -m engagement_lab.vise.train --variant vise --env paper

The entry point loads the pseudo-labels and parameters through the project's catalog, runs
the same :func:`train`, and saves the backbone to the catalog from rank 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import random
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from PIL import Image
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, default_collate
from torchvision.transforms import v2
from tqdm.auto import tqdm

from engagement_lab.features.encoders import CNN_MEMORY_FORMAT, IMAGENET_MEAN, IMAGENET_STD, pick_device
from engagement_lab.vise.models import TASKS, VisEModel, vise_loss

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    backbone: str = "resnet_small"  # resnet50 in the paper environment
    tasks: tuple[str, ...] = TASKS  # both, ("comments",) or ("reactions",)
    image_size: int = 64
    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 0.05  # SGD with momentum, linear warm-up then cosine decay per step
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    hue_jitter: float = 0.0  # colour augmentation (0: off); the world already varies its palettes
    num_workers: int = 0  # DataLoader workers cropping (and, without preload, decoding) images
    preload: bool = True  # decode every image once into memory (the demo set: ~60 MB); false for large sets
    device: str = "auto"  # auto: CUDA when present
    amp: bool = True  # mixed precision, used on CUDA only
    seed: int = 42

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(params) - fields
        if unknown:
            raise ValueError(f"Unknown pretraining parameters {sorted(unknown)}; known: {sorted(fields)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        config = cls(**values)
        if not config.tasks or set(config.tasks) - set(TASKS):
            raise ValueError(f"tasks must be a non-empty subset of {list(TASKS)}, got {list(config.tasks)}")
        return config


def read_rgb(path: str) -> torch.Tensor:
    """A JPEG/PNG file as a (3, H, W) uint8 tensor (PIL: torchvision.io's decoders are deprecated)."""
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


class PseudoLabelledImages(Dataset):
    """Images (uint8) with their soft comment-cluster target and reaction-cluster index; ``augment``
    turns a batch of them into random-resized, flipped crops of ``image_size``.

    ``preload`` decodes every file once, here, and when all images share one size (the sample world's
    do) keeps them as one tensor and crops whole batches at once (``random_resized_crops``): per-image
    PIL decoding and transforms cost more than the small CNN's step (bench/bench_pretraining.py).
    Otherwise each item is read (without preload) and cropped on its own, in the loader's workers."""

    def __init__(self, labels: pd.DataFrame, n_comment_clusters: int, image_size: int, preload: bool = True) -> None:
        self.paths = labels["image_path"].tolist()
        self.image_size = image_size
        decoded = [read_rgb(path) for path in self.paths] if preload else None
        self.stacked = torch.stack(decoded) if decoded and len({d.shape for d in decoded}) == 1 else None
        self.images = None if self.stacked is not None else decoded
        self.comment_targets = soft_targets(labels["comment_clusters"], n_comment_clusters)
        self.reaction_targets = torch.tensor(labels["reaction_cluster"].to_numpy(np.int64))
        self.transform = v2.Compose([v2.RandomResizedCrop(image_size, scale=(0.5, 1.0)), v2.RandomHorizontalFlip()])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.stacked is not None:  # cropped per batch, in augment
            return self.stacked[i], self.comment_targets[i], self.reaction_targets[i]
        image = self.images[i] if self.images is not None else read_rgb(self.paths[i])
        return self.transform(image), self.comment_targets[i], self.reaction_targets[i]

    def __getitems__(self, indices: list[int]) -> Any:
        """A whole batch at once (DataLoader's batched fetch): one gather from the stacked images."""
        if self.stacked is None:
            return [self[i] for i in indices]
        index = torch.as_tensor(indices)
        return self.stacked[index], self.comment_targets[index], self.reaction_targets[index]

    def collate(self, batch: Any) -> Any:
        """The DataLoader's ``collate_fn``: ``__getitems__`` of stacked images is a batch already."""
        return batch if self.stacked is not None else default_collate(batch)

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """A collated batch → cropped, flipped float images in [0, 1]."""
        crops = random_resized_crops(images, self.image_size) if self.stacked is not None else images.float()
        return crops.div_(255)


def random_resized_crops(
    images: torch.Tensor,
    size: int,
    scale: tuple[float, float] = (0.5, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """RandomResizedCrop and RandomHorizontalFlip of a whole (n, 3, h, w) batch in one bilinear
    ``grid_sample`` (2.4x faster than ``roi_align`` on CPU): per image a box of ``scale`` of the area with
    aspect ``ratio`` (log-uniform; clipped to the image instead of torchvision's resampling) at a uniform
    position, mirrored with probability 1/2. Float, in the input's range."""
    n = images.shape[0]
    area = torch.empty(n).uniform_(*scale)
    aspect = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1])).exp()
    width, height = (area * aspect).sqrt().clamp(max=1.0), (area / aspect).sqrt().clamp(max=1.0)
    centre_x, centre_y = (torch.rand(n) * 2 - 1) * (1 - width), (torch.rand(n) * 2 - 1) * (1 - height)
    mirror = torch.where(torch.rand(n) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)  # output [-1, 1]² → the box, in the input's [-1, 1] coordinates
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = width * mirror, centre_x, height, centre_y
    grid = F.affine_grid(theta, [n, images.shape[1], size, size], align_corners=False).to(images.device)
    return F.grid_sample(images.float(), grid, mode="bilinear", align_corners=False)


# RGB → YIQ: Y is luma, I and Q span the chroma plane that a hue shift rotates.
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def colour_jitter(images: torch.Tensor, hue: float, strength: float = 0.3) -> torch.Tensor:
    """Per-image random hue rotation, saturation, brightness and contrast of a [0, 1] batch.

    One 3×3 colour matrix per image, applied batched on the images' device: torchvision's
    per-image ColorJitter (an HSV round trip) ran at a few images/s on CPU and starved the loop.
    Random numbers come from torch's CPU generator, which the checkpoint saves."""
    n = images.shape[0]
    draws = torch.rand(n, 4) * 2 - 1
    angle = draws[:, 0] * hue * 2 * math.pi
    saturation, brightness, contrast = (1 + strength * draws[:, i] for i in (1, 2, 3))
    chroma = torch.zeros(n, 3, 3)
    chroma[:, 0, 0] = 1
    chroma[:, 1, 1], chroma[:, 1, 2] = angle.cos() * saturation, -angle.sin() * saturation
    chroma[:, 2, 1], chroma[:, 2, 2] = angle.sin() * saturation, angle.cos() * saturation
    matrix = (torch.linalg.inv(_YIQ) @ chroma @ _YIQ * brightness[:, None, None]).to(images.device)
    out = torch.einsum("nij,njhw->nihw", matrix, images)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * contrast.to(images.device)[:, None, None, None] + mean
    return out.clamp(0, 1)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """ImageNet mean/std, as the frozen encoder and the transfer evaluation's inputs have it."""
    return (images - IMAGENET_MEAN.to(images.device)) / IMAGENET_STD.to(images.device)


def soft_targets(cluster_lists: pd.Series, n_clusters: int) -> torch.Tensor:
    """One row per post: the share of its sampled comments in each comment cluster (zeros: none)."""
    targets = torch.zeros(len(cluster_lists), n_clusters)
    for row, clusters in enumerate(cluster_lists):
        indices = torch.as_tensor(np.asarray(clusters, dtype=np.int64))
        if len(indices):
            targets[row] = torch.bincount(indices, minlength=n_clusters).float() / len(indices)
    return targets


def cluster_counts(cluster_report: dict[str, Any]) -> dict[str, int]:
    """The number of comment and reaction clusters (the heads' output sizes) from the cluster report."""
    return {"comments": len(cluster_report["comment_clusters"]), "reactions": len(cluster_report["reaction_clusters"])}


def data_fingerprint(labels: pd.DataFrame) -> str:
    """Identifies the training set, so a checkpoint is only resumed on the data it was trained on."""
    hashed = pd.util.hash_pandas_object(labels[["post_id", "image_path", "reaction_cluster"]], index=False)
    clusters = labels["comment_clusters"].map(lambda c: ",".join(map(str, c)))
    return f"{int(hashed.sum()) & (2**64 - 1):x}-{int(pd.util.hash_pandas_object(clusters, index=False).sum()) & (2**64 - 1):x}"


def resumable_config(config: TrainConfig) -> dict[str, Any]:
    """The fields a checkpoint must match to be resumed: where and how fast it runs may change (``preload`` may
    not: it picks the batched or the per-image crop, two different random augmentations)."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in ("device", "num_workers")}


def rng_states() -> dict[str, Any]:
    # numpy's global RNG is not used in training; torch's drives sampling and augmentation.
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    random.setstate(states["python"])


def warmup_cosine(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def train(
    config: TrainConfig,
    labels: pd.DataFrame,
    n_classes: dict[str, int],
    checkpoint_path: str | Path | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train a VisE model on ``labels`` (post_id, image_path, comment_clusters, reaction_cluster).

    Returns the backbone on the CPU (the heads are pretraining-only) and the per-epoch history.
    With ``checkpoint_path``, a checkpoint is written after every epoch and a matching one
    (same config, same data) is resumed from; a finished one returns at once."""
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    device = pick_device(config.device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    use_amp = config.amp and device.type == "cuda"
    fingerprint = data_fingerprint(labels)

    # ---- data: the sampler's shuffle order is seeded per epoch, so a resumed epoch sees the same order
    dataset = PseudoLabelledImages(labels, n_classes["comments"], config.image_size, config.preload)
    sampler = DistributedSampler(dataset, shuffle=True, seed=config.seed) if distributed else None
    steps_per_epoch = math.ceil(len(dataset) / ((dist.get_world_size() if distributed else 1) * config.batch_size))

    # ---- model, optimiser, schedule, scaler
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    model = VisEModel(config.backbone, {task: n_classes[task] for task in config.tasks})
    model = model.to(device, memory_format=CNN_MEMORY_FORMAT)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=True,
    )
    total_steps = config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(int(config.warmup_epochs * steps_per_epoch), total_steps)
    )
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    start_epoch, history = 0, []

    # ---- resume
    checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
    if checkpoint_path and checkpoint_path.exists():
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if checkpoint["config"] == resumable_config(config) and checkpoint["data"] == fingerprint:
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            scaler.load_state_dict(checkpoint["scaler"])
            set_rng_states(checkpoint["rng"])
            start_epoch, history = checkpoint["epoch"], checkpoint["history"]
            logger.info("Resuming %s from epoch %d of %d", checkpoint_path, start_epoch, config.epochs)
        else:
            logger.warning("Checkpoint %s is for another config or data set; training from scratch", checkpoint_path)

    raw_model = model
    if distributed:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    autocast = torch.autocast(device.type, dtype=torch.float16) if use_amp else nullcontext()

    for epoch in range(start_epoch, config.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        order = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        loader = DataLoader(
            dataset,
            batch_size=config.batch_size,
            sampler=sampler or RandomSampler(dataset, generator=order),
            num_workers=config.num_workers,
            generator=order,
            pin_memory=device.type == "cuda",
            persistent_workers=False,
            collate_fn=dataset.collate,
        )
        model.train()
        # Sums over the epoch; each accuracy counts only the images that have that signal.
        sums = dict.fromkeys(
            [
                "loss",
                *(f"loss_{t}" for t in config.tasks),
                "images",
                "reaction_hits",
                "reaction_images",
                "comment_hits",
                "comment_images",
            ],
            0.0,
        )
        bar = tqdm(loader, desc=f"pretrain epoch {epoch + 1}/{config.epochs}", disable=rank != 0, leave=False)
        for batch in bar:
            images, comment_targets, reaction_targets = (t.to(device, non_blocking=True) for t in batch)
            images = normalise(colour_jitter(dataset.augment(images), config.hue_jitter))
            images = images.contiguous(memory_format=CNN_MEMORY_FORMAT)
            with autocast:
                logits = model(images)
                loss, parts = vise_loss(logits, comment_targets, reaction_targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()

            n = len(images)
            sums["images"] += n
            sums["loss"] += loss.item() * n
            for task, part in parts.items():
                sums[f"loss_{task}"] += part.item() * n
            with torch.no_grad():
                if "reactions" in logits:
                    has = reaction_targets >= 0
                    hits = (logits["reactions"].argmax(1) == reaction_targets) & has
                    sums["reaction_hits"] += hits.sum().item()
                    sums["reaction_images"] += has.sum().item()
                if "comments" in logits:
                    has = comment_targets.sum(1) > 0
                    hits = (logits["comments"].argmax(1) == comment_targets.argmax(1)) & has
                    sums["comment_hits"] += hits.sum().item()
                    sums["comment_images"] += has.sum().item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        metrics = {name: sums[name] / max(sums["images"], 1) for name in ["loss", *(f"loss_{t}" for t in config.tasks)]}
        for task in ("reaction", "comment"):
            if sums[f"{task}_images"]:
                metrics[f"{task}_acc"] = sums[f"{task}_hits"] / sums[f"{task}_images"]  # top-1, pseudo-labels
        metrics["lr"] = scheduler.get_last_lr()[0]
        history.append({"epoch": epoch + 1, **metrics})
        logger.info(
            "pretraining epoch %d/%d: %s",
            epoch + 1,
            config.epochs,
            ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
        )

        if checkpoint_path and rank == 0:
            checkpoint = {
                "model": raw_model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch + 1,
                "rng": rng_states(),
                "config": resumable_config(config),
                "data": fingerprint,
                "history": history,
            }
            checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
            partial = checkpoint_path.with_suffix(".partial")
            torch.save(checkpoint, partial)
            os.replace(partial, checkpoint_path)  # a kill mid-write never leaves a broken checkpoint
        if on_epoch_end is not None and rank == 0:
            on_epoch_end(epoch + 1, metrics)
        if distributed:
            dist.barrier()

    return raw_model.backbone.cpu().eval(), history


def main(argv: list[str] | None = None) -> None:
    """``torchrun`` entry point: the node's training, data parallel over processes (and machines).

    Loads the pseudo-labels and parameters through the project's catalog, trains with
    DistributedDataParallel (NCCL on GPUs, Gloo on CPUs), and from rank 0 logs per-epoch metrics
    to an MLflow run and saves the backbone as a new version of ``<variant>.backbone``."""
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from engagement_lab.hooks import log_saved_artifact

    parser = argparse.ArgumentParser(prog="python -m engagement_lab.vise.train", description=main.__doc__)
    parser.add_argument("--variant", default="vise", help="a key of pretraining.variants (default: vise)")
    parser.add_argument("--env", default=None, help="Kedro configuration environment, e.g. paper")
    parser.add_argument("--project-path", default=".", help="the Kedro project (default: the current folder)")
    args = parser.parse_args(argv)

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if distributed else 0
    project = Path(args.project_path).resolve()
    bootstrap_project(project)
    if distributed and rank != 0:
        dist.barrier()  # rank 0 first: it creates the MLflow store, which must not be created twice
    with KedroSession.create(project_path=project, env=args.env) as session:
        context = session.load_context()
        if distributed and rank == 0:
            dist.barrier()
        params = context.params["pretraining"]
        if args.variant not in params["variants"]:
            raise SystemExit(f"Unknown variant {args.variant!r}; pretraining.variants has {sorted(params['variants'])}")
        variant = params["variants"][args.variant]
        config = TrainConfig.from_params({**params["config"], "tasks": variant["tasks"]})
        catalog = context.catalog
        labels, report = catalog.load("vise_pseudo_labels"), catalog.load("vise_cluster_report")

        def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
            mlflow.log_metrics({f"pretraining.{args.variant}.{k}": v for k, v in metrics.items()}, step=epoch)

        run = mlflow.start_run(run_name=f"torchrun pretraining {args.variant}") if rank == 0 else None
        try:
            backbone, _ = train(config, labels, cluster_counts(report), variant["checkpoint"], on_epoch_end=log_epoch)
            if rank == 0:
                mlflow.log_params(
                    {
                        "variant": args.variant,
                        "world_size": dist.get_world_size() if distributed else 1,
                        **dataclasses.asdict(config),
                    }
                )
                catalog.save(f"{args.variant}.backbone", backbone)
                log_saved_artifact(catalog, f"{args.variant}.backbone")
        finally:
            if run is not None:
                mlflow.end_run()
            if distributed:
                dist.destroy_process_group()


if __name__ == "__main__":
    main()
