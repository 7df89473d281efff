"""Nodes of the ``user_environment`` pipeline (Instagram dual-attention paper, §III-C and §IV-A).

Order matters for leakage: labels and the seeded split come first; the LDA dictionary and model
are fitted on the context posts only (train, plus the unlabelled middle 50 % when
``environment_includes_unlabelled``; never val or test); a post's environment averages the same
user's context posts without the post itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engagement_lab.core.inputs_check import input_check, missing_source, require_inputs
from engagement_lab.core.progress import heartbeat
from engagement_lab.dual_attention.environment import (
    context_mask,
    label_posts,
    leave_one_out_means,
    novelty_scores,
    split_posts,
)
from engagement_lab.world.truth import truth_for

# gensim (engagement_lab.dual_attention.text) is imported by the nodes that use it: registering the pipelines
# (every `kedro` command) does not load it. Kedro reads the nodes' type hints at run time, so the name
# TopicModel must resolve without that import.
if TYPE_CHECKING:
    from engagement_lab.dual_attention.text import TopicModel
else:
    TopicModel = Any

logger = logging.getLogger(__name__)


def check_inputs(
    posts: pd.DataFrame, images: pd.DataFrame, image_embeddings: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """What the user environment (and the dual-attention classifier after it) needs: the source's posts with
    like counts, an embedded image each (the image environment and both attention branches read it),
    and users with enough posts to label a top and a bottom quartile."""
    name = params["source"]
    chosen = posts[posts["source"] == name]
    lacks = []
    if chosen.empty:
        lacks.append(
            missing_source(posts, name, "set user_environment.source to one with captions, images and like counts")
        )
    with_likes = int(chosen["likes"].notna().sum())
    embedded = set(image_embeddings["sha1"])
    with_image = int(images.loc[images["post_id"].isin(set(chosen["post_id"])), "sha1"].isin(embedded).sum())
    per_user = chosen.loc[chosen["likes"].notna(), "user_id"].value_counts()
    labelling_users = int((per_user >= params["min_posts_per_user"]).sum())
    if not chosen.empty:
        if with_likes == 0:
            lacks.append(f"no like counts on the {len(chosen)} {name} posts: the labels are per-user like quartiles")
        if with_image == 0:
            lacks.append(
                f"no {name} post has an embedded image: the user environment averages each user's images "
                "and the dual-attention model reads the image of every post"
            )
        if labelling_users == 0:
            lacks.append(
                f"no user has {params['min_posts_per_user']} posts with likes "
                "(user_environment.min_posts_per_user): no post can be labelled"
            )
    return input_check(
        "user_environment",
        lacks,
        posts=len(chosen),
        posts_with_likes=with_likes,
        posts_with_image=with_image,
        labelling_users=labelling_users,
    )


def select_posts(
    posts: pd.DataFrame,
    images: pd.DataFrame,
    image_embeddings: pd.DataFrame,
    params: dict[str, Any],
    input_check: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The source's posts with likes and an image feature (posts → images(post_id, sha1) → embeddings).

    Posts without likes or without a decodable, embedded image cannot be labelled or modelled:
    they are counted and logged, never dropped silently."""
    if input_check is not None:
        require_inputs(input_check)
    source = params["source"]
    chosen = posts[posts["source"] == source]
    if chosen.empty:
        raise ValueError(
            f"user_environment: no posts with source == {source!r}; sources present: "
            f"{sorted(posts['source'].dropna().unique())}"
        )
    frame = chosen[["post_id", "user_id", "posted_at", "caption", "likes"]].copy()
    no_likes = frame["likes"].isna()
    # Plain dict look-ups: Series.map on Arrow strings would return an Arrow list column.
    sha = dict(zip(images["post_id"], images["sha1"], strict=True))
    vectors = dict(zip(image_embeddings["sha1"], image_embeddings["embedding"], strict=True))
    image = [vectors.get(sha.get(post_id)) for post_id in frame["post_id"]]
    frame["image"] = pd.Series(
        [None if v is None else np.asarray(v, dtype=np.float32) for v in image], index=frame.index, dtype=object
    )
    no_image = frame["image"].isna() & ~no_likes
    logger.info(
        "user_environment: %d %s posts; dropped %d without likes, %d without an image feature",
        len(frame),
        source,
        int(no_likes.sum()),
        int(no_image.sum()),
    )
    frame = frame[~no_likes & ~no_image].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"user_environment: no {source} post has both likes and an image embedding")
    frame["likes"] = frame["likes"].astype("int64")
    frame["caption"] = frame["caption"].fillna("")
    return frame


