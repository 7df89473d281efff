"""Score new posts with the trained models: features from the frozen encoders, then one scorer per model.

Each scorer takes the checked posts (``status == "ok"`` rows only) with their features and returns one
row per scored post keyed by ``row``; :func:`merge_scores` joins them onto every input row, prefixing
each scorer's columns with its name (``dual_attention_popular_probability``, ``engagement_class``, ...).
:func:`flag_near_chance` then says which classifier outputs are no better than chance.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch

from engagement_lab.core.model_index import state_dict_of
from engagement_lab.core.training import pick_device
from engagement_lab.dual_attention.environment import context_mask
from engagement_lab.dual_attention.inputs import encode_posts, stack
from engagement_lab.dual_attention.models import PopularityNet
from engagement_lab.dual_attention.models import load_model as load_dual_attention_model
from engagement_lab.dual_attention.text import TopicModel, token_kind, tokenize
from engagement_lab.engagement.data import add_text_features
from engagement_lab.engagement.targets import CLASS_NAMES
from engagement_lab.features.encoders import embed_image_files, embed_texts
from engagement_lab.features.post_texts import build_post_texts
from engagement_lab.ingestion.instaloader import caption_hashtags
from engagement_lab.ppcl.data import LEVELS, NUMERICAL, Preprocessor, add_user_fields
from engagement_lab.ppcl.model import PPCLModel, load_model
from engagement_lab.ppcl.train import Split
from engagement_lab.ppcl.train import predict as ppcl_predict

logger = logging.getLogger(__name__)


class PredictModelError(ValueError):
    """A trained model or its companion does not fit what the scorer needs (named, with the fix)."""


def scorable(posts: pd.DataFrame) -> pd.DataFrame:
    return posts[posts["status"] == "ok"].reset_index(drop=True)


def embed_posts(posts: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Frozen-encoder features of the scorable posts: image (EfficientNet-lite0) and text (MiniLM of
    title + caption + hashtags, as the features pipeline builds a post's text)."""
    ok = scorable(posts)
    frame = ok[["row", "post_ref", "user_id", "posted_at", "caption"]].copy()
    frame["title"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    frame["tags"] = caption_hashtags(frame["caption"])
    texts = build_post_texts(frame.rename(columns={"row": "post_id"}))["text"].tolist()
    images = embed_image_files(
        ok["image_path"].tolist(),
        device=params["device"],
        batch_size=params["image_batch_size"],
        image_size=params["image_size"],
        progress=False,
    )
    frame["image_embedding"] = list(images)
    frame["text_embedding"] = list(
        embed_texts(texts, device=params["device"], batch_size=params["text_batch_size"], progress=False)
    )
    logger.info("predict: embedded %d posts (images and texts)", len(frame))
    return frame


def user_environments(model_input: pd.DataFrame, include_unlabelled: bool) -> tuple[dict, tuple, dict]:
    """Per user, the mean image feature and topic vector of their context posts (the history the model
    saw); the population means (what a user without history gets, as in training); posts per user."""
    needed = {"user_id", "split", "image", "topics"}
    if missing := needed - set(model_input.columns):
        raise PredictModelError(
            f"user_environment_model_input lacks columns {sorted(missing)}: "
            "run `kedro run --pipelines=user_environment`"
        )
    context = model_input[context_mask(model_input["split"], include_unlabelled)]
    image, topics = stack(context["image"]), stack(context["topics"])
    codes, users = pd.factorize(context["user_id"])
    per_user = {}
    for k, user in enumerate(users):
        rows = codes == k
        per_user[str(user)] = (image[rows].mean(0), topics[rows].mean(0))
    counts = context["user_id"].value_counts().to_dict()
    return per_user, (image.mean(0), topics.mean(0)), {str(k): int(v) for k, v in counts.items()}


def load_dual_attention(state: Any, config: dict[str, Any]) -> PopularityNet:
    """The trained network from its state dict and the config it was trained with."""
    try:
        return load_dual_attention_model(state, config)
    except RuntimeError as error:
        raise PredictModelError(
            "dual_attention_full_model does not match the config in dual_attention_full_history "
            f"({str(error).splitlines()[0]}); re-run `kedro run --pipelines=dual_attention`"
        ) from None


def score_dual_attention(
    features: pd.DataFrame,
    model: PopularityNet,
    preprocessor: dict[str, Any],
    environments: tuple[dict, tuple, dict],
    topic_model: TopicModel,
    top_words: int,
    device: str = "cpu",
) -> pd.DataFrame:
    """Per-user popular probability of the dual-attention model and its most attended caption tokens.

    The top words are the caption tokens (punctuation aside) with the highest attention weight.
    The post's environment is the mean over its user's history posts (training's environment of a
    held-out post); a user without history gets the population mean, as training's fallback did. The post's
    own topic vector comes from ``topic_model``, the LDA that gave the training posts theirs."""
    per_user, population, counts = environments
    if features.empty:
        return pd.DataFrame(columns=["row", "popular_probability", "top_attention_words", "environment"])
    max_len = preprocessor["max_caption_len"]
    tokens = [tokenize(c) for c in features["caption"]]
    known = features["user_id"].astype(str).isin(per_user).to_numpy()
    envs = [per_user.get(str(u), population) for u in features["user_id"]]
    encoded = encode_posts(
        preprocessor,
        tokens,
        stack(features["image_embedding"]),
        np.stack([e[0] for e in envs]),
        topic_model.topic_vectors(tokens),
        np.stack([e[1] for e in envs]),
    )
    dev = pick_device(device)
    model = model.to(dev).eval()
    with torch.no_grad():
        out = model(**{k: torch.as_tensor(v, device=dev if k != "lengths" else "cpu") for k, v in encoded.items()})
    prob = torch.sigmoid(out["logit"].float()).cpu().numpy()
    attention = out["attention"].float().cpu().numpy() if out["attention"] is not None else None
    words = []
    for i, doc in enumerate(tokens):
        if attention is None:
            words.append("")
            continue
        shown = doc[:max_len]
        # Words, hashtags, mentions and emoji; punctuation only when a caption has nothing else.
        candidates = [j for j, t in enumerate(shown) if token_kind(t) != "symbol"] or list(range(len(shown)))
        order = sorted(candidates, key=lambda j: (-attention[i, j], j))[:top_words]
        words.append(", ".join(f"{shown[j]} ({attention[i, j]:.2f})" for j in order))
    return pd.DataFrame(
        {
            "row": features["row"].to_numpy(),
            "popular_probability": prob.astype(float),
            "top_attention_words": words,
            "environment": [
                f"user ({counts[str(u)]} history posts)" if k else "population (no history)"
                for u, k in zip(features["user_id"], known, strict=True)
            ],
        }
    )


def score_engagement(features: pd.DataFrame, bundle: dict[str, Any], feature_set: str) -> pd.DataFrame:
    """The engagement class (quintile of the engagement score) and its five class probabilities from
    the CatBoost model of a feature set that needs no engagement counts."""
    if not isinstance(bundle, dict) or not {"features", "model", "feature_set"} <= set(bundle):
        raise PredictModelError(
            f"engagement_catboost_{feature_set}_model is not a {{features, model, feature_set}} "
            "bundle: re-run `kedro run --pipelines=engagement`"
        )
    if bundle["feature_set"] != feature_set:
        raise PredictModelError(
            f"engagement_catboost_{feature_set}_model holds feature set {bundle['feature_set']!r}, not {feature_set!r}"
        )
    model = bundle["model"]
    frame = features.copy()
    frame["has_image"] = 1  # scorable posts all have a decodable image
    frame = add_text_features(frame)  # the tags are embed_posts' caption hashtags
    names = [CLASS_NAMES[int(c)] for c in model.classes_]
    if frame.empty:
        return pd.DataFrame(columns=["row", "class", *(f"p_{name}" for name in names)])
    proba = model.predict_proba(bundle["features"].transform(frame))
    out = pd.DataFrame({"row": frame["row"].to_numpy()})
    out["class"] = [names[i] for i in proba.argmax(axis=1)]
    for k, name in enumerate(names):
        out[f"p_{name}"] = proba[:, k].astype(float)
    return out


def load_ppcl(state: Any, card: dict[str, Any]) -> PPCLModel:
    """PPCL's network from its state dict and the model config in its card."""
    if not isinstance(card, dict) or "model" not in card:
        raise PredictModelError("ppcl_model_card has no model config: re-run `kedro run --pipelines=ppcl`")
    try:
        return load_model(state_dict_of(state), card)
    except RuntimeError as error:
        raise PredictModelError(
            f"ppcl_full_model does not match the config in ppcl_model_card ({str(error).splitlines()[0]}); "
            "re-run `kedro run --pipelines=ppcl`"
        ) from None


def score_ppcl(
    features: pd.DataFrame, model: PPCLModel, preprocessor: Preprocessor, users: pd.DataFrame, device: str = "cpu"
) -> pd.DataFrame:
    """PPCL's predicted popularity, log2(views/day) + 1 (its training target), and views per day.

    The user fields of Table A1 come from the post's ``users`` row (what the source has, e.g. followers and
    following for Instagram); fields the row lacks, and every field of a user without a row, get the train
    median as in training. A user id PPCL did not train on gets the unseen-user embedding (index 0) — the
    population-level prediction; ``user_known_to_model`` says which."""
    columns = ["row", "popularity", "views_per_day", "user_known_to_model", "profile_fields"]
    if features.empty:
        return pd.DataFrame(columns=columns)
    frame, _ = add_user_fields(features, users)
    for level in LEVELS:  # contrastive labels only: unknown for a new post
        frame[level] = pd.NA
    given = frame[NUMERICAL].notna()
    arrays = preprocessor.transform(frame)
    dev = pick_device(device)
    prediction = ppcl_predict(model.to(dev), Split.from_arrays(arrays), dev).astype(float)
    return pd.DataFrame(
        {
            "row": frame["row"].to_numpy(),
            "popularity": prediction,
            "views_per_day": np.exp2(prediction - 1),
            "user_known_to_model": arrays["user"] >= 0,
            "profile_fields": [
                ", ".join(c for c in NUMERICAL if has[c]) or "none: all imputed (train medians)"
                for has in given.to_dict("records")
            ],
        }
    )


def merge_scores(posts: pd.DataFrame, known_users: set[str], scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per input post: reference, user, ``known_user``, ``status`` (scored / error), ``reason`` and
    every scorer's columns, prefixed with its name. Counts add up: every input row appears once."""
    out = posts[["row", "post_ref", "user_id"]].copy()
    out["known_user"] = out["user_id"].astype(str).isin(known_users) & out["user_id"].notna()
    out["status"] = posts["status"].map({"ok": "scored", "error": "error"}).astype("string")
    unknown = (out["status"] == "scored") & ~out["known_user"]
    out["reason"] = posts["reason"].astype("string")
    out.loc[unknown, "reason"] = "unknown user: no posts in the training data, population-level prediction"
    out = pd.concat([out, posts[["posted_at", "caption", "image_path"]]], axis=1)
    for name, table in scores.items():
        if table["row"].duplicated().any() or not set(table["row"]) <= set(out.loc[out["status"] == "scored", "row"]):
            raise PredictModelError(f"scorer {name!r} returned rows that are not the scored posts")
        prefixed = table.rename(columns={c: f"{name}_{c}" for c in table.columns if c != "row"})
        out = out.merge(prefixed, on="row", how="left", validate="one_to_one")
    if len(out) != len(posts):
        raise PredictModelError(f"{len(posts)} posts in but {len(out)} rows out")
    return out.sort_values("row", ignore_index=True)


# ------------------------------------------------------------------------------------------ no better than chance
def near_chance(probability: pd.Series, classes: int, margin: float) -> pd.Series:
    """Whether the probability of each predicted class is within ``margin`` of chance, the uniform 1/``classes``
    (``<NA>`` where there is no probability: an error row)."""
    flags = (probability.astype(float) - 1 / classes) <= margin
    return flags.astype("boolean").mask(probability.isna())


def engagement_chance(table: pd.DataFrame, margin: float) -> tuple[pd.Series, pd.Series, list[str | None]]:
    """The engagement class's probability (the largest of ``engagement_p_*``), whether it is near chance, and each
    row's caveat (``None`` when it is not)."""
    columns = [c for c in table.columns if c.startswith("engagement_p_")]
    probability = table[columns].max(axis=1, skipna=False)
    flags = near_chance(probability, len(columns), margin)
    caveats = [
        f"engagement: {label} at p = {p:.3f}, within {margin:g} of chance (1/{len(columns)} = {1 / len(columns):.3f})"
        if pd.notna(flag) and flag
        else None
        for label, p, flag in zip(table["engagement_class"], probability, flags, strict=True)
    ]
    return probability, flags, caveats


def dual_attention_chance(table: pd.DataFrame, margin: float) -> tuple[pd.Series, list[str | None]]:
    """Whether the popular/unpopular call is near chance (the called class's probability within ``margin`` of 1/2),
    and each row's caveat."""
    popular = table["dual_attention_popular_probability"].astype(float)
    flags = near_chance(pd.concat([popular, 1 - popular], axis=1).max(axis=1, skipna=False), 2, margin)
    caveats = [
        f"dual attention: popular probability {p:.3f}, within {margin:g} of chance (1/2)"
        if pd.notna(flag) and flag
        else None
        for p, flag in zip(popular, flags, strict=True)
    ]
    return flags, caveats


def flag_near_chance(table: pd.DataFrame, margin: float) -> pd.DataFrame:
    """The predictions with what is no better than chance said per row: ``engagement_class_probability``,
    ``engagement_near_chance``, ``dual_attention_near_chance`` (for the models the table has) and ``caveat``, the
    sentences of the flagged ones joined with "; " (empty when none)."""
    out = table.copy()
    caveats: list[list[str | None]] = []
    if "engagement_class" in out:
        probability, flags, texts = engagement_chance(out, margin)
        out["engagement_class_probability"] = probability
        out["engagement_near_chance"] = flags
        caveats.append(texts)
    if "dual_attention_popular_probability" in out:
        flags, texts = dual_attention_chance(out, margin)
        out["dual_attention_near_chance"] = flags
        caveats.append(texts)
    rows = zip(*caveats, strict=True) if caveats else ([] for _ in range(len(out)))
    out["caveat"] = pd.Series(["; ".join(t for t in row if t) for row in rows], index=out.index, dtype="string")
    return out
