"""Pseudo-labels from clustered engagement: disjoint subsets, train-only fitting, planted emotions recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import MiniBatchKMeans

from engagement_lab.pipelines.engagement_clustering.nodes import (
    CLUSTER_GENERATION,
    PRETRAINING,
    REACTION_COLUMNS,
    _kmeans,
    assign_pseudo_labels,
    fit_comment_clusters,
    fit_reaction_clusters,
    sample_comments,
    split_posts,
)
from tests.conftest import base_params
from tests.pipelines.conftest import TINY_CLUSTERS as TINY


@pytest.fixture(scope="module")
def clustered(tiny_clustered):
    return tiny_clustered


def test_subsets_are_disjoint_and_every_usable_post_is_in_one(clustered):
    posts, images = clustered.load("posts"), clustered.load("images")
    vise_posts = clustered.load("vise_posts")
    source = posts[posts["source"] == "crowdtangle"]
    usable = images[images["decodable"].fillna(False) & images["post_id"].isin(source["post_id"])]["post_id"].nunique()
    assert len(vise_posts) == vise_posts["post_id"].nunique() == usable
    share = (vise_posts["subset"] == CLUSTER_GENERATION).mean()
    assert share == pytest.approx(0.3, abs=1 / len(vise_posts))
    labels = clustered.load("vise_pseudo_labels")
    assert set(labels["post_id"]) == set(vise_posts.loc[vise_posts["subset"] == PRETRAINING, "post_id"])
    report = clustered.load("vise_cluster_report")
    assert sum(report["posts"].values()) == len(vise_posts)


def test_each_pretraining_image_carries_its_sampled_comments_clusters(clustered):
    labels = clustered.load("vise_pseudo_labels")
    sampled = clustered.load("vise_sampled_comments")
    per_post = sampled[sampled["subset"] == PRETRAINING].groupby("post_id").size()
    n = labels.set_index("post_id")["n_comments"]
    assert (n.reindex(per_post.index) == per_post).all()
    assert (labels["comment_clusters"].map(len) == labels["n_comments"]).all()
    flat = np.concatenate([np.asarray(c) for c in labels["comment_clusters"] if len(c)])
    assert flat.min() >= 0 and flat.max() < TINY["comment_clusters"]
    assert labels["reaction_cluster"].between(-1, TINY["reaction_clusters"] - 1).all()
    report = clustered.load("vise_cluster_report")
    assert sum(c["pretraining_comments"] for c in report["comment_clusters"]) == len(flat)
    assert all(len(c["top_terms"]) == 8 for c in report["comment_clusters"])


def test_clusters_recover_the_planted_emotions_not_the_concepts(clustered):
    """Comments and reactions carry the post's emotion in the world; NMI on held-out posts."""
    nmi = clustered.load("vise_cluster_report")["nmi_on_pretraining_posts"]
    assert nmi["nmi_post_comment_emotion"] > 0.6, nmi  # 0.93 when written
    assert nmi["nmi_reaction_emotion"] > 0.5, nmi  # 0.81 when written
    assert nmi["nmi_post_comment_emotion"] > 2 * nmi["nmi_post_comment_concept"], nmi


def _comments(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["post_id", "text", "subset"])


def test_the_vocabulary_is_fitted_on_cluster_generation_comments_only():
    rows = [(f"p{i}", f"happy fun great {w}", CLUSTER_GENERATION) for i in range(20) for w in ("joy", "lol")]
    rows += [(f"q{i}", "zebraword zebraword sad", PRETRAINING) for i in range(20)]
    params = base_params("engagement_clustering", comment_clusters=2, embedding_dim=2)
    vectorizer, kmeans = fit_comment_clusters(_comments(rows), params)
    vocabulary = vectorizer[0].vocabulary_
    assert "zebraword" not in vocabulary and "sad" not in vocabulary and "happy" in vocabulary
    assert kmeans.n_clusters == 2


def test_at_most_the_maximum_comments_are_sampled_per_post_reproducibly():
    comments = pd.DataFrame({"post_id": ["a"] * 10 + ["b"] * 2, "text": [f"c{i}" for i in range(12)]})
    posts = pd.DataFrame({"post_id": ["a", "b"], "subset": [PRETRAINING, PRETRAINING]})
    params = base_params("engagement_clustering", max_comments_per_post=3)
    first = sample_comments(comments, posts, params)
    assert first.groupby("post_id").size().to_dict() == {"a": 3, "b": 2}
    assert first.equals(sample_comments(comments, posts, params))
    others = [set(sample_comments(comments, posts, {**params, "seed": s})["text"]) for s in range(5)]
    assert len({frozenset(o) for o in others}) > 1  # the seed decides which comments


def test_a_post_without_reactions_gets_no_reaction_label():
    posts = pd.DataFrame({"post_id": [f"p{i}" for i in range(8)], "image_path": "x.jpg", "subset": PRETRAINING})
    counts = np.eye(5, dtype=int)[np.arange(8) % 5] * 10
    for j, column in enumerate(REACTION_COLUMNS):
        posts[column] = pd.array(counts[:, j], dtype="Int64")
    posts.loc[0, REACTION_COLUMNS] = 0  # no reaction at all
    posts.loc[1, "reaction_love"] = pd.NA  # a missing count is not a zero
    generation = posts.assign(subset=CLUSTER_GENERATION)
    params = base_params("engagement_clustering", reaction_clusters=5)
    kmeans = fit_reaction_clusters(pd.concat([generation, posts], ignore_index=True), params)
    comments = _comments([("p2", "happy", PRETRAINING)])
    vectorizer, comment_kmeans = fit_comment_clusters(
        _comments([(f"g{i}", f"word{i % 3} happy", CLUSTER_GENERATION) for i in range(12)]),
        {**params, "comment_clusters": 2, "embedding_dim": 2, "min_df": 1},
    )
    labels = assign_pseudo_labels(posts, comments, vectorizer, comment_kmeans, kmeans)
    assert labels["reaction_cluster"].tolist()[:2] == [-1, -1]
    assert (labels["reaction_cluster"].iloc[2:] >= 0).all()
    assert labels["n_comments"].tolist() == [0, 0, 1, 0, 0, 0, 0, 0]


def test_errors_name_the_problem():
    posts = pd.DataFrame({"post_id": ["smpd:1"], "source": ["smpd"]})
    with pytest.raises(ValueError, match="no posts from source 'crowdtangle'.*smpd"):
        split_posts(posts, pd.DataFrame(columns=["post_id", "path", "decodable"]), base_params("engagement_clustering"))
    with pytest.raises(ValueError, match="Cannot make 24 clusters from 10 rows"):
        _kmeans(24, 10, base_params("engagement_clustering"))
    assert isinstance(_kmeans(4, 300_000, base_params("engagement_clustering")), MiniBatchKMeans)
