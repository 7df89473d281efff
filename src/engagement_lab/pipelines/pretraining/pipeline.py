"""The ``pretraining`` pipeline: one namespace per task set (``pretraining.vise``, ...) over one training
template; the task sets are ``core.registry.PRETRAINING_VARIANTS``, their parameters
``pretraining.variants.<variant>``."""

from kedro.pipeline import Node, Pipeline

from engagement_lab.core.registry import PRETRAINING_VARIANTS

from .nodes import pretrain


def variant_pipeline(variant: str) -> Pipeline:
    template = Pipeline(
        [
            Node(
                pretrain,
                ["vise_pseudo_labels", "vise_cluster_report", "params:pretraining", "params:variant"],
                ["backbone", "history", "metrics"],
                name="pretrain",
            )
        ]
    )
    return Pipeline(
        template,
        namespace=variant,
        inputs={"vise_pseudo_labels", "vise_cluster_report"},
        outputs={name: f"pretraining_{variant}_{name}" for name in ("backbone", "history", "metrics")},
        parameters={
            "params:pretraining": "params:pretraining",
            "params:variant": f"params:pretraining.variants.{variant}",
        },
    )


def create_pipeline(**kwargs) -> Pipeline:
    variants = sum((variant_pipeline(v) for v in PRETRAINING_VARIANTS), Pipeline([]))
    return Pipeline(variants, namespace="pretraining", prefix_datasets_with_namespace=False)