def label_and_split(selected: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Top/bottom quartile labels per user (§IV-A), then the seeded random split of labelled posts."""
    labelled = label_posts(selected, params["label_quantile"], params["min_posts_per_user"])
    labelled["split"] = split_posts(labelled, params["test_share"], params["val_share"], params["seed"])
    counts = labelled["split"].value_counts().to_dict()
    if min(counts.get(s, 0) for s in ("train", "val", "test")) == 0:
        raise ValueError(f"user_environment: a split is empty ({counts}); need more labelled posts")
    logger.info("Split (seed %d): %s; %d users", params["seed"], counts, labelled["user_id"].nunique())
    return labelled


def fit_topic_model(labelled: pd.DataFrame, params: dict[str, Any]) -> tuple[TopicModel, dict[str, float]]:
    """gensim LDA over the context captions only (hashtags and emoji are tokens); logs while it fits."""
    from engagement_lab.dual_attention.text import coherence, fit_lda, tokenize

    mask = context_mask(labelled["split"], params["environment_includes_unlabelled"])
    docs = [tokenize(c) for c in labelled.loc[mask, "caption"]]
    lda = params["lda"]
    what = f"user_environment LDA ({lda['num_topics']} topics, {lda['passes']} passes, {len(docs)} captions)"
    with heartbeat(logger, what):
        model, stats = fit_lda(
            docs,
            num_topics=lda["num_topics"],
            passes=lda["passes"],
            iterations=lda["iterations"],
            workers=lda["workers"],
            seed=lda["seed"],
            no_below=lda["no_below"],
            no_above=lda["no_above"],
            alpha=lda["alpha"],
        )
    with heartbeat(logger, "user_environment LDA coherence"):
        scores = coherence(model, docs, topn=lda["coherence_topn"])
    stats.update({f"coherence_{k}": v for k, v in scores.items()})
    logger.info("LDA coherence: u_mass %.3f, c_npmi %.3f", stats["coherence_u_mass"], stats["coherence_c_npmi"])
    return model, stats


def build_model_input(labelled: pd.DataFrame, topic_model: TopicModel, params: dict[str, Any]) -> pd.DataFrame:
    """Per post: tokens, topic vector, and the leave-one-out image and topic environments."""
    from engagement_lab.dual_attention.text import tokenize

    out = labelled.copy()
    tokens = [tokenize(c) for c in out["caption"]]
    topics = topic_model.topic_vectors(tokens)
    image = np.stack(out["image"].to_numpy())
    mask = context_mask(out["split"], params["environment_includes_unlabelled"])
    image_env, fallback = leave_one_out_means(out["user_id"], image, mask)
    topic_env, _ = leave_one_out_means(out["user_id"], topics, mask)
    own = pd.Series(mask.astype(int)).groupby(out["user_id"]).transform("sum").to_numpy() - mask.astype(int)
    out["env_fallback"] = own < 1
    logger.info(
        "Environments: %d posts (of %d) have no other context post of their user and use the population mean",
        fallback,
        len(out),
    )
    out["tokens"] = tokens
    out["topics"] = list(topics)
    out["image_env"] = list(image_env)
    out["topic_env"] = list(topic_env)
    return out


def _nmi(concept: pd.Series, topic: np.ndarray) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(concept.astype(str), topic)) if len(topic) else float("nan")


def _novelty_probe(model_input: pd.DataFrame, on_habit: pd.Series, context: np.ndarray) -> dict[str, float]:
    """ROC AUC of the post-vs-environment distances (image, topic) for the planted novelty (a concept off
    the user's habits), on held-out posts: how much novelty the environment carries before any training."""
    from sklearn.metrics import roc_auc_score

    habit = model_input["post_id"].map(on_habit)
    rows = (~context) & habit.notna().to_numpy()
    novel = ~habit[rows].astype(bool).to_numpy()
    out = {"novelty_share_held_out": float(novel.mean()) if rows.any() else float("nan")}
    if novel.all() or not novel.any():
        return out
    stack = {c: np.stack(model_input[c].to_numpy()) for c in ("image", "image_env", "topics", "topic_env")}
    scores = novelty_scores(stack["image"], stack["image_env"], stack["topics"], stack["topic_env"], context)
    for name, score in scores.items():
        out[f"novelty_auc_{name}_env"] = float(roc_auc_score(novel, score[rows]))
    return out


def evaluate_topics(
    model_input: pd.DataFrame,
    topic_model: TopicModel,
    lda_stats: dict[str, float],
    ground_truth_posts: pd.DataFrame | None,
    params: dict[str, Any],
) -> tuple[dict, pd.DataFrame, dict]:
    """LDA report: coherence, training stats and the NMI between each post's top topic and its planted
    concept (ground truth, evaluation only) on context and on held-out posts; top words per topic."""
    truth, omitted = truth_for(ground_truth_posts, model_input["post_id"], params["source"])
    report = {
        "source": params["source"],
        "num_topics": topic_model.num_topics,
        "split_seed": params["seed"],
        "split_sizes": {k: int(v) for k, v in model_input["split"].value_counts().items()},
        "users": int(model_input["user_id"].nunique()),
        "env_fallback_posts": int(model_input["env_fallback"].sum()),
        **{k: float(v) for k, v in lda_stats.items()},
    }
    top_topic = np.stack(model_input["topics"].to_numpy()).argmax(axis=1)
    if truth is None:
        logger.info("LDA: no NMI with planted concepts: %s", omitted)
        report["nmi_omitted"] = omitted
    else:
        report.update(_planted_structure_scores(model_input, truth, top_topic, params))
    topics = pd.DataFrame(
        [
            {
                "topic": t,
                "words": " ".join(w for w, _ in topic_model.lda.show_topic(t, topn=8)),
                "posts": int((top_topic == t).sum()),
            }
            for t in range(topic_model.num_topics)
        ]
    )
    metrics = {
        f"lda.{k}": {"value": float(v), "step": 0}
        for k, v in report.items()
        if isinstance(v, int | float) and np.isfinite(v)
    }
    return report, topics, metrics


def _planted_structure_scores(
    model_input: pd.DataFrame, truth: pd.DataFrame, top_topic: np.ndarray, params: dict[str, Any]
) -> dict[str, Any]:
    """NMI between each post's top topic and its planted concept; the planted novelty probe."""
    from sklearn.metrics import adjusted_mutual_info_score

    concept = model_input["post_id"].map(truth["concept"])
    context = context_mask(model_input["split"], params["environment_includes_unlabelled"])
    has_truth = concept.notna().to_numpy()
    nmi = {}
    for name, subset in (("nmi_context", context), ("nmi_held_out", ~context), ("nmi_all", np.ones_like(context))):
        rows = subset & has_truth
        nmi[name] = _nmi(concept[rows], top_topic[rows])
    # Chance level: the same topics against shuffled concepts (NMI is biased upwards on few posts).
    shuffled = concept[has_truth].sample(frac=1.0, random_state=0).to_numpy()
    nmi["nmi_shuffled"] = _nmi(pd.Series(shuffled), top_topic[has_truth])
    nmi["ami_all"] = float(adjusted_mutual_info_score(concept[has_truth].astype(str), top_topic[has_truth]))
    novelty = _novelty_probe(model_input, truth["on_habit"], context)
    logger.info(
        "LDA top topic vs planted concept: NMI %.3f (context), %.3f (held-out), %.3f (chance); AMI %.3f",
        nmi["nmi_context"],
        nmi["nmi_held_out"],
        nmi["nmi_shuffled"],
        nmi["ami_all"],
    )
    logger.info("Planted novelty vs distance to the environment (held-out posts): ROC AUC %s", novelty)
    return {"posts_with_truth": int(has_truth.sum()), **nmi, **novelty}
