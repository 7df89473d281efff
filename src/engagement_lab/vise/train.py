"""VisE pretraining: the model's batch and loss code on the shared training scaffold
(:mod:`engagement_lab.core.training`: one loop, a checkpoint per epoch that holds everything to resume).

Runs inside a Kedro node (single process) or, data parallel, under ``torchrun``; the entry point that
loads the data through the catalog is :mod:`engagement_lab.pipelines.pretraining.torchrun`:

    python -m torch.distributed.run --nproc_per_node=4 -m engagement_lab.pipelines.pretraining.torchrun \
        --variant vise --env paper
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
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

from engagement_lab.core.training import Checkpoint, FitConfig, autocast, fit, pick_device, seed_everything
from engagement_lab.features.encoders import CNN_MEMORY_FORMAT, IMAGENET_MEAN, IMAGENET_STD
from engagement_lab.vise.models import ALL_TASKS, SEMANTIC_TASK, TASKS, VisEModel, vise_loss

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    backbone: str = "resnet_small"  # resnet50 in the paper environment
    tasks: tuple[str, ...] = TASKS  # both, ("comments",), ("reactions",) or the semantic control ("concepts",)
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
        if not config.tasks or set(config.tasks) - set(ALL_TASKS):
            raise ValueError(f"tasks must be a non-empty subset of {list(ALL_TASKS)}, got {list(config.tasks)}")
        if SEMANTIC_TASK in config.tasks and len(config.tasks) > 1:
            raise ValueError(
                f"{SEMANTIC_TASK!r} is the semantic-label control: train it alone, got {list(config.tasks)}"
            )
        return config


def read_rgb(path: str) -> torch.Tensor:
    """A JPEG/PNG file as a (3, H, W) uint8 tensor (PIL: torchvision.io's decoders are deprecated)."""
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


class PseudoLabelledImages(Dataset):
    """Images (uint8) with their soft comment-cluster target, reaction-cluster index and concept index (-1 where
    ``labels`` has no ``concept_label`` column or no label: only the semantic control uses it); ``augment``
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
        concepts = labels["concept_label"] if "concept_label" in labels else pd.Series(-1, index=labels.index)
        self.concept_targets = torch.tensor(concepts.to_numpy(np.int64))
        self.transform = v2.Compose([v2.RandomResizedCrop(image_size, scale=(0.5, 1.0)), v2.RandomHorizontalFlip()])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        targets = self.comment_targets[i], self.reaction_targets[i], self.concept_targets[i]
        if self.stacked is not None:  # cropped per batch, in augment
            return self.stacked[i], *targets
        image = self.images[i] if self.images is not None else read_rgb(self.paths[i])
        return self.transform(image), *targets

    def __getitems__(self, indices: list[int]) -> Any:
        """A whole batch at once (DataLoader's batched fetch): one gather from the stacked images."""
        if self.stacked is None:
            return [self[i] for i in indices]
        index = torch.as_tensor(indices)
        return (
            self.stacked[index],
            self.comment_targets[index],
            self.reaction_targets[index],
            self.concept_targets[index],
        )

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


def variant_name(tasks: tuple[str, ...]) -> str:
    """The variant a task set is (``core.registry.PRETRAINING_VARIANTS``), for the training log."""
    if SEMANTIC_TASK in tasks:
        return f"supervised_{SEMANTIC_TASK}"
    return "vise" if set(tasks) == set(TASKS) else "vise_" + "_".join(tasks)


def data_fingerprint(labels: pd.DataFrame) -> str:
    """Identifies the training set, so a checkpoint is only resumed on the data it was trained on."""
    columns = ["post_id", "image_path", "reaction_cluster", *(["concept_label"] if "concept_label" in labels else [])]
    hashed = pd.util.hash_pandas_object(labels[columns], index=False)
    clusters = labels["comment_clusters"].map(lambda c: ",".join(map(str, c)))
    return f"{int(hashed.sum()) & (2**64 - 1):x}-{int(pd.util.hash_pandas_object(clusters, index=False).sum()) & (2**64 - 1):x}"


def resumable_config(config: TrainConfig) -> dict[str, Any]:
    """The fields a checkpoint must match to be resumed: where and how fast it runs may change (``preload`` may
    not: it picks the batched or the per-image crop, two different random augmentations)."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in ("device", "num_workers")}


def warmup_cosine(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def batch_stats(
    logits: dict[str, torch.Tensor],
    loss: torch.Tensor,
    parts: dict[str, torch.Tensor],
    comment_targets: torch.Tensor,
    reaction_targets: torch.Tensor,
    concept_targets: torch.Tensor,
) -> dict[str, float]:
    """One batch's sums for the epoch's metrics; each accuracy counts only the images that have that signal."""
    n = len(reaction_targets)
    stats = {"images": n, "loss": loss.item() * n, **{f"loss_{task}": part.item() * n for task, part in parts.items()}}
    with torch.no_grad():
        for task, name, targets in (
            ("reactions", "reaction", reaction_targets),
            (SEMANTIC_TASK, "concept", concept_targets),
        ):
            if task in logits:
                has = targets >= 0
                stats[f"{name}_hits"] = ((logits[task].argmax(1) == targets) & has).sum().item()
                stats[f"{name}_images"] = has.sum().item()
        if "comments" in logits:
            has = comment_targets.sum(1) > 0
            stats["comment_hits"] = ((logits["comments"].argmax(1) == comment_targets.argmax(1)) & has).sum().item()
            stats["comment_images"] = has.sum().item()
    return stats


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
    device = pick_device(config.device)

    # ---- data: the shuffle order is seeded per epoch, so a resumed epoch sees the same order
    dataset = PseudoLabelledImages(labels, n_classes["comments"], config.image_size, config.preload)
    sampler = DistributedSampler(dataset, shuffle=True, seed=config.seed) if distributed else None
    steps_per_epoch = math.ceil(len(dataset) / ((dist.get_world_size() if distributed else 1) * config.batch_size))

    def batches(epoch: int) -> DataLoader:
        if sampler is not None:
            sampler.set_epoch(epoch)
        order = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        return DataLoader(
            dataset,
            batch_size=config.batch_size,
            sampler=sampler or RandomSampler(dataset, generator=order),
            num_workers=config.num_workers,
            generator=order,
            pin_memory=device.type == "cuda",
            persistent_workers=False,
            collate_fn=dataset.collate,
        )

    # ---- model, optimiser, schedule: SGD with momentum, linear warm-up then cosine decay per step
    seed_everything(config.seed, python=True)
    model = VisEModel(config.backbone, {task: n_classes[task] for task in config.tasks})
    model = model.to(device, memory_format=CNN_MEMORY_FORMAT)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=True,
    )
    schedule = warmup_cosine(int(config.warmup_epochs * steps_per_epoch), config.epochs * steps_per_epoch)
    forward = model  # what train_step calls: under torchrun, the DDP wrapper that all-reduces the gradients
    if distributed:
        forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def train_step(batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        images, *targets = (t.to(device, non_blocking=True) for t in batch)
        images = normalise(colour_jitter(dataset.augment(images), config.hue_jitter))
        images = images.contiguous(memory_format=CNN_MEMORY_FORMAT)
        with autocast(device, config.amp):
            logits = forward(images)
            loss, parts = vise_loss(logits, *targets)
        return loss, batch_stats(logits, loss, parts, *targets)

    def summarise(sums: dict[str, float]) -> dict[str, float]:
        names = ["loss", *(f"loss_{task}" for task in config.tasks)]
        metrics = {name: sums[name] / max(sums["images"], 1) for name in names}
        for task in ("reaction", "comment", "concept"):
            if sums.get(f"{task}_images"):
                metrics[f"{task}_acc"] = sums[f"{task}_hits"] / sums[f"{task}_images"]  # top-1, pseudo-labels
        metrics["lr"] = optimizer.param_groups[0]["lr"]  # the next step's
        return metrics

    checkpoint = None
    if checkpoint_path:
        checkpoint = Checkpoint(Path(checkpoint_path), resumable_config(config), data_fingerprint(labels))
    result = fit(
        model,
        optimizer,
        FitConfig(
            epochs=config.epochs,
            name=f"pretraining.{variant_name(config.tasks)}",
            amp=config.amp,
            progress=True,
        ),
        batches,
        train_step,
        summarise=summarise,
        lr_at=lambda step: config.learning_rate * schedule(step),
        checkpoint=checkpoint,
        on_epoch_end=on_epoch_end,
    )
    history = [{**row, "epoch": row["epoch"] + 1} for row in result.history]  # VisE counts epochs from 1
    return model.backbone.cpu().eval(), history
