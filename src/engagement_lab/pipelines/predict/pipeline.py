"""The ``predict`` pipeline: new posts → checked rows → frozen-encoder features → one scorer per model →
one table (versioned, and the newest also at one stable path: ``predictions_latest``).

Each scorer is a small modular pipeline under its own namespace (``predict.dual_attention``,
``predict.engagement``, ``predict.ppcl``) that reads ``predict_features`` plus its model's catalog entries and writes
``predict_<name>_scores`` (one row per scored post, keyed by ``row``). ``merge_predictions`` joins every
table in :data:`SCORERS` onto the input rows, prefixing each scorer's columns with its name. A new model
is one more entry in :data:`SCORERS`: a function returning its scorer pipeline.
"""

from collections.abc import Callable

from kedro.pipeline import Node, Pipeline

from engagement_lab.core.registry import (
    ALL_CORES_TAG,
    SCORING_DUAL_ATTENTION_MODEL,
    SCORING_ENGAGEMENT_FEATURE_SET,
    SCORING_PPCL_MODEL,
)

from .nodes import (
    embed_new_posts,
    make_engagement_scorer,
    make_merge,
    read_new_posts,
    score_dual_attention_posts,
    score_ppcl_posts,
)

PARAMS = "params:predict"


def scorer(name: str, node: Node, inputs: dict[str, str], parameters: set[str]) -> Pipeline:
    """One model's scorer: ``node`` reads ``features`` (+ its model inputs) and writes ``scores``."""
    return Pipeline(
        [node],
        namespace=name,
        inputs={"features": "predict_features", **inputs},
        outputs={"scores": f"predict_{name}_scores"},
        parameters=parameters,
    )


def dual_attention_scorer() -> Pipeline:
    model = SCORING_DUAL_ATTENTION_MODEL
    return scorer(
        "dual_attention",
        Node(
            score_dual_attention_posts,
            [
                "features",
                "model",
                "preprocessor",
                "history",
                "user_environment_model_input",
                "user_environment_lda",
                PARAMS,
                "params:user_environment",
            ],
            "scores",
            name="score",
        ),
        {
            "model": f"dual_attention_{model}_model",
            "preprocessor": "dual_attention_preprocessor",
            "history": f"dual_attention_{model}_history",
            "user_environment_model_input": "user_environment_model_input",
            "user_environment_lda": "user_environment_lda",
        },
        {PARAMS, "params:user_environment"},
    )


def ppcl_scorer() -> Pipeline:
    return scorer(
        "ppcl",
        Node(score_ppcl_posts, ["features", "model", "card", "preprocessor", "users", PARAMS], "scores", name="score"),
        {
            "model": f"ppcl_{SCORING_PPCL_MODEL}_model",
            "card": "ppcl_model_card",
            "preprocessor": f"ppcl_{SCORING_PPCL_MODEL}_preprocessor",
            "users": "users",
        },
        {PARAMS},
    )


def engagement_scorer() -> Pipeline:
    return scorer(
        "engagement",
        Node(make_engagement_scorer(SCORING_ENGAGEMENT_FEATURE_SET), ["features", "model"], "scores", name="score"),
        {"model": f"engagement_catboost_{SCORING_ENGAGEMENT_FEATURE_SET}_model"},
        set(),
    )


# name → scorer pipeline; the name prefixes the scorer's columns in the predictions table.
SCORERS: dict[str, Callable[[], Pipeline]] = {
    "dual_attention": dual_attention_scorer,
    "engagement": engagement_scorer,
    "ppcl": ppcl_scorer,
}


def create_pipeline(**kwargs) -> Pipeline:
    names = list(SCORERS)
    prepare = Pipeline(
        [
            Node(
                read_new_posts,
                ["raw_new_posts", "new_posts_csv", PARAMS, "params:ingestion"],
                "predict_new_posts",
                name="read_new_posts",
            ),
            Node(
                embed_new_posts,
                ["predict_new_posts", "params:features"],
                "predict_features",
                name="embed_new_posts",
                tags=ALL_CORES_TAG,
            ),
        ]
    )
    scorers = sum((SCORERS[name]() for name in names), Pipeline([]))
    merge = Pipeline(
        [
            Node(
                make_merge(names),
                ["predict_new_posts", "posts", PARAMS, *(f"predict_{n}_scores" for n in names)],
                ["predictions", "predictions_csv", "predictions_latest", "predict_summary"],
                name="merge_predictions",
            ),
        ]
    )
    return Pipeline(prepare + scorers + merge, namespace="predict", prefix_datasets_with_namespace=False)
