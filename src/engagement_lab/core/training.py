"""The one training scaffold of the four PyTorch papers (VisE, PPCL, engagement, dual attention).

nanoGPT style: a small config, one loop. Each paper builds its model and optimiser, seeds with
:func:`seed_everything`, and hands :func:`fit` three things of its own: ``batches(epoch)`` (the epoch's
batches), ``train_step(batch)`` (the loss on one batch, forward pass under :func:`autocast`) and,
optionally, ``evaluate()`` (validation scores). :func:`fit` does the rest: the optimiser step (mixed
precision on CUDA, gradient accumulation and clipping, a learning-rate schedule), early stopping on a
validation score with the best weights kept, a checkpoint after every epoch that a rerun resumes from,
per-epoch logging, and, under ``torchrun``, checkpoints and callbacks from rank 0 only.

Imports nothing from the rest of ``engagement_lab``.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

# Bumped when a checkpoint's layout changes: one of another layout is not resumed (v1 held a torch
# LR scheduler; v2 holds the optimiser step that ``lr_at`` is a function of, and the early-stopping state).
CHECKPOINT_VERSION = 2


def pick_device(name: str) -> torch.device:
    """'auto' → CUDA when present, else CPU; 'cuda' without a GPU is an error, not a silent CPU run.

    Under ``torchrun`` (a process group is initialised) a CUDA device is this process's own GPU,
    ``cuda:$LOCAL_RANK``."""
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available; use 'auto' or 'cpu'")
    else:
        device = torch.device(name)
    if device.type == "cuda" and dist.is_available() and dist.is_initialized():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def catboost_task_type(name: str) -> str:
    """CatBoost's ``task_type`` for a device name: 'auto' → GPU when CUDA is present, else CPU."""
    if name != "auto":
        return name
    return "GPU" if torch.cuda.is_available() else "CPU"


def seed_everything(seed: int, *, python: bool = False, numpy: bool = False) -> None:
    """Seed torch (CPU and every GPU); with ``python``/``numpy`` also those global generators.

    Those two are opt-in: a loop that never draws from them should not reset them under the code that
    runs after it in the same process."""
    torch.manual_seed(seed)
    if python:
        random.seed(seed)
    if numpy:
        np.random.seed(seed)


def autocast(device: torch.device, enabled: bool = True) -> torch.autocast:
    """Mixed precision (float16) for a forward pass on CUDA; a no-op elsewhere or when not ``enabled``."""
    return torch.autocast(device.type, dtype=torch.float16, enabled=enabled and device.type == "cuda")


def rng_states() -> dict[str, Any]:
    """Every global generator's state, in types that ``torch.load(weights_only=True)`` reads back."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    random.setstate(states["python"])
    name, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))


@dataclass(frozen=True)
class FitConfig:
    """The loop settings every paper shares; each paper's own ``TrainConfig`` fills one in."""

    epochs: int
    name: str = "training"  # what the log lines call this run
    amp: bool = True  # mixed precision (autocast + GradScaler), used on CUDA only
    grad_accum: int = 1  # batches per optimiser step
    grad_clip: float | None = None  # clip the gradients' global norm to this
    max_steps: int | None = None  # stop after this many optimiser steps (benchmarks)
    select: str | None = None  # the ``evaluate`` score that picks the best epoch, whose weights are kept
    maximize: bool = False  # whether a larger ``select`` score is better
    patience: int | None = None  # stop after this many epochs without a better ``select`` score
    progress: bool = False  # a progress bar per epoch (rank 0)


@dataclass(frozen=True)
class Checkpoint:
    """Where :func:`fit` saves after every epoch, and what a saved one must match to be resumed."""

    path: Path
    config: dict[str, Any]  # the settings the results depend on
    data: str = ""  # a fingerprint of the training data


