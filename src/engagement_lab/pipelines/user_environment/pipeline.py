"""The ``user_environment`` pipeline: labels and split → LDA on context captions → environments."""

from kedro.pipeline import Node, Pipeline

from engagement_lab.core.inputs_check import INPUT_CHECK_TAG

from .nodes import build_model_input, check_inputs, evaluate_topics, fit_topic_model, label_and_split, select_posts


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                check_inputs,
                ["posts", "images", "image_embeddings", "params:user_environment"],
                "user_environment_input_check",
                name="check_user_environment_inputs",
                tags=INPUT_CHECK_TAG,
            ),
            Node(
                select_posts,
                {
                    "posts": "posts",
                    "images": "images",
                    "image_embeddings": "image_embeddings",
                    "params": "params:user_environment",
                    "input_check": "user_environment_input_check",
                },
                "user_environment_posts",
                name="select_posts",
            ),
            Node(
                label_and_split,
                ["user_environment_posts", "params:user_environment"],
                "user_environment_labelled",
                name="label_and_split",
            ),
            Node(
                fit_topic_model,
                ["user_environment_labelled", "params:user_environment"],
                ["user_environment_lda", "user_environment_lda_stats"],
                name="fit_topic_model",
            ),
            Node(
                build_model_input,
                ["user_environment_labelled", "user_environment_lda", "params:user_environment"],
                "user_environment_model_input",
                name="build_model_input",
            ),
            Node(
                evaluate_topics,
                [
                    "user_environment_model_input",
                    "user_environment_lda",
                    "user_environment_lda_stats",
                    "ground_truth_posts",
                    "params:user_environment",
                ],
                ["user_environment_report", "user_environment_topics", "user_environment_metrics"],
                name="evaluate_topics",
            ),
        ],
        namespace="user_environment",
        prefix_datasets_with_namespace=False,
    )
