"""One plain training loop for the fusion classifier (§4.1) and the multimodal regressor (§4.3).

AdamW; optional linear warmup then cosine decay; gradient accumulation; gradient clipping; mixed
precision (autocast + GradScaler) on CUDA only. After every epoch the model is scored on the validation
split and the best state (macro-F1 for classification, R² for regression — "models are saved only if they
achieve a better R²") is kept; the test split is never seen here. The loop itself is the shared scaffold,
:func:`engagement_lab.core.training.fit`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from engagement_lab.core.metrics import classification_metrics, regression_metrics
from engagement_lab.core.training import FitConfig, autocast, fit, pick_device, seed_everything
from engagement_lab.engagement.models import hybrid_loss
from engagement_lab.features.encoders import torch_threads

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    task: str = "regression"  # regression | classification
    epochs: int = 30
    batch_size: int = 64
    grad_accum: int = 1
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    schedule: str = "cosine"  # cosine | constant
    grad_clip: float = 1.0
    mse_weight: float = 0.7  # regression: 0.7·MSE + 0.3·Huber
    device: str = "auto"
    seed: int = 0
    threads: int = 1  # tiny models: one thread; more spin-wait on a shared 2-core machine

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Arrays:
    """One split's inputs and target as numpy arrays."""

    image: np.ndarray
    text: np.ndarray
    has_image: np.ndarray
    y: np.ndarray

    def tensors(self, task: str) -> tuple[torch.Tensor, ...]:
        y = torch.tensor(np.asarray(self.y), dtype=torch.long if task == "classification" else torch.float32)
        return (
            torch.tensor(self.image, dtype=torch.float32),
            torch.tensor(self.text, dtype=torch.float32),
            torch.tensor(np.asarray(self.has_image), dtype=torch.float32),
            y,
        )


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    if cfg.schedule == "constant":
        return cfg.learning_rate
    warmup = max(1, int(cfg.warmup_fraction * total))
    if step < warmup:
        return cfg.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return cfg.learning_rate * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.inference_mode()
def predict(model: nn.Module, data: Arrays, device: torch.device, task: str, batch_size: int = 512) -> np.ndarray:
    """Class ids (classification) or target values (regression), in order."""
    model.eval()
    out = []
    image, text, has_image, _ = data.tensors(task)
    for i in range(0, len(image), batch_size):
        with autocast(device):
            result = model(
                image[i : i + batch_size].to(device),
                text[i : i + batch_size].to(device),
                has_image[i : i + batch_size].to(device),
            )
        out.append(result.float().argmax(dim=-1) if task == "classification" else result.float())
    return torch.cat(out).cpu().numpy() if out else np.zeros(0)


def evaluate(model: nn.Module, data: Arrays, device: torch.device, task: str, prefix: str) -> dict[str, float]:
    pred = predict(model, data, device, task)
    if task == "classification":
        return classification_metrics(data.y, pred, prefix)
    return regression_metrics(data.y, pred, prefix)


def train(
    build: Callable[[], nn.Module], train_data: Arrays, val_data: Arrays, cfg: TrainConfig
) -> tuple[nn.Module, list[dict]]:
    """Build the model under ``cfg.seed`` (so its initial weights are the seed's, whatever ran before), train it,
    keep the state with the best validation score; returns that model (on CPU) and the per-epoch history."""
    seed_everything(cfg.seed)
    with torch_threads(cfg.threads):
        model = build()
        device = pick_device(cfg.device)
        if cfg.task == "regression":  # the network learns the standardised target (train statistics)
            model.target_mean.fill_(float(np.mean(train_data.y)))
            model.target_std.fill_(float(np.std(train_data.y)) or 1.0)
        model.to(device)
        loader = DataLoader(
            TensorDataset(*train_data.tensors(cfg.task)),
            batch_size=cfg.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(cfg.seed),
            drop_last=len(train_data.y) > cfg.batch_size,
        )
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay, foreach=True
        )
        total_steps = max(1, cfg.epochs * math.ceil(len(loader) / cfg.grad_accum))

        def train_step(batch: list[torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
            image, text, has_image, y = (t.to(device, non_blocking=True) for t in batch)
            with autocast(device):
                if cfg.task == "classification":
                    loss = nn.functional.cross_entropy(model(image, text, has_image).float(), y)
                else:
                    target = (y - model.target_mean) / model.target_std
                    loss = hybrid_loss(model.standardised(image, text, has_image).float(), target, cfg.mse_weight)
            return loss, {"loss": loss.item()}

        fusion = getattr(getattr(model, "cfg", None), "fusion", None)  # the classifier's fusion strategy
        fit_config = FitConfig(
            epochs=cfg.epochs,
            name=f"engagement.{f'fusion_{fusion}' if cfg.task == 'classification' and fusion else cfg.task} "
            f"seed {cfg.seed}",
            grad_accum=cfg.grad_accum,
            grad_clip=cfg.grad_clip,
            select="val_macro_f1" if cfg.task == "classification" else "val_r2",
            maximize=True,
        )
        result = fit(
            model,
            optimizer,
            fit_config,
            lambda epoch: loader,
            train_step,
            lambda: evaluate(model, val_data, device, cfg.task, "val"),
            lr_at=lambda step: lr_at(step, total_steps, cfg),
        )
        return model.cpu(), result.history
