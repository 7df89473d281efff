"""The ``engagement_clustering`` pipeline (VisE §3.1–3.2)."""

from kedro.pipeline import Node, Pipeline

from engagement_lab.core.inputs_check import INPUT_CHECK_TAG

from .nodes import (
    assign_pseudo_labels,
    check_inputs,
    cluster_quality,
    cluster_report,
    fit_comment_clusters,
    fit_reaction_clusters,
    sample_comments,
    split_posts,
)


def create_pipeline(**kwargs) -> Pipeline:
    params = "params:engagement_clustering"
    return Pipeline(
        [
            Node(
                check_inputs,
                ["posts", "images", "comments", params],
                "engagement_clustering_input_check",
                name="check_engagement_clustering_inputs",
                tags=INPUT_CHECK_TAG,
            ),
            Node(
                split_posts,
                {
                    "posts": "posts",
                    "images": "images",
                    "params": params,
                    "input_check": "engagement_clustering_input_check",
                },
                "vise_posts",
                name="split_posts",
            ),
            Node(sample_comments, ["comments", "vise_posts", params], "vise_sampled_comments", name="sample_comments"),
            Node(
                fit_comment_clusters,
                ["vise_sampled_comments", params],
                ["comment_vectorizer", "comment_kmeans"],
                name="fit_comment_clusters",
            ),
            Node(fit_reaction_clusters, ["vise_posts", params], "reaction_kmeans", name="fit_reaction_clusters"),
            Node(
                assign_pseudo_labels,
                ["vise_posts", "vise_sampled_comments", "comment_vectorizer", "comment_kmeans", "reaction_kmeans"],
                "vise_pseudo_labels",
                name="assign_pseudo_labels",
            ),
            Node(
                cluster_report,
                [
                    "vise_posts",
                    "vise_sampled_comments",
                    "vise_pseudo_labels",
                    "comment_vectorizer",
                    "comment_kmeans",
                    "reaction_kmeans",
                    params,
                ],
                "vise_cluster_sizes",
                name="cluster_report",
            ),
            Node(
                cluster_quality,
                ["vise_cluster_sizes", "vise_pseudo_labels", "ground_truth_posts", params],
                ["vise_cluster_report", "engagement_clustering_metrics"],
                name="cluster_quality",
            ),
        ],
        namespace="engagement_clustering",
        prefix_datasets_with_namespace=False,
    )
