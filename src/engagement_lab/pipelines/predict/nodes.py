"""Nodes of the ``predict`` pipeline: read and check new posts, embed them, one scorer per model, merge."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from engagement_lab.core.raw import RawFolder
from engagement_lab.predict.inputs import PredictInputError, read_csv, read_folder

logger = logging.getLogger(__name__)
INPUTS = ("instaloader", "csv")


def read_new_posts(
    folder: RawFolder, csv_folder: RawFolder, params: dict[str, Any], ingestion_params: dict[str, Any]
) -> pd.DataFrame:
    """The new posts, one row each in input order, checked: ``status`` ok or error with a ``reason``.

    ``params.input`` picks the instaloader folder (``raw_new_posts``) or the CSV folder (``new_posts_csv``);
    images are checked as ingestion checks them (fully decoded, at least ``min_image_side`` px)."""
    kind, min_side = params["input"], ingestion_params["min_image_side"]
    if kind == "instaloader":
        return read_folder(folder, params["source"], min_side)
    if kind == "csv":
        return read_csv(csv_folder, params["source"], min_side)
    raise PredictInputError(f"predict.input must be one of {INPUTS}, got {kind!r}")


def embed_new_posts(posts: pd.DataFrame, feature_params: dict[str, Any]) -> pd.DataFrame:
    """Frozen image and text embeddings of the scorable posts (the features pipeline's encoders and settings)."""
    from engagement_lab.predict.scoring import embed_posts

    return embed_posts(posts, feature_params)


def score_dual_attention_posts(
    features: pd.DataFrame,
    model_state: Any,
    preprocessor: dict[str, Any],
    history: dict[str, Any],
    model_input: pd.DataFrame,
    topic_model: Any,
    params: dict[str, Any],
    user_params: dict[str, Any],
) -> pd.DataFrame:
    """Per-user popular probability (dual-attention model) and its top attention words per post; the LDA
    (``user_environment_lda``) gives a new post's topic vector."""
    from engagement_lab.features.encoders import torch_threads
    from engagement_lab.predict.scoring import load_dual_attention, score_dual_attention, user_environments

    with torch_threads(params["threads"]):
        environments = user_environments(model_input, user_params["environment_includes_unlabelled"])
        model = load_dual_attention(model_state, history["config"])
        return score_dual_attention(
            features,
            model,
            preprocessor,
            environments,
            topic_model,
            params["dual_attention"]["top_words"],
            params["device"],
        )


def score_ppcl_posts(
    features: pd.DataFrame,
    model_state: Any,
    card: dict[str, Any],
    preprocessor: Any,
    users: pd.DataFrame,
    params: dict[str, Any],
) -> pd.DataFrame:
    """Predicted popularity (PPCL, log2(views/day) + 1) from the post's content, time and its user's fields."""
    from engagement_lab.features.encoders import torch_threads
    from engagement_lab.predict.scoring import load_ppcl, score_ppcl

    with torch_threads(params["threads"]):
        return score_ppcl(features, load_ppcl(model_state, card), preprocessor, users, params["device"])


def make_engagement_scorer(feature_set: str) -> Callable[[pd.DataFrame, dict[str, Any]], pd.DataFrame]:
    def score_engagement_posts(features: pd.DataFrame, bundle: dict[str, Any]) -> pd.DataFrame:
        from engagement_lab.predict.scoring import score_engagement

        return score_engagement(features, bundle, feature_set)

    score_engagement_posts.__doc__ = (
        f"Engagement class and class probabilities (CatBoost, {feature_set!r} features: no engagement counts needed)."
    )
    return score_engagement_posts


Merged = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]


def make_merge(names: list[str]) -> Callable[..., Merged]:
    """The merge node for scorers ``names`` (their score tables come in that order)."""

    def merge_predictions(
        posts: pd.DataFrame, canonical_posts: pd.DataFrame, params: dict[str, Any], *scores: pd.DataFrame
    ) -> Merged:
        """One row per input post with every model's outputs and a caveat where a class is no better than chance
        (``predictions``, its CSV and the unversioned ``predictions_latest``); a summary with the count per status."""
        from engagement_lab.predict.scoring import flag_near_chance, merge_scores

        known = set(canonical_posts["user_id"].dropna().astype(str))
        margin = float(params["chance_margin"])
        table = flag_near_chance(merge_scores(posts, known, dict(zip(names, scores, strict=True))), margin)
        summary = summarise(table, names, margin)
        for status, count in summary["status"].items():
            reasons = table.loc[table["status"] == status, "reason"].fillna("")
            kinds = reasons[reasons != ""].str.split(":").str[0].value_counts().to_dict()
            logger.info(
                "predict: %d of %d posts %s%s",
                count,
                len(table),
                status,
                f" ({', '.join(f'{k}: {v}' for k, v in kinds.items())})" if kinds else "",
            )
        for model, count in summary["near_chance"]["posts"].items():
            logger.info(
                "predict: %s: %d of %d scored posts get a class no better than chance (p within %g of 1/K)",
                model,
                count,
                summary["status"].get("scored", 0),
                margin,
            )
        return table, table, table, summary

    return merge_predictions


def near_chance_counts(table: pd.DataFrame, margin: float) -> dict[str, Any]:
    """Per classifier, how many scored posts got a class no better than chance, and the margin used."""
    columns = {"engagement": "engagement_near_chance", "dual_attention": "dual_attention_near_chance"}
    counts = {model: int(table[c].fillna(False).sum()) for model, c in columns.items() if c in table}
    return {"margin": margin, "posts": counts}


def summarise(table: pd.DataFrame, names: list[str], margin: float) -> dict[str, Any]:
    """Counts per status and per reason kind, unknown users, posts scored no better than chance, and which models
    scored."""
    reasons = table["reason"].fillna("")
    return {
        "posts": len(table),
        "status": {s: int(n) for s, n in table["status"].value_counts().sort_index().items()},
        "reasons": {k: int(n) for k, n in reasons[reasons != ""].str.split(":").str[0].value_counts().items()},
        "known_users": int(table["known_user"].sum()),
        "unknown_users_scored": int(((table["status"] == "scored") & ~table["known_user"]).sum()),
        "near_chance": near_chance_counts(table, margin),
        "models": names,
        "rows": table[["post_ref", "user_id", "known_user", "status", "reason"]].astype(str).to_dict("records"),
    }
