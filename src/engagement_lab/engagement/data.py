"""The modelling table: one row per PixelRec post with counts, text statistics, tags and both embeddings.

Posts whose cover image is missing or did not decode keep their row with a zero image vector and
``has_image = 0`` (the paper used a neutral placeholder image); posts with a missing count cannot get a
target and are dropped, counted per reason.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from engagement_lab.engagement.targets import COUNT_COLUMNS, engagement_score
from engagement_lab.features.encoders import TEXT_DIM
from engagement_lab.features.join import attach_embeddings

logger = logging.getLogger(__name__)
N_TAGS = 3  # the first tags become categorical features tag_1..tag_3


class EngagementDataError(ValueError):
    """The inputs cannot make a modelling table (named problem, no deep traceback)."""


def _words(text: pd.Series) -> pd.Series:
    return text.fillna("").str.split().str.len().fillna(0).astype(int)


def add_text_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The first tags as tag_1..tag_3, the tag count and title/caption lengths (in place, returned)."""
    tags = frame["tags"].map(lambda t: [] if t is None or (isinstance(t, float) and np.isnan(t)) else list(t))
    for k in range(N_TAGS):
        frame[f"tag_{k + 1}"] = tags.map(lambda t, k=k: str(t[k]) if len(t) > k else "")
    frame["n_tags"] = tags.map(len)
    frame["title_chars"] = frame["title"].fillna("").str.len()
    frame["title_words"] = _words(frame["title"])
    frame["caption_chars"] = frame["caption"].fillna("").str.len()
    frame["caption_words"] = _words(frame["caption"])
    return frame


def build_model_input(posts: pd.DataFrame, images: pd.DataFrame, image_embeddings: pd.DataFrame,
                      post_texts: pd.DataFrame, text_embeddings: pd.DataFrame,
                      source: str) -> tuple[pd.DataFrame, dict[str, int]]:  # fmt: skip
    """Join ``source`` posts to their image and text embeddings; drop (and count) posts without a target."""
    chosen = posts[posts["source"] == source]
    if chosen.empty:
        raise EngagementDataError(
            f"no posts with source == {source!r} (sources present: {sorted(posts['source'].dropna().unique())}); "
            "ingest PixelRec data (ingestion.sources) or set engagement.source"
        )
    stats = {"posts": len(chosen)}
    missing_count = chosen[COUNT_COLUMNS].isna()
    for col in COUNT_COLUMNS:
        stats[f"dropped_missing_{col}"] = int(missing_count[col].sum())
    no_target = missing_count.any(axis=1)
    stats["dropped_no_target"] = int(no_target.sum())
    if no_target.any():
        logger.warning("%d %s posts dropped: a count needed by the targets is missing (%s)", no_target.sum(),
                       source, {c: int(missing_count[c].sum()) for c in COUNT_COLUMNS})  # fmt: skip
    frame = chosen[~no_target].reset_index(drop=True)

    frame = attach_embeddings(frame, images, image_embeddings, post_texts, text_embeddings, source,
                              EngagementDataError)  # fmt: skip
    stats["without_image"] = int((frame["has_image"] == 0).sum())
    if len(frame) and len(frame["text_embedding"].iloc[0]) != TEXT_DIM:
        raise EngagementDataError(f"text embeddings must have {TEXT_DIM} dimensions")

    frame = add_text_features(frame)
    for col in COUNT_COLUMNS:
        frame[col] = frame[col].astype("int64")
    stats["modelled"] = len(frame)
    keep = ["post_id", *COUNT_COLUMNS, "has_image", *(f"tag_{k + 1}" for k in range(N_TAGS)), "n_tags",
            "title_chars", "title_words", "caption_chars", "caption_words", "image_embedding", "text_embedding"]  # fmt: skip
    return frame[keep], stats


def assign_split(frame: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.Series:
    """Random train/val/test split, stratified by the engagement score's quintile over all rows.

    Only the assignment uses the stratum; thresholds and weights are fitted on train afterwards."""
    total = sum(fractions.values())
    if set(fractions) != {"train", "val", "test"} or abs(total - 1.0) > 1e-6:
        raise EngagementDataError(f"split fractions must be train/val/test summing to 1, got {fractions}")
    if len(frame) < 20:
        raise EngagementDataError(f"need at least 20 posts with every count to split, got {len(frame)}")
    score = engagement_score(frame).to_numpy(dtype=float)
    stratum = pd.qcut(pd.Series(score).rank(method="first"), 5, labels=False).to_numpy()
    index = np.arange(len(frame))
    n_test, n_val = round(fractions["test"] * len(frame)), round(fractions["val"] * len(frame))
    rest, test = train_test_split(index, test_size=n_test, random_state=seed, stratify=stratum)
    train, val = train_test_split(rest, test_size=n_val, random_state=seed, stratify=stratum[rest])
    split = np.empty(len(frame), dtype=object)
    split[train], split[val], split[test] = "train", "val", "test"
    return pd.Series(split, index=frame.index, name="split", dtype="string")
