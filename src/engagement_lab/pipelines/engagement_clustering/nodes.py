"""Nodes of ``engagement_clustering``: pseudo-labels from clustered comments and reactions (VisE §3).

Cluster generation and pretraining use disjoint posts (Step 1 / Step 2 of §3.1): the TF-IDF
vocabulary, the LSA projection and both k-means models are fitted on the cluster-generation
subset only; the pretraining posts are only *assigned* to the fitted clusters.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engagement_lab.core.inputs_check import input_check, missing_source, require_inputs
from engagement_lab.world.truth import truth_for

if TYPE_CHECKING:  # only the helpers' signatures; heavy imports wait for the node that runs
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)

REACTION_COLUMNS = ["reaction_haha", "reaction_sorry", "reaction_angry", "reaction_wow", "reaction_love"]
CLUSTER_GENERATION, PRETRAINING = "cluster_generation", "pretraining"
# Words and single symbols (emoji carry the reaction a comment expresses), not only \w\w+.
TOKEN_PATTERN = r"(?u)\b\w\w+\b|[^\w\s]"


def check_inputs(
    posts: pd.DataFrame, images: pd.DataFrame, comments: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """What VisE's clustering needs: the source's posts, their comments, reaction counts, and images
    to pretrain on (the pseudo-labels exist only to pretrain an image model)."""
    name = params["source"]
    source = posts[posts["source"] == name]
    lacks = []
    if source.empty:
        lacks.append(
            missing_source(
                posts,
                name,
                "VisE needs comments and the five reactions of a CrowdTangle export: add one, "
                "or set engagement_clustering.source",
            )
        )
    post_ids = set(source["post_id"])
    n_comments = int(comments["post_id"].isin(post_ids).sum())
    with_reactions = int(source[REACTION_COLUMNS].notna().any(axis=1).sum())
    with_image = int(images.loc[images["decodable"].fillna(False).astype(bool), "post_id"].isin(post_ids).sum())
    if not source.empty:
        if n_comments == 0:
            lacks.append(
                f"no comments on the {len(source)} {name} posts: the comment clusters need a comments "
                "export (CrowdTangle's comments.csv)"
            )
        if with_reactions == 0:
            lacks.append(f"no reaction counts on the {name} posts (Haha, Sad, Angry, Wow, Love)")
        if with_image == 0:
            lacks.append(
                f"no {name} post has a decodable image: the pseudo-labels exist to pretrain an image "
                "model (VisE), so there is nothing to pretrain on"
            )
    return input_check(
        "engagement_clustering",
        lacks,
        posts=len(source),
        comments=n_comments,
        posts_with_reactions=with_reactions,
        posts_with_image=with_image,
    )


def split_posts(
    posts: pd.DataFrame, images: pd.DataFrame, params: dict[str, Any], input_check: dict[str, Any] | None = None
) -> pd.DataFrame:
    """The source's posts with a decodable image, randomly split into the two disjoint subsets.

    Posts without a decodable image cannot be pretrained on; they are counted and logged."""
    if input_check is not None:
        require_inputs(input_check)
    source = posts[posts["source"] == params["source"]]
    if source.empty:
        raise ValueError(
            f"engagement_clustering: no posts from source {params['source']!r}; "
            f"the posts table has {sorted(posts['source'].unique())}. VisE needs comments and reactions "
            "(CrowdTangle); set engagement_clustering.source."
        )
    decodable = images[images["decodable"].fillna(False)].drop_duplicates("post_id")[["post_id", "path"]]
    table = source[["post_id", *REACTION_COLUMNS]].merge(decodable, on="post_id", how="inner")
    table = table.rename(columns={"path": "image_path"}).sort_values("post_id", ignore_index=True)
    logger.info(
        "%d of %d %s posts have a decodable image; %d without one are not used",
        len(table),
        len(source),
        params["source"],
        len(source) - len(table),
    )
    rng = np.random.default_rng(params["seed"])
    n_generation = round(params["cluster_generation_share"] * len(table))
    chosen = rng.permutation(len(table))[:n_generation]
    table["subset"] = PRETRAINING
    table.loc[chosen, "subset"] = CLUSTER_GENERATION
    return table


def sample_comments(comments: pd.DataFrame, vise_posts: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """At most ``max_comments_per_post`` comments per post, sampled with the seed (§3.2)."""
    table = comments[["post_id", "text"]].merge(vise_posts[["post_id", "subset"]], on="post_id", how="inner")
    table = table[table["text"].fillna("").str.strip() != ""].sort_values("post_id", kind="stable")
    rng = np.random.default_rng(params["seed"])
    table = table.assign(draw=rng.random(len(table))).sort_values(["post_id", "draw"], kind="stable")
    table = table.groupby("post_id", sort=False).head(params["max_comments_per_post"])
    return table.drop(columns="draw").reset_index(drop=True)


def _kmeans(n_clusters: int, n_rows: int, params: dict[str, Any]) -> KMeans | MiniBatchKMeans:
    """KMeans, or MiniBatchKMeans above ``minibatch_above`` rows, where full k-means gets slow."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if n_rows < n_clusters:
        raise ValueError(f"Cannot make {n_clusters} clusters from {n_rows} rows; lower k or raise the share")
    if n_rows > params["minibatch_above"]:
        return MiniBatchKMeans(n_clusters, random_state=params["seed"], n_init=3, batch_size=4096)
    return KMeans(n_clusters, random_state=params["seed"], n_init=params["n_init"])


