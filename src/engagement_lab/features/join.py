"""Join canonical posts to their frozen image and text embeddings (the features pipeline's caches).

Posts → images (post_id, sha1, decodable) → ``image_embeddings`` (sha1); posts → ``post_texts``
(post_id, text_sha1) → ``text_embeddings`` (text_sha1). A post whose image is missing or did not decode
keeps its row with a zero image vector and ``has_image = 0``; a decodable image or a post text without
an embedding is an error that says to run the features pipeline (never a silent drop).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from engagement_lab.features.encoders import IMAGE_DIM

logger = logging.getLogger(__name__)


def attach_embeddings(
    frame: pd.DataFrame,
    images: pd.DataFrame,
    image_embeddings: pd.DataFrame,
    post_texts: pd.DataFrame,
    text_embeddings: pd.DataFrame,
    source: str,
    error: type[Exception] = ValueError,
) -> pd.DataFrame:
    """``frame`` (one row per post of ``source``) with ``sha1``, ``has_image``, ``image_embedding``,
    ``text_sha1`` and ``text_embedding`` columns added; raises ``error`` when an embedding is missing."""
    usable = images[(images["source"] == source) & images["decodable"].fillna(False).astype(bool)]
    usable = usable.drop_duplicates("post_id")[["post_id", "sha1"]]
    frame = frame.merge(usable, on="post_id", how="left")
    vectors = dict(zip(image_embeddings["sha1"], image_embeddings["embedding"], strict=True))
    lacking = frame["sha1"].notna() & ~frame["sha1"].isin(vectors)
    if lacking.any():
        raise error(
            f"{int(lacking.sum())} decodable {source} images have no row in image_embeddings "
            "(run the features pipeline first: kedro run --pipelines=features)"
        )
    frame["has_image"] = frame["sha1"].notna().astype(int)
    image_dim = len(next(iter(vectors.values()))) if vectors else IMAGE_DIM
    zero = np.zeros(image_dim, dtype=np.float32)
    frame["image_embedding"] = [
        np.asarray(vectors[s], dtype=np.float32) if isinstance(s, str) else zero for s in frame["sha1"]
    ]
    without = int((frame["has_image"] == 0).sum())
    if without:
        logger.info("%d %s posts have no usable image: zero image vector, has_image = 0", without, source)

    frame = frame.merge(post_texts[["post_id", "text_sha1"]], on="post_id", how="left")
    texts = dict(zip(text_embeddings["text_sha1"], text_embeddings["embedding"], strict=True))
    lacking = ~frame["text_sha1"].isin(texts)
    if lacking.any():
        raise error(
            f"{int(lacking.sum())} {source} posts have no text embedding "
            "(run the features pipeline first: kedro run --pipelines=features)"
        )
    frame["text_embedding"] = [np.asarray(texts[s], dtype=np.float32) for s in frame["text_sha1"]]
    return frame
