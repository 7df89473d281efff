"""One plain training loop for every model of Tables I–II (nanoGPT style: a config, one loop).

Adam with the paper's step schedule (lr for the first ``lr_drop_epoch`` epochs, then ``lr_after``),
binary cross-entropy, model selection on validation loss, mixed precision on CUDA only; the loop is the shared
scaffold, :func:`engagement_lab.core.training.fit`."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from engagement_lab.core.training import FitConfig, autocast, fit, pick_device, seed_everything
from engagement_lab.dual_attention.models import ModelConfig, PopularityNet, loss_fn
from engagement_lab.features.encoders import torch_threads

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128  # paper: 128
    lr: float = 1e-3  # paper: 1e-3 for the first two epochs ...
    lr_after: float = 1e-4  # ... then 1e-4
    lr_drop_epoch: int = 2
    weight_decay: float = 0.0
    patience: int = 5  # epochs without a better validation loss before stopping
    ccr_consistency: float = 0.5
    seed: int = 0
    device: str = "auto"
    threads: int = 2


@dataclass
class Arrays:
    """The model inputs of one split, as tensors."""

    image: torch.Tensor
    tokens: torch.Tensor
    lengths: torch.Tensor
    image_env: torch.Tensor
    topic_env: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def batch(self, idx: torch.Tensor, device: torch.device) -> tuple[dict, torch.Tensor]:
        inputs = {
            "image": self.image[idx],
            "tokens": self.tokens[idx],
            "lengths": self.lengths[idx],
            "image_env": self.image_env[idx],
            "topic_env": self.topic_env[idx],
        }
        inputs = {k: v.to(device) if k != "lengths" else v for k, v in inputs.items()}
        return inputs, self.y[idx].to(device)


def _evaluate(model: PopularityNet, data: Arrays, cfg: TrainConfig, device: torch.device) -> tuple[float, dict]:
    model.eval()
    losses, logits, attention = [], [], []
    with torch.no_grad():
        for start in range(0, len(data), cfg.batch_size):
            idx = torch.arange(start, min(start + cfg.batch_size, len(data)))
            inputs, y = data.batch(idx, device)
            out = model(**inputs)
            losses.append(float(loss_fn(out, y, cfg.ccr_consistency)) * len(idx))
            logits.append(out["logit"].float().cpu())
            if out["attention"] is not None:
                att = torch.zeros(len(idx), data.tokens.shape[1])
                att[:, : out["attention"].shape[1]] = out["attention"].float().cpu()
                attention.append(att)
    result = {"prob": torch.sigmoid(torch.cat(logits)).numpy()}
    result["attention"] = torch.cat(attention).numpy() if attention else None
    return sum(losses) / max(len(data), 1), result


# The dual-attention models of Table II by what sets them apart (conf/base/parameters_dual_attention.yml names
# them so); a baseline of Table I is its architecture.
_DUAL_MODELS = {
    (True, "none"): "e_attn",
    (False, "concat"): "env",
    (False, "implicit"): "env_i_attn",
    (True, "concat"): "e_attn_env",
    (True, "implicit"): "full",
}


def model_name(cfg: ModelConfig) -> str:
    """The model's name in Tables I–II (``visual``, ..., ``e_attn``, ``full``), for the training log."""
    if cfg.arch != "dual":
        return cfg.arch
    return _DUAL_MODELS.get((cfg.explicit_attention, cfg.environment), "dual")


def train_model(
    model_cfg: ModelConfig, cfg: TrainConfig, train: Arrays, val: Arrays, word_vectors: np.ndarray | None = None
) -> tuple[PopularityNet, dict]:
    """Train one model (its word embedding started from ``word_vectors`` when given); keep the weights of
    the epoch with the lowest validation loss.

    Returns the best model (on CPU) and its history (per-epoch train/val loss, best epoch)."""
    seed_everything(cfg.seed, numpy=True)
    with torch_threads(cfg.threads):
        device = pick_device(cfg.device)
        model = PopularityNet(model_cfg, word_vectors).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
        generator = torch.Generator().manual_seed(cfg.seed)
        steps_per_epoch = math.ceil(len(train) / cfg.batch_size)  # the paper's per-epoch lr drop, in steps

        def train_step(idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
            inputs, y = train.batch(idx, device)
            with autocast(device):
                loss = loss_fn(model(**inputs), y, cfg.ccr_consistency)
            return loss, {"train_loss": float(loss.detach()) * len(idx)}

        result = fit(
            model,
            optimizer,
            FitConfig(
                epochs=cfg.epochs,
                name=f"dual_attention.{model_name(model_cfg)} seed {cfg.seed}",
                select="val_loss",
                patience=cfg.patience,
            ),
            lambda epoch: torch.randperm(len(train), generator=generator).split(cfg.batch_size),
            train_step,
            lambda: {"val_loss": _evaluate(model, val, cfg, device)[0]},
            summarise=lambda sums: {"train_loss": sums["train_loss"] / len(train)},
            lr_at=lambda step: cfg.lr if step < cfg.lr_drop_epoch * steps_per_epoch else cfg.lr_after,
        )
        record = {"history": result.history, "best_epoch": result.best_epoch, "best_val_loss": result.best_score}
        return model.cpu(), record


def predict(model: PopularityNet, data: Arrays, cfg: TrainConfig) -> dict:
    """Popularity probabilities (and word attention for explicit-attention models)."""
    device = pick_device(cfg.device)
    _, result = _evaluate(model.to(device), data, cfg, device)
    model.cpu()
    return result


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Precision, recall, F-measure and accuracy in percent, popular = positive (Tables I–II)."""
    y_true, y_pred = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    tp = float((y_true & y_pred).sum())
    precision = tp / y_pred.sum() if y_pred.sum() else 0.0
    recall = tp / y_true.sum() if y_true.sum() else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": 100 * precision,
        "recall": 100 * recall,
        "f_measure": 100 * f,
        "accuracy": 100 * float((y_true == y_pred).mean()),
    }