@dataclass
class Fit:
    """What :func:`fit` returns; the model itself ends with the best epoch's weights (when ``select``)."""

    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch: number, train and val metrics
    best_epoch: int = -1  # index of the best epoch (-1: none scored better than ±inf, or no ``select``)
    best_score: float = math.nan  # its ``select`` score (±inf: none)
    steps: int = 0  # optimiser steps taken, resumed ones included
    seconds: float = 0.0  # time in the training passes of this call (no evaluation)


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    config: FitConfig,
    batches: Callable[[int], Iterable[Any]],
    train_step: Callable[[Any], tuple[torch.Tensor, dict[str, float]]],
    evaluate: Callable[[], dict[str, float]] | None = None,
    *,
    summarise: Callable[[dict[str, float]], dict[str, float]] | None = None,
    lr_at: Callable[[int], float] | None = None,
    checkpoint: Checkpoint | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> Fit:
    """Train ``model`` for ``config.epochs`` epochs (fewer with early stopping or ``max_steps``).

    ``batches(epoch)``: that epoch's batches; for a resumed run to see the data a straight one would,
    their order must follow from the seed and the epoch. ``train_step(batch)``: the batch's loss and stats
    to sum over the epoch; ``summarise(sums)`` turns those into the epoch's train metrics (by default
    ``train_<name>``: the mean per batch). ``evaluate()``: validation scores, after every epoch.
    ``lr_at(step)``: the learning rate of optimiser step ``step`` (nanoGPT's ``get_lr``); without it the
    optimiser's own rate is used. ``on_epoch_end(epochs_done, metrics)``: after each epoch's checkpoint
    (rank 0 only; MLflow logging goes here). ``model`` is the bare module, also under
    DistributedDataParallel (``train_step`` calls the wrapper)."""
    device = next(model.parameters()).device
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp and device.type == "cuda")
    result, start, stale, best_state = Fit(), 0, 0, None
    best = -math.inf if config.maximize else math.inf

    saved = _load(checkpoint) if checkpoint is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved["scaler"])
        set_rng_states(saved["rng"])
        start, result.steps, result.history = saved["epoch"], saved["step"], saved["history"]
        best, result.best_epoch, stale, best_state = (saved["best"][k] for k in ("score", "epoch", "stale", "state"))
        logger.info("Resuming %s from epoch %d of %d", checkpoint.path, start, config.epochs)

    def set_lr() -> None:
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(result.steps)

    def optimiser_step() -> None:
        if config.grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the loss-scaled ones
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        result.steps += 1
        set_lr()  # the next step's rate, as torch's schedulers leave it

    set_lr()
    for epoch in range(start, config.epochs):
        if _should_stop(config, stale, result.steps):  # early stopping, also of the run a checkpoint resumes
            break
        # ---- train
        model.train()
        started = time.perf_counter()
        sums, n_batches, pending = defaultdict(float), 0, 0
        show_bar = config.progress and rank == 0
        epoch_batches = batches(epoch)
        if show_bar:
            epoch_batches = tqdm(epoch_batches, desc=f"{config.name} epoch {epoch + 1}/{config.epochs}", leave=False)
        for batch in epoch_batches:
            loss, stats = train_step(batch)
            scaler.scale(loss / config.grad_accum).backward()
            for name, value in stats.items():
                sums[name] += value
            n_batches, pending = n_batches + 1, pending + 1
            if pending == config.grad_accum:
                optimiser_step()
                pending = 0
            if show_bar:
                epoch_batches.set_postfix(loss=f"{loss.item():.3f}")
            if config.max_steps is not None and result.steps >= config.max_steps:
                break
        if pending:  # the epoch's last, short accumulation
            optimiser_step()
        if device.type == "cuda":
            torch.cuda.synchronize()  # so the time is the GPU's work, not its queueing
        result.seconds += time.perf_counter() - started

        # ---- score, keep the best
        train = summarise(sums) if summarise else {f"train_{k}": v / max(1, n_batches) for k, v in sums.items()}
        scores = evaluate() if evaluate is not None else {}
        result.history.append({"epoch": epoch, **train, **scores})
        if config.select is not None:
            score = scores[config.select]
            improved = score > best if config.maximize else score < best  # NaN never improves
            if improved:
                best, result.best_epoch, stale = score, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
        logger.info(
            "%s epoch %d/%d (%.1fs): %s",
            config.name,
            epoch + 1,
            config.epochs,
            time.perf_counter() - started,
            ", ".join(f"{k} {v:.4f}" for k, v in {**train, **scores}.items()),
        )

        # ---- checkpoint (rank 0: every rank holds the same weights)
        if checkpoint is not None and rank == 0:
            _save(
                checkpoint.path,
                {
                    "version": CHECKPOINT_VERSION,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict(),
                    "step": result.steps,
                    "epoch": epoch + 1,
                    "rng": rng_states(),
                    "config": checkpoint.config,
                    "data": checkpoint.data,
                    "history": result.history,
                    "best": {"score": best, "epoch": result.best_epoch, "stale": stale, "state": best_state},
                },
            )
        if on_epoch_end is not None and rank == 0:
            on_epoch_end(epoch + 1, {**train, **scores})
        if distributed:
            dist.barrier()

    if best_state is not None:
        model.load_state_dict(best_state)
    if config.select is not None:
        result.best_score = best
        logger.info(
            "%s: best epoch %d of %d, %s %.4f",
            config.name,
            result.best_epoch + 1,
            len(result.history),
            config.select,
            result.best_score,
        )
    return result


def _should_stop(config: FitConfig, stale: int, steps: int) -> bool:
    return (config.patience is not None and stale >= config.patience) or (
        config.max_steps is not None and steps >= config.max_steps
    )


def _load(checkpoint: Checkpoint) -> dict[str, Any] | None:
    """The saved checkpoint when there is one of this layout, config and data; else None."""
    if not checkpoint.path.exists():
        return None
    saved = torch.load(checkpoint.path, map_location="cpu", weights_only=True)
    if (saved.get("version"), saved.get("config"), saved.get("data")) == (
        CHECKPOINT_VERSION,
        checkpoint.config,
        checkpoint.data,
    ):
        return saved
    logger.warning("Checkpoint %s is for another config or data set; training from scratch", checkpoint.path)
    return None


def _save(path: Path, checkpoint: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(checkpoint, partial)
    os.replace(partial, path)  # a kill mid-write never leaves a broken checkpoint