def fit_comment_clusters(sampled_comments: pd.DataFrame, params: dict[str, Any]) -> tuple[Any, Any]:
    """TF-IDF → LSA document embedding (L2-normalised) → k-means, on cluster-generation comments."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    texts = sampled_comments.loc[sampled_comments["subset"] == CLUSTER_GENERATION, "text"]
    vectorizer = make_pipeline(
        TfidfVectorizer(token_pattern=TOKEN_PATTERN, min_df=params["min_df"], sublinear_tf=True),
        TruncatedSVD(params["embedding_dim"], random_state=params["seed"]),
        Normalizer(),
    )
    embeddings = vectorizer.fit_transform(texts)
    kmeans = _kmeans(params["comment_clusters"], len(texts), params).fit(embeddings)
    logger.info(
        "comment clusters: k=%d on %d comments, vocabulary %d",
        kmeans.n_clusters,
        len(texts),
        len(vectorizer[0].vocabulary_),
    )
    return vectorizer, kmeans


def reaction_vectors(vise_posts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised counts over haha/sorry/angry/wow/love, and which posts have any reaction."""
    counts = vise_posts[REACTION_COLUMNS].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    has = np.isfinite(counts).all(axis=1) & (np.nan_to_num(counts).sum(axis=1) > 0)
    vectors = np.zeros_like(counts)
    vectors[has] = counts[has] / np.linalg.norm(counts[has], axis=1, keepdims=True)
    return vectors, has


def fit_reaction_clusters(vise_posts: pd.DataFrame, params: dict[str, Any]) -> Any:
    """k-means of the L2-normalised reaction distributions of cluster-generation posts (§3.2)."""
    vectors, has = reaction_vectors(vise_posts)
    generation = has & (vise_posts["subset"] == CLUSTER_GENERATION).to_numpy()
    return _kmeans(params["reaction_clusters"], int(generation.sum()), params).fit(vectors[generation])


def assign_pseudo_labels(
    vise_posts: pd.DataFrame,
    sampled_comments: pd.DataFrame,
    comment_vectorizer: Any,
    comment_kmeans: Any,
    reaction_kmeans: Any,
) -> pd.DataFrame:
    """Per pretraining image: its sampled comments' cluster indices (a soft multi-label target)
    and its reaction cluster (-1: no reactions, that task skips the image)."""
    posts = vise_posts[vise_posts["subset"] == PRETRAINING].reset_index(drop=True)
    comments = sampled_comments[sampled_comments["subset"] == PRETRAINING]
    clusters = comment_kmeans.predict(comment_vectorizer.transform(comments["text"]))
    by_post = pd.Series(clusters, index=comments["post_id"].to_numpy()).groupby(level=0).agg(list)
    vectors, has = reaction_vectors(posts)
    reaction = np.full(len(posts), -1, dtype=np.int64)
    if has.any():
        reaction[has] = reaction_kmeans.predict(vectors[has])
    comment_clusters = [list(map(int, by_post.get(post_id, []))) for post_id in posts["post_id"]]
    labels = pd.DataFrame(
        {
            "post_id": posts["post_id"],
            "image_path": posts["image_path"],
            "comment_clusters": pd.Series(comment_clusters, dtype=object),
            "n_comments": [len(c) for c in comment_clusters],
            "reaction_cluster": reaction,
        }
    )
    unlabelled = int(((labels["n_comments"] == 0) & (labels["reaction_cluster"] < 0)).sum())
    logger.info(
        "pseudo-labels for %d pretraining images: %d with comments, %d with reactions, %d with neither",
        len(labels),
        int((labels["n_comments"] > 0).sum()),
        int(has.sum()),
        unlabelled,
    )
    return labels


