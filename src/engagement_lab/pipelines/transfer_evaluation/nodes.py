"""Nodes of ``transfer_evaluation``: Table 3 of VisE on the labelled emotion images.

Rows: Random Init, ImageNet-supervised (the bundled EfficientNet-lite0: another architecture, real ImageNet
weights), the three VisE task sets and ``supervised_concepts`` (the VisE backbone, images and schedule trained on
concept labels: the fair label-source control). Columns: linear evaluation and fine-tuning, mean ± std of test
accuracy over five random 70/10/20 splits (UnbiasedEmotion protocol).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engagement_lab.core.inputs_check import input_check, require_inputs
from engagement_lab.core.progress import heartbeat
from engagement_lab.core.raw import RawFolder
from engagement_lab.core.results import contract_metrics, results_contract
from engagement_lab.ingestion.common import IMAGE_SUFFIXES
from engagement_lab.ingestion.provenance import shown_path

if TYPE_CHECKING:
    from torch import nn

# torch, torchvision and the VisE package are imported by the nodes that train: registering the pipelines
# (every `kedro` command) does not load them. (Kedro reads the nodes' type hints at run time: they name no
# torch type.)

logger = logging.getLogger(__name__)


def _labelled_keys(folder: RawFolder) -> list[str]:
    """The ``<label>/<image>`` files of the folder."""
    return [key for key in sorted(folder) if len(key.split("/")) == 2 and key.lower().endswith(IMAGE_SUFFIXES)]


def check_inputs(raw_emotion_subset: RawFolder) -> dict[str, Any]:
    """Transfer evaluation needs a labelled downstream image set (``<label>/<image>.jpg``)."""
    keys = _labelled_keys(raw_emotion_subset)
    labels = {key.split("/")[0] for key in keys}
    lacks = []
    if len(labels) < 2:
        lacks.append(
            f"no labelled emotion images (<label>/<image>.jpg, two labels or more) under "
            f"{raw_emotion_subset.root}: VisE's transfer evaluation needs a labelled image set; the demo "
            "writes one (make run)"
        )
    return input_check("transfer_evaluation", lacks, images=len(keys), labels=len(labels))


def list_emotion_images(raw_emotion_subset: RawFolder, input_check: dict[str, Any] | None = None) -> pd.DataFrame:
    """``<label>/<image>`` files (UnbiasedEmotion layout) → path, label, readable, reason.

    An unreadable image stays in the table with its reason and is left out of every split."""
    from PIL import Image

    if input_check is not None:
        require_inputs(input_check)
    rows = []
    for key in _labelled_keys(raw_emotion_subset):
        parts = key.split("/")
        reason = ""
        try:
            with Image.open(io.BytesIO(raw_emotion_subset[key]())) as image:
                image.convert("RGB").load()
        except (OSError, ValueError) as error:
            reason = f"unreadable image: {error}"
        rows.append({"path": raw_emotion_subset.path(key), "label": parts[0], "readable": not reason, "reason": reason})
    if not rows:
        raise ValueError(
            f"No labelled images under {raw_emotion_subset.root!r}: transfer evaluation expects <label>/<image>.jpg"
        )
    table = pd.DataFrame(rows)
    if (~table["readable"]).any():
        logger.warning(
            "%d labelled images are unreadable and left out:\n%s",
            int((~table["readable"]).sum()),
            table.loc[~table["readable"], ["path", "reason"]].to_string(index=False),
        )
    return table


def _evaluate(
    name: str,
    make_backbone: Callable[[], tuple[nn.Module, int]],
    emotion_images: pd.DataFrame,
    image_size: int,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Linear evaluation and fine-tuning of one backbone on every split; each step logs under
    ``transfer_evaluation.<name>``, fine-tuning once per split and epoch."""
    from engagement_lab.core.training import pick_device
    from engagement_lab.vise.transfer import (
        FinetuneConfig,
        extract_features,
        finetune,
        linear_evaluation,
        load_images,
        random_splits,
    )

    model = f"transfer_evaluation.{name}"
    usable = emotion_images[emotion_images["readable"]].reset_index(drop=True)
    classes = sorted(usable["label"].unique())
    labels = usable["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    splits = random_splits(labels, params["splits"], tuple(params["fractions"]), params["seed"])
    device = pick_device(params["finetune"]["device"])
    images = load_images(usable["path"].tolist(), image_size)

    with heartbeat(logger, f"{model} linear evaluation ({len(usable)} images, {len(splits)} splits)"):
        backbone, _ = make_backbone()
        features = extract_features(backbone, images, device)
        linear, chosen_c = linear_evaluation(
            features, labels, splits, params["linear"]["C"], params["linear"]["max_iter"]
        )
    logger.info("%s linear evaluation: %.3f ± %.3f (C %s)", model, np.mean(linear), np.std(linear), chosen_c)

    config = FinetuneConfig(**{k: v for k, v in params["finetune"].items() if k != "device"}, seed=params["seed"])
    tuned = []
    for index, split in enumerate(splits, start=1):
        fold = f"{model} fine-tuning split {index}/{len(splits)}"
        accuracy, epoch = finetune(make_backbone, images, labels, split, config, device, name=fold)
        logger.info("%s: test accuracy %.3f (epoch %d, best on val)", fold, accuracy, epoch)
        tuned.append((accuracy, epoch))
    finetuned = [accuracy for accuracy, _ in tuned]
    logger.info("%s fine-tuned: %.3f ± %.3f", model, np.mean(finetuned), np.std(finetuned))
    return {
        "model": name,
        "linear_acc": linear,
        "linear_C": chosen_c,
        "finetune_acc": finetuned,
        "finetune_best_epoch": [epoch for _, epoch in tuned],
        "classes": classes,
        "split_sizes": {part: len(index) for part, index in splits[0].items()},
    }


def evaluate_pretrained(
    emotion_images: pd.DataFrame,
    backbone: dict[str, Any],
    history: list[dict[str, Any]],
    pretraining: dict[str, Any],
    params: dict[str, Any],
    name: str,
) -> dict[str, Any]:
    """A pretrained backbone (``backbone``: its state dict of tensors): its pretrained weights, the pretraining
    architecture and input size. A variant whose pretraining was skipped (its ``history`` says why) is left out."""
    from engagement_lab.vise.models import build_backbone

    if why := history[-1].get("omitted"):
        logger.warning("transfer_evaluation.%s: left out: %s", name, why)
        return {"model": name, "omitted": why}

    def make() -> tuple[nn.Module, int]:
        model, dim = build_backbone(pretraining["config"]["backbone"])
        model.load_state_dict(backbone)
        return model, dim

    return _evaluate(name, make, emotion_images, pretraining["config"]["image_size"], params)


def evaluate_random_init(
    emotion_images: pd.DataFrame, pretraining: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Random Init: the VisE architecture with random weights (seeded)."""
    import torch

    from engagement_lab.vise.models import build_backbone

    def make() -> tuple[nn.Module, int]:
        torch.manual_seed(params["seed"])
        return build_backbone(pretraining["config"]["backbone"])

    return _evaluate("random_init", make, emotion_images, pretraining["config"]["image_size"], params)


def evaluate_imagenet(emotion_images: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """ImageNet-supervised: the bundled EfficientNet-lite0 (not the VisE architecture)."""
    from engagement_lab.vise.models import build_backbone

    return _evaluate(
        "imagenet_supervised",
        lambda: build_backbone("efficientnet_lite0"),
        emotion_images,
        params["imagenet_image_size"],
        params,
    )


def transfer_results(
    emotion_images: pd.DataFrame,
    ground_truth_emotion_subset: pd.DataFrame | None,
    pretraining: dict[str, Any],
    params: dict[str, Any],
    *scores: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, dict]:
    """Table 3 as a CSV, the results contract (``vise``) and its MLflow metrics.

    The oracle (accuracy 1) holds only for the sample world's images, whose labels are the planted emotions
    rendered without label noise: it is reported when the world's truth lists exactly these images."""
    left_out = {row["model"]: row["omitted"] for row in scores if "omitted" in row}
    scores = tuple(row for row in scores if "omitted" not in row)
    architecture = {row["model"]: pretraining["config"]["backbone"] for row in scores}
    architecture["imagenet_supervised"] = "efficientnet_lite0"
    models, rows = {}, []
    for row in scores:
        linear, tuned = np.asarray(row["linear_acc"]), np.asarray(row["finetune_acc"])
        models[row["model"]] = {
            "linear_acc_mean": linear.mean(),
            "linear_acc_std": linear.std(ddof=1),
            "finetune_acc_mean": tuned.mean(),
            "finetune_acc_std": tuned.std(ddof=1),
        }
        rows.append(
            {
                "model": row["model"],
                "backbone": architecture[row["model"]],
                "linear": f"{100 * linear.mean():.2f} ± {100 * linear.std(ddof=1):.2f}",
                "fine_tuned": f"{100 * tuned.mean():.2f} ± {100 * tuned.std(ddof=1):.2f}",
                "linear_per_split": " ".join(f"{100 * a:.1f}" for a in linear),
                "fine_tuned_per_split": " ".join(f"{100 * a:.1f}" for a in tuned),
            }
        )
    unreadable = int((~emotion_images["readable"]).sum())
    folder = shown_path(str(Path(emotion_images["path"].iloc[0]).parent.parent))
    keys = sorted(str(Path(*Path(p).parts[-2:])) for p in emotion_images["path"])
    planted = ground_truth_emotion_subset is not None and sorted(ground_truth_emotion_subset["path"]) == keys
    oracle = {"linear_acc_mean": 1.0, "finetune_acc_mean": 1.0} if planted else {}
    omitted = (
        {} if planted else {"oracle_omitted": "no ground truth for these images: only the sample world's are known"}
    )
    results = results_contract(
        "vise",
        f"emotion_subset: {folder}",
        {**scores[0]["split_sizes"], "unreadable_excluded": unreadable},
        params["seed"],
        models,
        oracle=oracle,
        **omitted,
        **({"models_omitted": left_out} if left_out else {}),
        protocol=f"{params['splits']} random stratified {params['fractions']} splits; mean and std (ddof=1) of test accuracy",
        classes=scores[0]["classes"],
        architectures=architecture,
    )
    table = pd.DataFrame(rows)
    logger.info("VisE transfer (Table 3 layout):\n%s", table[["model", "backbone", "linear", "fine_tuned"]].to_string())
    return results, table, contract_metrics(results)
