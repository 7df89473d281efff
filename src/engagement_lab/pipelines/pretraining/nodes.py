"""Nodes of ``pretraining``: train one VisE backbone per task set (Table 3's ablation)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from torch import nn

from engagement_lab.vise.train import TrainConfig, cluster_counts, train

logger = logging.getLogger(__name__)


def pretrain(
    vise_pseudo_labels: pd.DataFrame,
    vise_cluster_report: dict[str, Any],
    params: dict[str, Any],
    variant: dict[str, Any],
) -> tuple[nn.Module, list[dict[str, float]], dict[str, list[dict[str, float]]]]:
    """Train the backbone on the variant's tasks; resume from its checkpoint when one matches.

    Returns the backbone (the catalog saves its state dict), the per-epoch history and that history
    as MLflow metrics."""
    config = TrainConfig.from_params({**params["config"], "tasks": variant["tasks"]})
    logger.info("pretraining %s on %d images, tasks %s", config.backbone, len(vise_pseudo_labels), config.tasks)
    backbone, history = train(config, vise_pseudo_labels, cluster_counts(vise_cluster_report), variant["checkpoint"])
    metrics = {
        name: [{"value": float(row[name]), "step": int(row["epoch"])} for row in history]
        for name in history[0]
        if name != "epoch"
    }
    return backbone, history, metrics
