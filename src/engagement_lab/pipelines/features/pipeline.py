"""The ``features`` pipeline: frozen image and text embeddings of the canonical tables."""

from kedro.pipeline import Node, Pipeline

from engagement_lab.core.registry import ALL_CORES_TAG
from engagement_lab.features.post_texts import build_post_texts

from .nodes import embed_images, embed_post_texts, feature_metrics


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(build_post_texts, "posts", "post_texts", name="build_post_texts"),
            Node(
                embed_images,
                ["images", "image_embedding_cache", "params:features"],
                ["image_embeddings", "image_feature_stats"],
                name="embed_images",
                tags=ALL_CORES_TAG,
            ),
            Node(
                embed_post_texts,
                ["post_texts", "text_embedding_cache", "params:features"],
                ["text_embeddings", "text_feature_stats"],
                name="embed_post_texts",
                tags=ALL_CORES_TAG,
            ),
            Node(
                feature_metrics,
                ["image_feature_stats", "text_feature_stats"],
                "feature_metrics",
                name="feature_metrics",
            ),
        ],
        namespace="features",
        prefix_datasets_with_namespace=False,
    )
