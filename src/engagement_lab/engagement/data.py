"""The modelling table: one row per PixelRec post with counts, text statistics, tags and both embeddings.

Posts whose cover image is missing or did not decode keep their row with a zero image vector and
``has_image = 0`` (the paper used a neutral placeholder image); posts with a missing count cannot get a
target and are dropped, counted per reason. A count the export lacks altogether (every post missing it)
drops nothing: it is left out of the targets (``targets.counts_present``) and stays missing in the table.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from engagement_lab.engagement.targets import COUNT_COLUMNS, check_counts, counts_present, engagement_score
from engagement_lab.features.encoders import TEXT_DIM
from engagement_lab.features.join import attach_embeddings

logger = logging.getLogger(__name__)
N_TAGS = 3  # the first tags become categorical features tag_1..tag_3
MIN_SPLIT_POSTS = 20  # fewer posts with a target cannot be split into train/val/test by quintile
TAG_SEPARATORS = re.compile(r"[,\s]+")


class EngagementDataError(ValueError):
    """The inputs cannot make a modelling table (named problem, no deep traceback)."""


def _words(text: pd.Series) -> pd.Series:
    return text.fillna("").str.split().str.len().fillna(0).astype(int)


def tag_list(value: object) -> list[str]:
    """A post's tags as a list: a list or array as it is, a string split at commas and whitespace, else none."""
    if isinstance(value, str):
        return [tag for tag in TAG_SEPARATORS.split(value) if tag]
    if isinstance(value, list | tuple | np.ndarray):
        return [str(tag) for tag in value]
    return []


def add_text_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The first tags as tag_1..tag_3, the tag count and title/caption lengths (in place, returned)."""
    tags = frame["tags"].map(tag_list)
    for k in range(N_TAGS):
        frame[f"tag_{k + 1}"] = tags.map(lambda t, k=k: str(t[k]) if len(t) > k else "")
    frame["n_tags"] = tags.map(len)
    frame["title_chars"] = frame["title"].fillna("").str.len()
    frame["title_words"] = _words(frame["title"])
    frame["caption_chars"] = frame["caption"].fillna("").str.len()
    frame["caption_words"] = _words(frame["caption"])
    return frame


def build_model_input(
    posts: pd.DataFrame,
    images: pd.DataFrame,
    image_embeddings: pd.DataFrame,
    post_texts: pd.DataFrame,
    text_embeddings: pd.DataFrame,
    source: str,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Join ``source`` posts to their image and text embeddings; drop (and count) posts without a target."""
    chosen = posts[posts["source"] == source]
    if chosen.empty:
        raise EngagementDataError(
            f"no posts with source == {source!r} (sources present: {sorted(posts['source'].dropna().unique())}); "
            "ingest PixelRec data (ingestion.sources) or set engagement.source"
        )
    chosen = with_count_columns(chosen)
    used = counts_present(chosen)
    if problems := check_counts(used):
        raise EngagementDataError(f"the {source} posts cannot make the targets: {'; '.join(problems)}")
    log_missing_counts(used, source)
    stats = {"posts": len(chosen)}
    no_target, dropped = posts_without_target(chosen, used)
    stats.update({f"dropped_missing_{col}": n for col, n in dropped.items()})
    stats["dropped_no_target"] = int(no_target.sum())
    if no_target.any():
        why = "a count needed by the targets is missing"
        logger.warning("%d %s posts dropped: %s (%s)", no_target.sum(), source, why, dropped)
    frame = chosen[~no_target].reset_index(drop=True)

    frame = attach_embeddings(frame, images, image_embeddings, post_texts, text_embeddings, source, EngagementDataError)
    stats["without_image"] = int((frame["has_image"] == 0).sum())
    stats["with_image"] = len(frame) - stats["without_image"]
    if len(frame) and len(frame["text_embedding"].iloc[0]) != TEXT_DIM:
        raise EngagementDataError(f"text embeddings must have {TEXT_DIM} dimensions")

    frame = add_text_features(frame)
    for col in used:
        frame[col] = frame[col].astype("int64")
    stats["modelled"] = len(frame)
    keep = [
        "post_id",
        *COUNT_COLUMNS,
        "has_image",
        *(f"tag_{k + 1}" for k in range(N_TAGS)),
        "n_tags",
        "title_chars",
        "title_words",
        "caption_chars",
        "caption_words",
        "image_embedding",
        "text_embedding",
    ]
    return frame[keep], stats


def with_count_columns(posts: pd.DataFrame) -> pd.DataFrame:
    """``posts`` with every count column (a column the table lacks is added, missing for every post)."""
    absent = [col for col in COUNT_COLUMNS if col not in posts]
    return posts.assign(**{col: pd.Series(pd.NA, index=posts.index, dtype="Int64") for col in absent})


def log_missing_counts(used: list[str], source: str) -> None:
    """Say which counts the export lacks altogether, and so are left out of the targets."""
    missing = [col for col in COUNT_COLUMNS if col not in used]
    if missing:
        reason = "left out of the engagement score and Eq. 1, whose weights are fitted on"
        logger.warning("no %s post has %s counts: %s %s; no post is dropped for them", source, missing, reason, used)


def posts_without_target(posts: pd.DataFrame, used: list[str]) -> tuple[pd.Series, dict[str, int]]:
    """Posts missing one of the ``used`` counts (no target), and how many miss each."""
    missing = posts[used].isna()
    return missing.any(axis=1), {col: int(missing[col].sum()) for col in used}


def assign_split(frame: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.Series:
    """Random train/val/test split, stratified by the engagement score's quintile over all rows.

    Only the assignment uses the stratum; thresholds and weights are fitted on train afterwards."""
    total = sum(fractions.values())
    if set(fractions) != {"train", "val", "test"} or abs(total - 1.0) > 1e-6:
        raise EngagementDataError(f"split fractions must be train/val/test summing to 1, got {fractions}")
    if len(frame) < MIN_SPLIT_POSTS:
        raise EngagementDataError(f"need at least {MIN_SPLIT_POSTS} posts with every count to split, got {len(frame)}")
    score = engagement_score(frame, counts_present(frame)).to_numpy(dtype=float)
    stratum = pd.qcut(pd.Series(score).rank(method="first"), 5, labels=False).to_numpy()
    index = np.arange(len(frame))
    n_test, n_val = round(fractions["test"] * len(frame)), round(fractions["val"] * len(frame))
    rest, test = train_test_split(index, test_size=n_test, random_state=seed, stratify=stratum)
    train, val = train_test_split(rest, test_size=n_val, random_state=seed, stratify=stratum[rest])
    split = np.empty(len(frame), dtype=object)
    split[train], split[val], split[test] = "train", "val", "test"
    return pd.Series(split, index=frame.index, name="split", dtype="string")
