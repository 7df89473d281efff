"""One plain training loop for PPCL, its ablations and the RNC baseline (§5.7, §6.1.4, Appendix B).

Loss (Eq. 25): λ·MSE + (1 − λ)·(α1·L_CRD + α2·L_UISD + α3·L_UID), each contrastive loss on the
representation of the encoder it trains, so its gradient reaches only that encoder:
CRD on f^p (post encoder), UISD on f^u (user encoder), UID on f^pop recomputed from detached [f^p, f^u]
(only the popularity MLP of Eq. 16). RNC (Eq. 27): λ·MSE + (1 − λ)·L_RNC on f^pop, through every
parameter. Augmentation (§5.5): two forward passes with different dropout masks; the two views of a
post are positives of each other. Adam, early stopping on validation (patience epochs without a better
``select`` metric); the test split is never seen here. Mixed precision (autocast + GradScaler) on CUDA only.
The loop itself is the shared scaffold, :func:`engagement_lab.core.training.fit`.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from engagement_lab.core.metrics import regression_metrics
from engagement_lab.core.training import FitConfig, autocast, fit, pick_device, seed_everything
from engagement_lab.features.encoders import torch_threads
from engagement_lab.ppcl.losses import hierarchical_supcon, rnc, supcon
from engagement_lab.ppcl.model import ModelConfig, PPCLModel
from engagement_lab.ppcl.sampler import HierarchicalBatchSampler, RandomBatchSampler

logger = logging.getLogger(__name__)
TASKS = ("crd", "uisd", "uid")
INPUTS = ("image", "text", "dense", "sparse")


@dataclass
class TrainConfig:
    tasks: list[str] = field(default_factory=lambda: list(TASKS))  # any of crd, uisd, uid; or ["rnc"]; [] = w/o CL
    sampler: str = "hierarchical"  # hierarchical (§5.6) | random
    augment: bool = True  # two dropout views (§5.5)
    epochs: int = 100
    batch_size: int = 512
    learning_rate: float = 0.002
    weight_decay: float = 0.0001
    patience: int = 10
    select: str = "val_mae"  # early stopping / model selection metric (lower is better)
    reg_weight: float = 0.9  # λ
    alpha: list[float] = field(default_factory=lambda: [3.0, 1.0, 0.1])  # α1 (CRD), α2 (UISD), α3 (UID)
    temperature: float = 0.1  # τ
    rnc_temperature: float = 2.0
    device: str = "auto"
    threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.tasks) - {*TASKS, "rnc"}
        if unknown or ("rnc" in self.tasks and len(self.tasks) > 1):
            raise ValueError(f"tasks must be a subset of {list(TASKS)} or ['rnc'], got {self.tasks}")
        if self.sampler not in ("hierarchical", "random"):
            raise ValueError(f"sampler must be 'hierarchical' or 'random', got {self.sampler!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Split:
    """One split's tensors (see Preprocessor.transform)."""

    tensors: dict[str, torch.Tensor]

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Split:
        return cls({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()})

    def __len__(self) -> int:
        return len(self.tensors["y"])

    def batch(self, idx: np.ndarray | slice, device: torch.device) -> dict[str, torch.Tensor]:
        if not isinstance(idx, slice):
            idx = torch.from_numpy(np.asarray(idx))
        return {k: v[idx].to(device, non_blocking=True) for k, v in self.tensors.items()}


def regression_scores(y: np.ndarray, pred: np.ndarray, prefix: str) -> dict[str, float]:
    """The paper's three metrics: MAE, MSE and Spearman's rank correlation (SRC), plus R²."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    return {**regression_metrics(y, pred, prefix), f"{prefix}_mse": float(np.mean((y - pred) ** 2))}


@torch.inference_mode()
def predict(
    model: PPCLModel, data: Split, device: torch.device | None = None, batch_size: int = 4096, features: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Predictions in order (and, with ``features``, the popularity features f^pop)."""
    device = device or next(model.parameters()).device
    model.eval()
    preds, feats = [], []
    for start in range(0, len(data), batch_size):
        batch = data.batch(slice(start, start + batch_size), device)
        with autocast(device):
            out = model(batch)
        preds.append(out["y"].float().cpu())
        if features:
            feats.append(out["f_pop"].float().cpu())
    pred = torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.float32)
    if features:
        return pred, (torch.cat(feats).numpy() if feats else np.zeros((0, model.cfg.hidden), dtype=np.float32))
    return pred


