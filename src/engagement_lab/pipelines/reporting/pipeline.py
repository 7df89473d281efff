"""The ``reporting`` pipeline: every results contract → one comparison report (Markdown + self-contained HTML)
beside the papers' published figures; plotly figures for kedro viz and MLflow; saved models → MLflow registry.

Each contract is an explicit input (so kedro viz draws the lineage from every modelling pipeline to the
report). A contract whose pipeline has not run is reported as "not run" or stops the run with a clear error,
as ``reporting.on_missing`` says (see ``engagement_lab.hooks.ReportingInputsHook``).
"""

from kedro.pipeline import Node, Pipeline

from engagement_lab.pipelines.dual_attention.pipeline import MODELS as DUAL_ATTENTION_MODELS
from engagement_lab.pipelines.pretraining import VARIANTS as VISE_VARIANTS

from .nodes import (
    build_report,
    comparison_plot,
    confusion_plot,
    engagement_test_predictions,
    popularity_plot,
    predicted_vs_true_plot,
    register_models,
    training_curves_plot,
)

TAG = "reporting"

# Report section → its results contract dataset (docs/DESIGN.md), in report order. Adding a pipeline's contract to
# the report is one line here; its paper's figures go under reporting.published.<section> in the parameters.
CONTRACTS = {
    "vise": "vise_metrics",
    "dual_attention": "dual_attention_metrics",
    "engagement": "engagement_metrics",
    "ppcl": "ppcl_metrics",
}

ENGAGEMENT_MODELS = {
    "catboost_paper": "engagement_catboost_paper_model",
    "catboost_pre_publication": "engagement_catboost_pre_publication_model",
    "fusion_concat": "engagement_fusion_concat_model",
    "fusion_cross_attention": "engagement_fusion_cross_attention_model",
    "fusion_gated": "engagement_fusion_gated_model",
    "multimodal_regression": "engagement_regression_model",
}

PARAMS = "params:reporting"
# The papers' own models, registered beside every engagement model and VisE backbone (the ablations and
# baselines stay in the catalog: data/06_models/<pipeline>/).
REGISTERED_DUAL_ATTENTION = "full"
REGISTERED_PPCL = "full"


def create_pipeline(**kwargs) -> Pipeline:
    histories = {f"{v}_history": f"{v}.pretraining_history" for v in VISE_VARIANTS} | {
        f"dual_attention_{m}_history": f"dual_attention_{m}_history" for m in DUAL_ATTENTION_MODELS
    }
    registry_models = (
        {f"engagement__{name}": dataset for name, dataset in ENGAGEMENT_MODELS.items()}
        | {f"pretraining__{v}": f"{v}.backbone" for v in VISE_VARIANTS}
        | {
            f"dual_attention__{REGISTERED_DUAL_ATTENTION}": f"dual_attention_{REGISTERED_DUAL_ATTENTION}_model",
            f"ppcl__{REGISTERED_PPCL}": f"ppcl_{REGISTERED_PPCL}_model",
        }
    )
    companions = {  # what rebuilds those two beside their weights (configs, preprocessors, example rows)
        "dual_attention_history": f"dual_attention_{REGISTERED_DUAL_ATTENTION}_history",
        "dual_attention_preprocessor": "dual_attention_preprocessor",
        "user_environment_model_input": "user_environment_model_input",
        "ppcl_card": f"ppcl_{REGISTERED_PPCL}_card",
        "ppcl_preprocessor": f"ppcl_{REGISTERED_PPCL}_preprocessor",
        "ppcl_split_input": "ppcl_split_input",
    }
    nodes = [
        Node(
            popularity_plot,
            ["posts", "users", "ground_truth_posts", PARAMS],
            "reporting_popularity_plot",
            name="popularity_plot",
        ),
        Node(
            training_curves_plot,
            {"params": PARAMS, "engagement_model_card": "engagement_model_card", **histories},
            "reporting_training_curves_plot",
            name="training_curves_plot",
        ),
        Node(
            engagement_test_predictions,
            {"labelled": "engagement_labelled", "model_card": "engagement_model_card", **ENGAGEMENT_MODELS},
            "reporting_engagement_predictions",
            name="engagement_test_predictions",
        ),
        Node(
            confusion_plot,
            ["reporting_engagement_predictions", "engagement_model_card", "dual_attention_full_predictions"],
            "reporting_confusion_plot",
            name="confusion_plot",
        ),
        Node(
            predicted_vs_true_plot,
            "reporting_engagement_predictions",
            "reporting_predicted_vs_true_plot",
            name="predicted_vs_true_plot",
        ),
        Node(comparison_plot, {"params": PARAMS, **CONTRACTS}, "reporting_comparison_plot", name="comparison_plot"),
        Node(
            build_report,
            {
                "params": PARAMS,
                "popularity": "reporting_popularity_plot",
                "training_curves": "reporting_training_curves_plot",
                "confusion": "reporting_confusion_plot",
                "predicted_vs_true": "reporting_predicted_vs_true_plot",
                "comparison": "reporting_comparison_plot",
                **CONTRACTS,
            },
            ["report_md", "report_html"],
            name="build_report",
        ),
        Node(
            register_models,
            {
                "params": PARAMS,
                "pretraining": "params:pretraining",
                "labelled": "engagement_labelled",
                "model_card": "engagement_model_card",
                **companions,
                **registry_models,
            },
            "registered_models",
            name="register_models",
        ),
    ]
    return Pipeline(nodes, tags=[TAG])
