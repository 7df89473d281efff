"""The ``user_environment`` pipeline: labels and split → LDA on context captions → environments."""

from kedro.pipeline import Node, Pipeline

from .nodes import build_model_input, evaluate_topics, fit_topic_model, label_and_split, select_posts


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(select_posts, ["posts", "images", "image_embeddings", "params:user_environment"],
                 "user_environment_posts", name="select_posts"),
            Node(label_and_split, ["user_environment_posts", "params:user_environment"],
                 "user_environment_labelled", name="label_and_split"),
            Node(fit_topic_model, ["user_environment_labelled", "params:user_environment"],
                 ["user_environment_lda", "user_environment_lda_stats"], name="fit_topic_model"),
            Node(build_model_input, ["user_environment_labelled", "user_environment_lda", "params:user_environment"],
                 "user_environment_model_input", name="build_model_input"),
            Node(evaluate_topics, ["user_environment_model_input", "user_environment_lda",
                                   "user_environment_lda_stats", "ground_truth_posts", "params:user_environment"],
                 ["user_environment_report", "user_environment_topics", "user_environment_metrics"],
                 name="evaluate_topics"),
        ]
    )  # fmt: skip
