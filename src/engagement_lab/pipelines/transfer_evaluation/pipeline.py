"""The ``transfer_evaluation`` pipeline: every backbone on the emotion images, then Table 3."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from engagement_lab.inputs_check import INPUT_CHECK_TAG
from engagement_lab.pipelines.pretraining import VARIANTS

from .nodes import (
    check_inputs,
    evaluate_imagenet,
    evaluate_pretrained,
    evaluate_random_init,
    list_emotion_images,
    transfer_results,
)


def _named(variant: str):
    # Each VisE row evaluates the backbone of its own namespace under its own model name.
    return update_wrapper(partial(evaluate_pretrained, name=variant), evaluate_pretrained)


def create_pipeline(**kwargs) -> Pipeline:
    params, pretraining = "params:transfer_evaluation", "params:pretraining"
    nodes = [
        Node(
            check_inputs,
            "raw_emotion_subset",
            "transfer_evaluation_input_check",
            name="check_transfer_evaluation_inputs",
            tags=INPUT_CHECK_TAG,
        ),
        Node(
            list_emotion_images,
            {"raw_emotion_subset": "raw_emotion_subset", "input_check": "transfer_evaluation_input_check"},
            "emotion_images",
            name="list_emotion_images",
        ),
        Node(
            evaluate_random_init,
            ["emotion_images", pretraining, params],
            "random_init_transfer_scores",
            name="evaluate_random_init",
            namespace="random_init",
        ),
        Node(
            evaluate_imagenet,
            ["emotion_images", params],
            "imagenet_supervised_transfer_scores",
            name="evaluate_imagenet_supervised",
            namespace="imagenet_supervised",
        ),
        *[
            Node(
                _named(variant),
                ["emotion_images", f"{variant}.backbone", pretraining, params],
                f"{variant}_transfer_scores",
                name=f"evaluate_{variant}",
                namespace=variant,
            )
            for variant in VARIANTS
        ],
        Node(
            transfer_results,
            [
                "emotion_images",
                "ground_truth_emotion_subset",
                pretraining,
                params,
                "random_init_transfer_scores",
                "imagenet_supervised_transfer_scores",
                *[f"{v}_transfer_scores" for v in VARIANTS],
            ],
            ["vise_metrics", "vise_transfer_table", "vise_mlflow_metrics"],
            name="transfer_results",
        ),
    ]
    return Pipeline(nodes)