def _top_terms(vectorizer: Pipeline, kmeans: KMeans, n_terms: int) -> list[list[str]]:
    """Each comment cluster's centroid mapped back from LSA space to TF-IDF terms."""
    terms = vectorizer[0].get_feature_names_out()
    weights = vectorizer[1].inverse_transform(kmeans.cluster_centers_)
    return [terms[np.argsort(-row)[:n_terms]].tolist() for row in weights]


def cluster_report(
    vise_posts: pd.DataFrame,
    sampled_comments: pd.DataFrame,
    vise_pseudo_labels: pd.DataFrame,
    comment_vectorizer: Any,
    comment_kmeans: Any,
    reaction_kmeans: Any,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Subset sizes, cluster sizes on the pretraining images, top terms per comment cluster and
    the reaction centroids."""
    labels = vise_pseudo_labels
    assigned = [np.asarray(c, dtype=np.int64) for c in labels["comment_clusters"]]
    comment_sizes = np.bincount(np.concatenate([np.zeros(0, np.int64), *assigned]), minlength=comment_kmeans.n_clusters)
    reaction_sizes = np.bincount(
        labels.loc[labels["reaction_cluster"] >= 0, "reaction_cluster"], minlength=reaction_kmeans.n_clusters
    )
    top_terms = _top_terms(comment_vectorizer, comment_kmeans, params["top_terms"])
    buttons = [column.removeprefix("reaction_") for column in REACTION_COLUMNS]
    subsets = (CLUSTER_GENERATION, PRETRAINING)
    return {
        "source": params["source"],
        "posts": {subset: int((vise_posts["subset"] == subset).sum()) for subset in subsets},
        "comments_sampled": {subset: int((sampled_comments["subset"] == subset).sum()) for subset in subsets},
        "comment_clusters": [
            {"cluster": i, "pretraining_comments": int(size), "top_terms": terms}
            for i, (size, terms) in enumerate(zip(comment_sizes, top_terms, strict=True))
        ],
        "reaction_clusters": [
            {
                "cluster": i,
                "pretraining_posts": int(size),
                "centroid": dict(zip(buttons, np.round(centre, 4).tolist(), strict=True)),
            }
            for i, (size, centre) in enumerate(zip(reaction_sizes, reaction_kmeans.cluster_centers_, strict=True))
        ],
    }


def cluster_quality(
    report: dict[str, Any], vise_pseudo_labels: pd.DataFrame, ground_truth_posts: pd.DataFrame, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """NMI of the clusters with the world's planted emotions and concepts, on the held-out
    pretraining posts: per comment, per post (its majority comment cluster) and per reaction."""
    from sklearn.metrics import normalized_mutual_info_score

    labels = vise_pseudo_labels
    truth, omitted = truth_for(ground_truth_posts, labels["post_id"], params["source"])
    nmi: dict[str, float] = {}
    if truth is None:
        logger.info("No NMI with planted structure: %s", omitted)
    else:
        truth = truth[["emotion", "concept"]]
        per_comment = labels.explode("comment_clusters").dropna(subset=["comment_clusters"]).join(truth, on="post_id")
        per_post = labels[labels["n_comments"] > 0].join(truth, on="post_id")
        majority = per_post["comment_clusters"].map(lambda c: int(np.bincount(np.asarray(c, dtype=np.int64)).argmax()))
        reacted = labels[labels["reaction_cluster"] >= 0].join(truth, on="post_id")
        for target in ("emotion", "concept"):
            nmi[f"nmi_comment_{target}"] = normalized_mutual_info_score(
                per_comment[target], per_comment["comment_clusters"].astype(int)
            )
            nmi[f"nmi_post_comment_{target}"] = normalized_mutual_info_score(per_post[target], majority)
            nmi[f"nmi_reaction_{target}"] = normalized_mutual_info_score(reacted[target], reacted["reaction_cluster"])
        logger.info("cluster NMI with the planted structure: %s", {k: round(v, 3) for k, v in nmi.items()})
    metrics = {name: {"value": float(value), "step": 0} for name, value in nmi.items()}
    metrics["comment_clusters"] = {"value": float(len(report["comment_clusters"])), "step": 0}
    metrics["reaction_clusters"] = {"value": float(len(report["reaction_clusters"])), "step": 0}
    extra = {"nmi_omitted": omitted} if truth is None else {}
    return {**report, "nmi_on_pretraining_posts": nmi, **extra}, metrics
