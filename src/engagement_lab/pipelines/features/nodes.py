"""Nodes of the ``features`` pipeline: frozen image and text embeddings, cached by content hash.

A re-run embeds only images (by SHA-1 of their bytes) and texts (by SHA-1 of the text)
that the cache does not hold yet; the same picture in four formats is embedded once.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from engagement_lab.features.encoders import embed_image_files, embed_texts

logger = logging.getLogger(__name__)


def _update_cache(
    keys: pd.Series, inputs: pd.Series, cache: pd.DataFrame, key: str, encoder: str, embed
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Embed the keys the cache lacks; return the rows for exactly ``keys`` and the counts.

    A cached row counts only when it came from the same ``encoder`` (model and input size): changing
    ``image_size`` re-embeds everything instead of mixing two encoders' vectors in one table."""
    wanted = pd.DataFrame({key: keys, "input": inputs}).drop_duplicates(key)
    same_encoder = cache["encoder"].eq(encoder) if "encoder" in cache.columns else pd.Series(False, index=cache.index)
    wanted_rows = cache[key].isin(wanted[key])
    cached = cache[wanted_rows & same_encoder]
    todo = wanted[~wanted[key].isin(cached[key])]
    vectors = embed(todo["input"].tolist())
    fresh = pd.DataFrame({key: todo[key].to_numpy(), "embedding": list(vectors)})
    table = pd.concat([cached[[key, "embedding"]], fresh], ignore_index=True).sort_values(key, ignore_index=True)
    table["embedding"] = table["embedding"].map(lambda v: np.asarray(v, dtype=np.float32))
    table["encoder"] = encoder
    stale = int((wanted_rows & ~same_encoder).sum())
    stats = {"embedded": float(len(todo)), "from_cache": float(len(cached)), "total": float(len(table))}
    logger.info("%s: %d embedded, %d from cache (%d cached by another encoder)", key, len(todo), len(cached), stale)
    return table, stats


def embed_images(images: pd.DataFrame, cache: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, dict]:
    """EfficientNet-lite0 features (1280-d) per distinct image content (sha1)."""

    def embed(paths: list[str]) -> np.ndarray:
        return embed_image_files(
            paths,
            device=params["device"],
            batch_size=params["image_batch_size"],
            num_workers=params["num_workers"],
            image_size=params["image_size"],
        )

    encoder = f"efficientnet-lite0@{params['image_size']}px"
    return _update_cache(images["sha1"], images["path"], cache, "sha1", encoder, embed)


def embed_post_texts(
    post_texts: pd.DataFrame, cache: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict]:
    """MiniLM sentence embeddings (384-d) per distinct post text (text_sha1)."""

    def embed(texts: list[str]) -> np.ndarray:
        return embed_texts(texts, device=params["device"], batch_size=params["text_batch_size"])

    return _update_cache(post_texts["text_sha1"], post_texts["text"], cache, "text_sha1", "all-MiniLM-L6-v2", embed)


def feature_metrics(image_stats: dict, text_stats: dict) -> dict[str, dict[str, float]]:
    """Cache hits and misses as MLflow metrics (the catalog adds ``features.``)."""
    return {
        f"{kind}.{name}": {"value": value, "step": 0}
        for kind, stats in (("images", image_stats), ("texts", text_stats))
        for name, value in stats.items()
    }
