"""The ``pretraining`` pipeline: one namespace per task set over one training template."""

from kedro.pipeline import Node, Pipeline

from .nodes import pretrain

VARIANTS = ("vise", "vise_comments", "vise_reactions")  # both tasks, comments only, reactions only


def create_pipeline(**kwargs) -> Pipeline:
    template = Pipeline(
        [
            Node(
                pretrain,
                ["vise_pseudo_labels", "vise_cluster_report", "params:pretraining", "params:variant"],
                ["backbone", "pretraining_history", "pretraining_metrics"],
                name="pretrain",
            )
        ]
    )
    return sum(
        Pipeline(
            template,
            namespace=variant,
            inputs={"vise_pseudo_labels", "vise_cluster_report"},
            parameters={
                "params:pretraining": "params:pretraining",
                "params:variant": f"params:pretraining.variants.{variant}",
            },
        )
        for variant in VARIANTS
    )
