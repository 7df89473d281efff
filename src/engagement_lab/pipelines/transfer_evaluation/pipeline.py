"""The ``transfer_evaluation`` pipeline: every backbone on the emotion images, then Table 3. Each row is one
namespace under ``transfer_evaluation`` (``transfer_evaluation.random_init``, ``transfer_evaluation.vise``, ...)."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from engagement_lab.core.inputs_check import INPUT_CHECK_TAG
from engagement_lab.core.registry import ALL_CORES_TAG, PRETRAINING_VARIANTS

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
            "transfer_evaluation_random_init_scores",
            name="evaluate_random_init",
            tags=ALL_CORES_TAG,
            namespace="random_init",
        ),
        Node(
            evaluate_imagenet,
            ["emotion_images", params],
            "transfer_evaluation_imagenet_supervised_scores",
            name="evaluate_imagenet_supervised",
            tags=ALL_CORES_TAG,
            namespace="imagenet_supervised",
        ),
        *[
            Node(
                _named(variant),
                [
                    "emotion_images",
                    f"pretraining_{variant}_backbone",
                    f"pretraining_{variant}_history",
                    pretraining,
                    params,
                ],
                f"transfer_evaluation_{variant}_scores",
                name=f"evaluate_{variant}",
                tags=ALL_CORES_TAG,
                namespace=variant,
            )
            for variant in PRETRAINING_VARIANTS
        ],
        Node(
            transfer_results,
            [
                "emotion_images",
                "ground_truth_emotion_subset",
                pretraining,
                params,
                "transfer_evaluation_random_init_scores",
                "transfer_evaluation_imagenet_supervised_scores",
                *[f"transfer_evaluation_{v}_scores" for v in PRETRAINING_VARIANTS],
            ],
            ["vise_metrics", "vise_transfer_table", "vise_mlflow_metrics"],
            name="transfer_results",
        ),
    ]
    return Pipeline(nodes, namespace="transfer_evaluation", prefix_datasets_with_namespace=False)
