"""The ``engagement`` pipeline ("First Impressions Matter", §3–§5) on the canonical PixelRec posts.

input check (tag ``input_check``: no posts of the source, no view or interaction counts, too few posts →
the pipeline is skipped with the reason) → model input → split + targets (fitted on train) → CatBoost per
feature set (``paper`` leaks the counts, ``pre_publication`` does not), the §4.1 fusion classifier per
fusion strategy, the §4.3 multimodal regressor, baselines and the oracle → the results contract. Each
CatBoost feature set and each fusion strategy is one template pipeline under its own namespace
(``engagement.catboost_paper``, ``engagement.fusion_gated``, ...; the lists are in ``core.registry``).
``register_scorer`` logs the model predict scores with (``catboost_pre_publication``) to the run as an MLflow model
of raw posts (``predict.serving``) and registers it.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from engagement_lab.core.inputs_check import INPUT_CHECK_TAG
from engagement_lab.core.registry import (
    ALL_CORES_TAG,
    ENGAGEMENT_FEATURE_SETS,
    ENGAGEMENT_FUSIONS,
    SCORING_ENGAGEMENT_FEATURE_SET,
    WORKER_TAG,
    engagement_models,
)

from .nodes import (
    baselines,
    build_engagement_input,
    check_inputs,
    label_posts,
    model_card,
    oracle_scores,
    register_models,
    register_scorer,
    report,
    score_test_split,
    train_catboost,
    train_fusion_classifier,
    train_regressor,
)

PARAMS = "params:engagement"


def catboost_pipeline(feature_set: str) -> Pipeline:
    trainer = update_wrapper(partial(train_catboost, feature_set=feature_set), train_catboost)
    template = Pipeline(
        [Node(trainer, ["labelled", PARAMS], ["model", "scores"], name="train_catboost", tags=ALL_CORES_TAG)]
    )
    name = f"catboost_{feature_set}"
    return Pipeline(
        template,
        namespace=name,
        inputs={"labelled": "engagement_labelled"},
        outputs={"model": f"engagement_{name}_model", "scores": f"engagement_{name}_scores"},
        parameters={PARAMS},
    )


def fusion_pipeline(fusion: str) -> Pipeline:
    template = Pipeline(
        [
            Node(
                update_wrapper(partial(train_fusion_classifier, fusion=fusion), train_fusion_classifier),
                ["labelled", PARAMS],
                ["model", "scores", "card"],
                name="train_fusion_classifier",
                tags=WORKER_TAG,
            ),
        ]
    )
    name = f"fusion_{fusion}"
    return Pipeline(
        template,
        namespace=name,
        inputs={"labelled": "engagement_labelled"},
        outputs={
            "model": f"engagement_{name}_model",
            "scores": f"engagement_{name}_scores",
            "card": f"engagement_{name}_card",
        },
        parameters={PARAMS},
    )


def prepare_pipeline() -> Pipeline:
    """The input check, the model input and its targets."""
    model_inputs = ["posts", "images", "image_embeddings", "post_texts", "text_embeddings"]
    return Pipeline(
        [
            Node(
                check_inputs,
                ["posts", "images", PARAMS],
                "engagement_input_check",
                name="check_engagement_inputs",
                tags=INPUT_CHECK_TAG,
            ),
            Node(
                build_engagement_input,
                {**{name: name for name in model_inputs}, "params": PARAMS, "input_check": "engagement_input_check"},
                ["engagement_model_input", "engagement_input_stats"],
                name="build_engagement_input",
            ),
            Node(
                label_posts,
                ["engagement_model_input", PARAMS],
                ["engagement_labelled", "engagement_target_spec"],
                name="label_posts",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    prepare = prepare_pipeline()
    models = sum((catboost_pipeline(f) for f in ENGAGEMENT_FEATURE_SETS), Pipeline([])) + sum(
        (fusion_pipeline(f) for f in ENGAGEMENT_FUSIONS), Pipeline([])
    )
    evaluate = Pipeline(
        [
            Node(
                train_regressor,
                ["engagement_labelled", PARAMS],
                ["engagement_regression_model", "engagement_regression_scores", "engagement_regression_card"],
                name="train_regressor",
                tags=WORKER_TAG,
            ),
            Node(
                baselines,
                ["engagement_labelled", "post_texts", PARAMS],
                "engagement_baseline_scores",
                name="baselines",
                tags=WORKER_TAG,
            ),
            Node(
                oracle_scores,
                ["engagement_labelled", "ground_truth_posts", PARAMS],
                "engagement_oracle_scores",
                name="oracle_scores",
            ),
            Node(
                report,
                {
                    "input_stats": "engagement_input_stats",
                    "labelled": "engagement_labelled",
                    "target_spec": "engagement_target_spec",
                    "baseline_scores": "engagement_baseline_scores",
                    "oracle": "engagement_oracle_scores",
                    "ingestion_sources": "ingestion_sources",
                    "params": PARAMS,
                    **{f"catboost_{f}": f"engagement_catboost_{f}_scores" for f in ENGAGEMENT_FEATURE_SETS},
                    **{f"fusion_{f}": f"engagement_fusion_{f}_scores" for f in ENGAGEMENT_FUSIONS},
                    "multimodal_regression": "engagement_regression_scores",
                },
                ["engagement_metrics", "engagement_mlflow_metrics"],
                name="report",
            ),
            Node(
                model_card,
                [
                    "engagement_target_spec",
                    *(f"engagement_fusion_{f}_card" for f in ENGAGEMENT_FUSIONS),
                    "engagement_regression_card",
                ],
                "engagement_model_card",
                name="model_card",
            ),
            Node(
                register_scorer,
                [
                    f"engagement_catboost_{SCORING_ENGAGEMENT_FEATURE_SET}_model",
                    f"engagement_catboost_{SCORING_ENGAGEMENT_FEATURE_SET}_scores",
                    "engagement_target_spec",
                    "ingestion_sources",
                    "image_embeddings",
                    PARAMS,
                ],
                "engagement_registered_scorer",
                name="register_scorer",
            ),
            Node(
                score_test_split,
                {"labelled": "engagement_labelled", "model_card": "engagement_model_card", **engagement_models()},
                "engagement_test_predictions",
                name="score_test_split",
            ),
            Node(
                register_models,
                {
                    "registry": "params:registry",
                    "labelled": "engagement_labelled",
                    "model_card": "engagement_model_card",
                    **{
                        name: entry
                        for name, entry in engagement_models().items()
                        if name != f"catboost_{SCORING_ENGAGEMENT_FEATURE_SET}"  # registered by register_scorer
                    },
                },
                "registered_engagement_models",
                name="register_models",
            ),
        ]
    )
    return Pipeline(prepare + models + evaluate, namespace="engagement", prefix_datasets_with_namespace=False)
