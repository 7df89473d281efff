"""Nodes of ``pretraining``: train one VisE backbone per task set (Table 3's ablation), and the semantic-label
control (``supervised_concepts``: the same backbone, images and schedule trained on concept labels)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from engagement_lab.world.truth import truth_for

logger = logging.getLogger(__name__)


def concept_labels(
    vise_pseudo_labels: pd.DataFrame, posts: pd.DataFrame, ground_truth_posts: pd.DataFrame | None
) -> pd.DataFrame:
    """The pretraining images with a semantic label each (``concept_label``, -1 = none): the post's ``concept``
    in the canonical posts (SMPD ships one) or, for the sample world, its planted concept, the analog of
    ImageNet's object classes. Only ``supervised_concepts`` trains on them; engagement never enters."""
    labels = vise_pseudo_labels.copy()
    own = posts.set_index("post_id")["concept"] if "concept" in posts else pd.Series(dtype="string")
    concept = labels["post_id"].map(own.dropna()).astype("string")
    if concept.isna().any():
        source = str(labels["post_id"].iloc[0]).split(":", 1)[0] if len(labels) else ""
        truth, why = truth_for(ground_truth_posts, labels["post_id"], source)
        if truth is not None:
            concept = concept.fillna(labels["post_id"].map(truth["concept"]).astype("string"))
        elif concept.isna().all():
            logger.warning("pretraining: no concept labels for the pretraining images (%s)", why)
    vocabulary = {c: i for i, c in enumerate(sorted(concept.dropna().unique()))}
    labels["concept_label"] = concept.map(vocabulary).fillna(-1).astype("int64")
    logger.info(
        "pretraining: %d of %d images have a concept label (%d concepts)",
        int((labels["concept_label"] >= 0).sum()),
        len(labels),
        len(vocabulary),
    )
    return labels


def pretrain(
    labels: pd.DataFrame,
    vise_cluster_report: dict[str, Any],
    params: dict[str, Any],
    variant: dict[str, Any],
) -> tuple[Any, list[dict[str, float]]]:
    """Train the backbone on the variant's tasks; resume from its checkpoint when one matches.

    Returns the backbone (the catalog saves its state dict) and the per-epoch history (which the catalog's
    ``mlflow_curves`` logs as per-epoch MLflow metrics). The semantic control without a single concept label
    trains nothing: its history says why, and the transfer evaluation leaves its row out."""
    from engagement_lab.vise.models import SEMANTIC_TASK
    from engagement_lab.vise.train import TrainConfig, cluster_counts, train

    config = TrainConfig.from_params({**params["config"], "tasks": variant["tasks"]})
    n_classes = cluster_counts(vise_cluster_report)
    if SEMANTIC_TASK in config.tasks:
        n_classes[SEMANTIC_TASK] = int(labels["concept_label"].max()) + 1 if len(labels) else 0
        if n_classes[SEMANTIC_TASK] == 0:
            from engagement_lab.vise.models import build_backbone

            why = "no concept labels for the pretraining images (canonical posts.concept or the sample world's)"
            logger.warning("pretraining.supervised_%s: skipped: %s", SEMANTIC_TASK, why)
            return build_backbone(config.backbone)[0], [{"epoch": 0, "omitted": why}]
    logger.info("pretraining %s on %d images, tasks %s", config.backbone, len(labels), config.tasks)
    return train(config, labels, n_classes, variant["checkpoint"])