def step_loss(
    model: PPCLModel, batch: dict[str, torch.Tensor], cfg: TrainConfig, timer: dict[str, float] | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 25 (or Eq. 27 for RNC) on one batch; ``timer`` accumulates the contrastive losses' seconds."""
    two_views = bool(cfg.tasks) and cfg.augment
    views = [model(batch) for _ in range(2 if two_views else 1)]
    y = batch["y"]
    reg = sum(F.mse_loss(v["y"].float(), y) for v in views) / len(views)
    parts = {"mse": float(reg.detach())}
    if not cfg.tasks:
        return reg, parts
    start = time.perf_counter()

    def both(key: str) -> torch.Tensor:
        return torch.cat([v[key] for v in views])

    def labels(key: str) -> torch.Tensor:
        return torch.cat([batch[key]] * len(views))

    contrastive = torch.zeros((), device=y.device)
    if "rnc" in cfg.tasks:
        contrastive = rnc(both("f_pop"), labels("y"), cfg.rnc_temperature)
        parts["rnc"] = float(contrastive.detach())
    if "crd" in cfg.tasks:
        loss = hierarchical_supcon(both("f_p"), labels("levels"), cfg.temperature)
        contrastive = contrastive + cfg.alpha[0] * loss
        parts["crd"] = float(loss.detach())
    if "uisd" in cfg.tasks:
        loss = supcon(both("f_u"), labels("influence"), cfg.temperature)
        contrastive = contrastive + cfg.alpha[1] * loss
        parts["uisd"] = float(loss.detach())
    if "uid" in cfg.tasks:  # only the popularity MLP: its inputs are detached
        f_pop = torch.cat([model.popularity_features(v["f_p"].detach(), v["f_u"].detach()) for v in views])
        loss = supcon(f_pop, labels("user"), cfg.temperature)
        contrastive = contrastive + cfg.alpha[2] * loss
        parts["uid"] = float(loss.detach())
    if timer is not None:
        if y.is_cuda:
            torch.cuda.synchronize()
        timer["contrastive_forward"] += time.perf_counter() - start
    return cfg.reg_weight * reg + (1 - cfg.reg_weight) * contrastive, parts


def model_name(cfg: TrainConfig) -> str:
    """The model's name in PPCL's tables (conf/base/parameters_ppcl.yml names them so), for the training log; the
    data-efficiency rows differ only in their number of training posts."""
    if cfg.sampler == "random" and cfg.tasks:
        return "random_sampling"
    if not cfg.augment and cfg.tasks:
        return "no_aug"
    return "full" if set(cfg.tasks) == set(TASKS) else "_".join(cfg.tasks) or "no_cl"


def make_sampler(cfg: TrainConfig, train: Split, seed: int):
    if cfg.sampler == "hierarchical" and cfg.tasks:
        return HierarchicalBatchSampler(train.tensors["levels"].numpy(), cfg.batch_size, seed)
    return RandomBatchSampler(len(train), cfg.batch_size, seed)


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    train_data: Split,
    val_data: Split,
    max_steps: int | None = None,
    timer: dict[str, float] | None = None,
) -> tuple[PPCLModel, dict]:
    """Build the model under ``cfg.seed``, train with early stopping on validation; returns the best
    model (on CPU) and a checkpoint-style record (config, history, best epoch, sampler fallbacks).

    ``timer`` accumulates the training passes' seconds (``step``), the optimiser steps (``steps``) and the
    contrastive losses' seconds (``contrastive_forward``)."""
    seed_everything(cfg.seed)
    with torch_threads(cfg.threads):
        device = pick_device(cfg.device)
        model = PPCLModel(model_cfg)
        with torch.no_grad():  # start at the train mean: a fitted-on-train constant
            model.head.bias.fill_(float(train_data.tensors["y"].float().mean()))
        model.to(device)
        optimizer = torch.optim.Adam(
            model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay, foreach=True
        )
        sampler = make_sampler(cfg, train_data, cfg.seed)
        timer = timer if timer is not None else defaultdict(float)
        y_val = val_data.tensors["y"].numpy()

        def train_step(idx: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
            batch = train_data.batch(idx, device)
            with autocast(device):
                return step_loss(model, batch, cfg, timer)

        def evaluate() -> dict[str, float]:
            return regression_scores(y_val, predict(model, val_data, device), "val")

        name = f"ppcl.{model_name(cfg)} seed {cfg.seed} ({len(train_data)} train posts)"
        fit_config = FitConfig(
            epochs=cfg.epochs, name=name, max_steps=max_steps, select=cfg.select, patience=cfg.patience
        )
        result = fit(model, optimizer, fit_config, lambda epoch: sampler, train_step, evaluate)
        timer["step"] += result.seconds
        timer["steps"] += result.steps
        record = {
            "model": model_cfg.to_dict(),
            "train": cfg.to_dict(),
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "history": result.history,
            "sampler_fallbacks": int(getattr(sampler, "fallbacks", 0)),
        }
        return model.cpu(), record
