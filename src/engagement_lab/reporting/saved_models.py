"""The saved models of every pipeline, rebuilt from their catalog entries: torch state dicts with the configs
in their cards/histories, CatBoost bundles as saved. The report's test predictions and the model registry
both start here."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from engagement_lab.core.model_index import state_dict_of
from engagement_lab.engagement.models import FusionClassifier, ModelConfig, MultimodalRegressor
from engagement_lab.engagement.tabular import predict_classes, stack
from engagement_lab.engagement.train import Arrays, predict
from engagement_lab.vise.models import build_backbone

logger = logging.getLogger(__name__)


def engagement_model(name: str, state: dict | nn.Module, card: dict[str, Any] | None) -> nn.Module | None:
    """An engagement torch model rebuilt from its state dict and its entry in the model card (None: no entry). A run
    whose catalog keeps models in memory hands over the module itself: its weights are taken the same way."""
    entry = (card or {}).get(name)
    if entry is None:
        logger.warning("reporting: no model card entry for %s: skipped", name)
        return None
    config = ModelConfig(**entry["model"])
    model = MultimodalRegressor(config) if name == "multimodal_regression" else FusionClassifier(config)
    model.load_state_dict(state_dict_of(state))
    return model.eval()


def engagement_arrays(frame: pd.DataFrame) -> Arrays:
    """The engagement torch models' inputs of ``frame`` (labelled posts)."""
    return Arrays(
        stack(frame["image_embedding"]),
        stack(frame["text_embedding"]),
        frame["has_image"].to_numpy(),
        frame["target"].to_numpy(),
    )


def engagement_test_predictions(
    labelled: pd.DataFrame | None, model_card: dict[str, Any] | None, models: dict[str, Any]
) -> pd.DataFrame:
    """Test-split predictions of the saved engagement models: one row per test post with the true class and
    target and each model's prediction (models that are None, not run, are left out)."""
    if labelled is None:
        return pd.DataFrame(columns=["post_id", "engagement_class", "target"])
    test = labelled[labelled["split"] == "test"].reset_index(drop=True)
    out = test[["post_id", "engagement_class", "target"]].copy()
    arrays = engagement_arrays(test)
    for name, saved in models.items():
        if saved is None:
            continue
        if name.startswith("catboost_"):
            out[name] = predict_classes(saved["model"], saved["features"].transform(test)).astype(int)
            continue
        model = engagement_model(name, saved, model_card)
        if model is None:
            continue
        task = "regression" if name == "multimodal_regression" else "classification"
        out[name] = predict(model, arrays, torch.device("cpu"), task)
    return out


def vise_backbone(state: dict, config: dict[str, Any], rows: int) -> tuple[nn.Module, np.ndarray]:
    """A pretrained VisE backbone (the state dict of ``VisEModel.backbone``) and ``rows`` random example
    images of the pretraining size."""
    backbone, _ = build_backbone(config["backbone"])
    backbone.load_state_dict({k.removeprefix("backbone."): v for k, v in state.items()})
    size = int(config["image_size"])
    example = torch.rand(rows, 3, size, size, generator=torch.Generator().manual_seed(0)).numpy()
    return backbone.eval(), example
