"""The ``reporting`` pipeline: every results contract → one comparison report (Markdown + self-contained HTML)
beside the papers' published figures; plotly figures for kedro viz and MLflow; the VisE backbones → MLflow registry
(the engagement models are registered by the engagement pipeline, the scorers of raw posts by their own pipelines).

Each contract is an explicit input (so kedro viz draws the lineage from every modelling pipeline to the
report). A contract whose pipeline has not run is reported as "not run" or stops the run with a clear error,
as ``reporting.on_missing`` says (see ``engagement_lab.hooks.ReportingInputsHook``).
"""

from kedro.pipeline import Node, Pipeline

from engagement_lab.core.registry import (
    CONTRACTS,
    PRETRAINING_VARIANTS,
    REPORTING_TAG,
)

from .nodes import (
    build_report,
    comparison_plot,
    confusion_plot,
    popularity_plot,
    predicted_vs_true_plot,
    register_vise_backbones,
    training_curves_plot,
)

PARAMS = "params:reporting"


def create_pipeline(**kwargs) -> Pipeline:
    histories = {f"{v}_history": f"pretraining_{v}_history" for v in PRETRAINING_VARIANTS}
    nodes = [
        Node(
            popularity_plot,
            ["posts", "users", "ground_truth_posts", PARAMS],
            "reporting_popularity_plot",
            name="popularity_plot",
        ),
        Node(
            training_curves_plot,
            {
                "params": PARAMS,
                "engagement_model_card": "engagement_model_card",
                "dual_attention_model_index": "dual_attention_model_index",
                **histories,
            },
            "reporting_training_curves_plot",
            name="training_curves_plot",
        ),
        Node(
            confusion_plot,
            ["engagement_test_predictions", "engagement_model_card", "dual_attention_full_predictions"],
            "reporting_confusion_plot",
            name="confusion_plot",
        ),
        Node(
            predicted_vs_true_plot,
            "engagement_test_predictions",
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
            register_vise_backbones,
            {
                "registry": "params:registry",
                "pretraining": "params:pretraining",
                **{v: f"pretraining_{v}_backbone" for v in PRETRAINING_VARIANTS},
            },
            "registered_pretraining_models",
            name="register_vise_backbones",
        ),
    ]
    return Pipeline(nodes, tags=[REPORTING_TAG], namespace="reporting", prefix_datasets_with_namespace=False)
