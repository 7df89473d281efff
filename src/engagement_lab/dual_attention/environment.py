"""Per-user popularity labels (§IV-A), the random split and the leave-one-out user environment (§III-C)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
UNLABELLED = "unlabelled"


def label_posts(posts: pd.DataFrame, quantile: float = 0.25, min_posts: int = 4) -> pd.DataFrame:
    """Per user, the top ``quantile`` of posts by likes are popular (1), the bottom ``quantile`` unpopular (0).

    With n posts a user gives k = floor(quantile * n) posts to each class; the middle keeps
    ``label`` NA (``unlabelled``). Ties in likes break by post_id, so the labels are deterministic.
    Users with fewer than ``min_posts`` posts (k = 0) label nothing; their count is logged."""
    if not 0 < quantile <= 0.5:
        raise ValueError(f"label quantile must be in (0, 0.5], got {quantile}")
    if posts["likes"].isna().any():
        raise ValueError("label_posts needs likes on every post; drop posts without likes first")
    out = posts.sort_values(["user_id", "likes", "post_id"], ignore_index=True)
    n = out.groupby("user_id")["post_id"].transform("size").to_numpy()
    rank = out.groupby("user_id").cumcount().to_numpy()  # 0 = fewest likes
    k = np.floor(quantile * n).astype(int)
    k[n < min_posts] = 0
    label = np.full(len(out), np.nan)
    label[rank < k] = 0.0
    label[rank >= n - k] = 1.0
    out["label"] = pd.array(np.where(np.isnan(label), None, label), dtype="Int64")
    few = out.loc[k == 0, "user_id"].nunique()
    if few:
        logger.info("%d users have fewer than %d posts and label none of them", few, min_posts)
    return out


def split_posts(labelled: pd.DataFrame, test_share: float, val_share: float, seed: int) -> pd.Series:
    """Random split of the labelled posts: ``test_share`` to test, then ``val_share`` of the rest to val.

    Unlabelled posts (the middle 50 %) get ``unlabelled``: never predicted, never scored."""
    rng = np.random.default_rng(seed)
    split = pd.Series(UNLABELLED, index=labelled.index, dtype="string")
    idx = labelled.index[labelled["label"].notna()].to_numpy()
    idx = idx[rng.permutation(len(idx))]
    n_test = int(round(test_share * len(idx)))
    n_val = int(round(val_share * (len(idx) - n_test)))
    split[idx[:n_test]] = "test"
    split[idx[n_test : n_test + n_val]] = "val"
    split[idx[n_test + n_val :]] = "train"
    return split


def context_mask(split: pd.Series, include_unlabelled: bool) -> np.ndarray:
    """Posts that may be fitted on and averaged into environments: train (and the unlabelled middle)."""
    allowed = ["train", UNLABELLED] if include_unlabelled else ["train"]
    return split.isin(allowed).to_numpy()


def leave_one_out_means(user_id: pd.Series, values: np.ndarray, in_context: np.ndarray) -> tuple[np.ndarray, int]:
    """For each post, the mean of ``values`` over the same user's context posts, itself excluded.

    A post outside the context (val, test) averages all of its user's context posts. A post
    whose user has no other context post gets the population mean of the context posts; the
    number of such posts is returned."""
    values = np.asarray(values, dtype=np.float64)
    codes, _ = pd.factorize(user_id)
    n_users = codes.max() + 1
    ctx = in_context.astype(np.float64)
    sums = np.zeros((n_users, values.shape[1]))
    np.add.at(sums, codes, values * ctx[:, None])
    counts = np.bincount(codes, weights=ctx, minlength=n_users)
    own_sum = sums[codes] - values * ctx[:, None]
    own_count = counts[codes] - ctx
    fallback = own_count < 1
    population = values[in_context].mean(axis=0) if in_context.any() else values.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = own_sum / own_count[:, None]
    means[fallback] = population
    return means.astype(np.float32), int(fallback.sum())


def environment_distances(
    image: np.ndarray, image_env: np.ndarray, topics: np.ndarray, topic_env: np.ndarray
) -> np.ndarray:
    """How far each post is from its user environment, (n, 2): 1 − cosine between the (already
    standardised) image feature and image environment, and 1 − the dot product of the topic vector and the
    topic environment (the chance that a topic drawn from the post and one from the environment disagree)."""
    cosine = (image * image_env).sum(axis=1) / (
        np.linalg.norm(image, axis=1) * np.linalg.norm(image_env, axis=1) + 1e-12
    )
    return np.stack([1.0 - cosine, 1.0 - (topics * topic_env).sum(axis=1)], axis=1)


def novelty_scores(
    image: np.ndarray, image_env: np.ndarray, topics: np.ndarray, topic_env: np.ndarray, in_context: np.ndarray
) -> dict[str, np.ndarray]:
    """:func:`environment_distances` (higher = more novel), the image features standardised with the context
    posts' mean and std: a diagnostic of what the environment can reveal about novelty, with no fitted model."""
    mu, sd = image[in_context].mean(axis=0), image[in_context].std(axis=0) + 1e-6
    distances = environment_distances((image - mu) / sd, (image_env - mu) / sd, topics, topic_env)
    return {"image": distances[:, 0], "topic": distances[:, 1]}
