"""Transfer evaluation (VisE §4.2–4.3): linear evaluation and fine-tuning on a labelled image set.

UnbiasedEmotion protocol: random 70/10/20 train/val/test splits, five times; the mean and std
of test accuracy over the splits. Every choice (the linear model's C, the fine-tuning epoch)
is made on the split's validation part.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from engagement_lab.core.training import FitConfig, fit
from engagement_lab.features.encoders import CNN_MEMORY_FORMAT, ImageFiles
from engagement_lab.vise.train import random_resized_crops

logger = logging.getLogger(__name__)


def random_splits(
    labels: np.ndarray, n_splits: int, fractions: tuple[float, float, float], seed: int
) -> list[dict[str, np.ndarray]]:
    """``n_splits`` random train/val/test index splits, stratified by label."""
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    index = np.arange(len(labels))
    # Whole counts, rounded once: fractions of fractions drift (0.1 / 0.8 of 240 is 30.000000000000004).
    n_test, n_val = round(fractions[2] * len(labels)), round(fractions[1] * len(labels))
    splits = []
    for i in range(n_splits):
        rest, test = train_test_split(index, test_size=n_test, stratify=labels, random_state=seed + i)
        train, val = train_test_split(rest, test_size=n_val, stratify=labels[rest], random_state=seed + i)
        splits.append({"train": train, "val": val, "test": test})
    return splits


def load_images(paths: list[str], image_size: int) -> torch.Tensor:
    """Decode and normalise every image once: the labelled set is small."""
    loader = DataLoader(ImageFiles(paths, image_size), batch_size=64)
    return torch.cat(list(loader))


@torch.inference_mode()
def extract_features(backbone: nn.Module, images: torch.Tensor, device: torch.device) -> np.ndarray:
    backbone = backbone.eval().to(device, memory_format=CNN_MEMORY_FORMAT)
    batches = [backbone(batch.to(device, memory_format=CNN_MEMORY_FORMAT)).float().cpu() for batch in images.split(128)]
    return torch.cat(batches).numpy()


def linear_evaluation(
    features: np.ndarray, labels: np.ndarray, splits: list[dict[str, np.ndarray]], cs: list[float], max_iter: int
) -> tuple[list[float], list[float]]:
    """Frozen features → standardised (fit on train) → logistic regression, C chosen on val.

    Returns the test accuracy and the chosen C per split."""
    accuracies, chosen = [], []
    for split in splits:
        scaler = StandardScaler().fit(features[split["train"]])
        x = {part: scaler.transform(features[index]) for part, index in split.items()}
        fitted = [LogisticRegression(C=c, max_iter=max_iter).fit(x["train"], labels[split["train"]]) for c in cs]
        val = [model.score(x["val"], labels[split["val"]]) for model in fitted]
        best = int(np.argmax(val))
        accuracies.append(float(fitted[best].score(x["test"], labels[split["test"]])))
        chosen.append(float(cs[best]))
    return accuracies, chosen


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 6
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 42


def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    model.eval()
    with torch.inference_mode():
        batches = images.split(128)
        predicted = torch.cat(
            [model(batch.to(device, memory_format=CNN_MEMORY_FORMAT)).argmax(1).cpu() for batch in batches]
        )
    return float((predicted == labels).float().mean())


def finetune(
    make_backbone: Callable[[], tuple[nn.Module, int]],
    images: torch.Tensor,
    labels: np.ndarray,
    split: dict[str, np.ndarray],
    config: FinetuneConfig,
    device: torch.device,
    name: str = "fine-tuning",
) -> tuple[float, int]:
    """Fine-tune backbone + a new linear head end to end in the shared loop (``core.training.fit``), keeping the
    epoch best on val. Logs each epoch under ``name`` (the model and split).

    Returns the test accuracy of that epoch's model and the epoch (from 1)."""
    torch.manual_seed(config.seed)
    backbone, dim = make_backbone()
    n_classes = int(labels.max()) + 1
    model = nn.Sequential(backbone, nn.Linear(dim, n_classes)).to(device, memory_format=CNN_MEMORY_FORMAT)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay, foreach=True
    )
    size = images.shape[-1]
    y = torch.as_tensor(labels, dtype=torch.long)
    train = TensorDataset(images[split["train"]], y[split["train"]])
    order = torch.Generator().manual_seed(config.seed)  # one stream over the epochs: each shuffles anew

    def batches(epoch: int) -> DataLoader:
        return DataLoader(train, batch_size=config.batch_size, shuffle=True, generator=order)

    def train_step(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        # RandomResizedCrop(scale 0.6–1) + horizontal flip of the whole batch at once (pretraining's batched
        # crops; torchvision's per-image transforms cost ~5x more here).
        pixels, target = batch
        augmented = random_resized_crops(pixels, size, scale=(0.6, 1.0)).to(device, memory_format=CNN_MEMORY_FORMAT)
        loss = nn.functional.cross_entropy(model(augmented), target.to(device))
        return loss, {"loss": loss.item()}

    def evaluate() -> dict[str, float]:
        return {"val_acc": _accuracy(model, images[split["val"]], y[split["val"]], device)}

    # amp off: fine-tuning has always run in float32, also on CUDA (the results contracts were made so)
    loop = FitConfig(epochs=config.epochs, name=name, amp=False, select="val_acc", maximize=True)
    result = fit(model, optimizer, loop, batches, train_step, evaluate)  # ends with the best epoch's weights
    return _accuracy(model, images[split["test"]], y[split["test"]], device), result.best_epoch + 1
