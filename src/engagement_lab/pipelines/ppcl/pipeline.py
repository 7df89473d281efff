"""The ``ppcl`` pipeline: one training template, one namespace per model of Tables 1–2.

input check (tag ``input_check``: no posts of the source or too few with a target → the pipeline is skipped with the
reason) → canonical SMPD posts → model input (+ quarantine) → chronological 8:1:1 split → each model (``full``,
``no_cl``, single tasks, pairs, ``random_sampling``, ``no_aug``, ``rnc`` and the data-efficiency rows ``full_100k``
... ) is the same ``train`` node under its own namespace (``ppcl.full``, ...; the list is
``core.registry.PPCL_MODELS``), reading ``params:ppcl.models.<model>`` → CatBoost → evaluation (results contract),
the SVD view of f^pop (Figure 3) and predicted-vs-true for the full model; ``register_scorer`` logs the full model
to the run as an MLflow model of raw posts (``predict.serving``) and registers it as ``ppcl.full``; each model's
``index`` node reads its files back and ``index_ppcl_models`` joins them into one model index, the pipeline's one
model output (kedro viz keeps the per-model files inside the ``ppcl`` box).
"""

from kedro.pipeline import Node, Pipeline

from engagement_lab.core.inputs_check import INPUT_CHECK_TAG
from engagement_lab.core.registry import (
    ALL_CORES_TAG,
    PPCL_FEATURE_VIEWS,
    PPCL_MODELS,
    SCORING_PPCL_MODEL,
    WORKER_TAG,
)

from .nodes import (
    build_ppcl_input,
    check_inputs,
    evaluate,
    feature_view,
    index_entry,
    index_models,
    model_card,
    prediction_view,
    register_scorer,
    split_posts,
    train_catboost,
    train_tfidf_ridge,
    train_variant,
)


def model_pipeline(name: str) -> Pipeline:
    template = Pipeline(
        [
            Node(
                train_variant,
                ["split_input", "params:ppcl", "params:variant"],
                ["model", "preprocessor", "predictions", "card"],
                name="train",
                tags=WORKER_TAG,
            ),
            # Reads the saved files back inside the model's box: kedro viz draws only what leaves it outside.
            Node(index_entry, ["model", "preprocessor", "card"], "index_entry", name="index"),
        ]
    )
    return Pipeline(
        template,
        namespace=name,
        inputs={"split_input": "ppcl_split_input"},
        outputs={
            "model": f"ppcl_{name}_model",
            "preprocessor": f"ppcl_{name}_preprocessor",
            "predictions": f"ppcl_{name}_predictions",
            "card": f"ppcl_{name}_card",
            "index_entry": f"ppcl_{name}_index_entry",
        },
        parameters={"params:ppcl": "params:ppcl", "params:variant": f"params:ppcl.models.{name}"},
    )


def prepare_pipeline() -> Pipeline:
    """The input check, the model input (+ quarantine) and the chronological split."""
    model_inputs = ["posts", "users", "images", "image_embeddings", "post_texts", "text_embeddings"]
    return Pipeline(
        [
            Node(
                check_inputs,
                ["posts", "users", "images", "params:ppcl"],
                "ppcl_input_check",
                name="check_ppcl_inputs",
                tags=INPUT_CHECK_TAG,
            ),
            Node(
                build_ppcl_input,
                {**{name: name for name in model_inputs}, "params": "params:ppcl", "input_check": "ppcl_input_check"},
                ["ppcl_model_input", "ppcl_quarantine", "ppcl_input_stats"],
                name="build_ppcl_input",
            ),
            Node(split_posts, ["ppcl_model_input", "params:ppcl"], "ppcl_split_input", name="split_ppcl_posts"),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    prepare = prepare_pipeline()
    models = sum((model_pipeline(name) for name in PPCL_MODELS), Pipeline([]))
    report = Pipeline(
        [
            Node(
                train_catboost,
                ["ppcl_split_input", "params:ppcl"],
                ["ppcl_catboost_regressor", "ppcl_catboost_predictions"],
                name="train_ppcl_catboost",
                tags=ALL_CORES_TAG,
            ),
            Node(
                train_tfidf_ridge,
                ["ppcl_split_input", "post_texts"],
                "ppcl_tfidf_ridge_predictions",
                name="train_ppcl_tfidf_ridge",
            ),
            Node(
                evaluate,
                [
                    "ppcl_split_input",
                    "ground_truth_posts",
                    "ppcl_input_stats",
                    "ingestion_sources",
                    "params:ppcl",
                    "ppcl_catboost_predictions",
                    "ppcl_tfidf_ridge_predictions",
                    *(f"ppcl_{m}_predictions" for m in PPCL_MODELS),
                ],
                ["ppcl_metrics", "ppcl_mlflow_metrics", "ppcl_results_table"],
                name="evaluate_ppcl",
            ),
            Node(
                feature_view,
                [
                    "ppcl_split_input",
                    *(f"ppcl_{m}_{k}" for m in PPCL_FEATURE_VIEWS for k in ("model", "preprocessor", "card")),
                ],
                "ppcl_feature_plot",
                name="ppcl_feature_view",
            ),
            Node(
                prediction_view,
                "ppcl_full_predictions",
                ["ppcl_full_pred_vs_true", "ppcl_full_pred_vs_true_plot"],
                name="ppcl_prediction_view",
            ),
            Node(
                index_models,
                {"catboost_regressor": "ppcl_catboost_regressor", **{m: f"ppcl_{m}_index_entry" for m in PPCL_MODELS}},
                "ppcl_model_index",
                name="index_ppcl_models",
            ),
            Node(model_card, ["ppcl_full_card", "params:ppcl"], "ppcl_model_card", name="ppcl_model_card"),
            Node(
                register_scorer,
                [
                    f"ppcl_{SCORING_PPCL_MODEL}_model",
                    "ppcl_model_card",
                    f"ppcl_{SCORING_PPCL_MODEL}_preprocessor",
                    "ppcl_metrics",
                    "image_embeddings",
                    "params:ppcl",
                ],
                "ppcl_registered_scorer",
                name="register_scorer",
            ),
        ]
    )
    return Pipeline(prepare + models + report, namespace="ppcl", prefix_datasets_with_namespace=False)
