"""Nodes of the ``features`` pipeline: frozen image and text embeddings, cached by content hash.

A re-run embeds only images (by SHA-1 of their bytes) and texts (by SHA-1 of the text) that the cache does not
hold yet from the same encoder (model, engine, precision, input size); the same picture in four formats is
embedded once. ``features.backend`` picks the engine (``features/backends.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def image_encoder(params: dict[str, Any]) -> tuple[str, Callable[[list[str]], np.ndarray]]:
    """The image encoder's identity (the cache's ``encoder`` value) and the function that embeds image paths."""
    from engagement_lab.features.backends import image_identity
    from engagement_lab.features.encoders import embed_image_files, encoder_setting

    setting = encoder_setting(params["device"], params["backend"], params["precision"])

    def embed(paths: list[str]) -> np.ndarray:
        return embed_image_files(
            paths,
            device=params["device"],
            batch_size=params["image_batch_size"],
            num_workers=params["num_workers"],
            image_size=params["image_size"],
            backend=setting.backend,
            precision=setting.precision,
            threads=params["threads"],
            export_dir=params["export_dir"],
        )

    return image_identity(setting, params["image_size"]), embed


def text_encoder(params: dict[str, Any]) -> tuple[str, Callable[[list[str]], np.ndarray]]:
    """The text encoder's identity and the function that embeds texts."""
    from engagement_lab.features.backends import text_identity
    from engagement_lab.features.encoders import embed_texts, encoder_setting

    setting = encoder_setting(params["device"], params["backend"], params["precision"])

    def embed(texts: list[str]) -> np.ndarray:
        return embed_texts(
            texts,
            device=params["device"],
            batch_size=params["text_batch_size"],
            backend=setting.backend,
            precision=setting.precision,
            threads=params["threads"],
            export_dir=params["export_dir"],
        )

    return text_identity(setting), embed


def embed_images(images: pd.DataFrame, cache: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, dict]:
    """EfficientNet-lite0 features (1280-d) per distinct image content (sha1)."""
    from engagement_lab.features.embedding_cache import update_cache

    encoder, embed = image_encoder(params)
    return update_cache(images["sha1"], images["path"], cache, "sha1", encoder, embed)


def embed_post_texts(
    post_texts: pd.DataFrame, cache: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict]:
    """MiniLM sentence embeddings (384-d) per distinct post text (text_sha1)."""
    from engagement_lab.features.embedding_cache import update_cache

    encoder, embed = text_encoder(params)
    return update_cache(post_texts["text_sha1"], post_texts["text"], cache, "text_sha1", encoder, embed)


def feature_metrics(image_stats: dict, text_stats: dict) -> dict[str, dict[str, float]]:
    """Cache hits and misses as MLflow metrics (the catalog adds ``features.``)."""
    return {
        f"{kind}.{name}": {"value": value, "step": 0}
        for kind, stats in (("images", image_stats), ("texts", text_stats))
        for name, value in stats.items()
    }
