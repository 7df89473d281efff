"""The ``dual_attention`` pipeline: one training template, one namespace per model of Tables I–II.

Each model (``core.registry.DUAL_ATTENTION_MODELS``: ``visual``, ..., ``full``) is the same ``train`` node under its
own namespace (``dual_attention.full``, as in kedro-viz's demo project), reading
``params:dual_attention.models.<model>`` and writing ``dual_attention_<model>_model`` / ``_predictions`` /
``_history``. One node then scores them all on test (the results contract); three analysis nodes reproduce §IV-D–F;
``register_scorer`` logs the full model to the run as an MLflow model of raw posts (``predict.serving``) and
registers it as ``dual_attention.full``; each model's ``index`` node reads its weights and history back and
``index_dual_attention_models`` joins them into one model index, the pipeline's one model output (the report's
training curves; kedro viz keeps the per-model files inside the ``dual_attention`` box).
"""

from kedro.pipeline import Node, Pipeline

from engagement_lab.core.registry import DUAL_ATTENTION_MODELS, SCORING_DUAL_ATTENTION_MODEL, WORKER_TAG

from .nodes import (
    attention_samples,
    evaluate_models,
    export_preprocessor,
    image_clusters,
    index_entry,
    index_models,
    prepare_inputs,
    register_scorer,
    train_variant,
    word_statistics,
)


def model_pipeline(name: str) -> Pipeline:
    template = Pipeline(
        [
            Node(
                train_variant,
                ["inputs", "params:dual_attention", "params:variant"],
                ["model", "predictions", "history"],
                name="train",
                tags=WORKER_TAG,
            ),
            # Reads the saved files back inside the model's box: kedro viz draws only what leaves it outside.
            Node(index_entry, ["model", "history"], "index_entry", name="index"),
        ]
    )
    return Pipeline(
        template,
        namespace=name,
        inputs={"inputs": "dual_attention_inputs"},
        outputs={
            "model": f"dual_attention_{name}_model",
            "predictions": f"dual_attention_{name}_predictions",
            "history": f"dual_attention_{name}_history",
            "index_entry": f"dual_attention_{name}_index_entry",
        },
        parameters={
            "params:dual_attention": "params:dual_attention",
            "params:variant": f"params:dual_attention.models.{name}",
        },
    )


def create_pipeline(**kwargs) -> Pipeline:
    prepare = Pipeline(
        [
            Node(
                prepare_inputs,
                ["user_environment_model_input", "params:dual_attention"],
                "dual_attention_inputs",
                name="prepare_dual_attention_inputs",
            ),
            Node(
                export_preprocessor,
                "dual_attention_inputs",
                "dual_attention_preprocessor",
                name="export_dual_attention_preprocessor",
            ),
        ]
    )
    models = sum((model_pipeline(name) for name in DUAL_ATTENTION_MODELS), Pipeline([]))
    report = Pipeline(
        [
            Node(
                evaluate_models,
                [
                    "user_environment_model_input",
                    "ground_truth_posts",
                    "params:dual_attention",
                    "params:user_environment",
                    "ingestion_sources",
                    *(f"dual_attention_{m}_predictions" for m in DUAL_ATTENTION_MODELS),
                ],
                [
                    "dual_attention_metrics",
                    "dual_attention_mlflow_metrics",
                    "dual_attention_results_table",
                    "dual_attention_results_plot",
                ],
                name="evaluate_dual_attention",
            ),
            Node(
                index_models,
                {m: f"dual_attention_{m}_index_entry" for m in DUAL_ATTENTION_MODELS},
                "dual_attention_model_index",
                name="index_dual_attention_models",
            ),
            Node(
                image_clusters,
                ["user_environment_model_input", "params:dual_attention"],
                ["dual_attention_image_clusters", "dual_attention_image_clusters_plot"],
                name="image_clusters",
            ),
            Node(
                word_statistics,
                ["user_environment_model_input", "params:dual_attention"],
                ["dual_attention_word_statistics", "dual_attention_word_statistics_plot"],
                name="word_statistics",
            ),
            Node(
                attention_samples,
                ["dual_attention_full_predictions", "user_environment_model_input", "params:dual_attention"],
                ["dual_attention_attention_samples", "dual_attention_attention_plot"],
                name="attention_samples",
            ),
            Node(
                register_scorer,
                [
                    f"dual_attention_{SCORING_DUAL_ATTENTION_MODEL}_model",
                    f"dual_attention_{SCORING_DUAL_ATTENTION_MODEL}_history",
                    "dual_attention_preprocessor",
                    "user_environment_model_input",
                    "user_environment_lda",
                    "dual_attention_metrics",
                    "image_embeddings",
                    "params:dual_attention",
                    "params:user_environment",
                ],
                "dual_attention_registered_scorer",
                name="register_scorer",
            ),
        ]
    )
    return Pipeline(prepare + models + report, namespace="dual_attention", prefix_datasets_with_namespace=False)
