"""The ``pretraining`` pipeline: one namespace per task set (``pretraining.vise``, ...) over one training
template; the task sets are ``core.registry.PRETRAINING_VARIANTS``, their parameters
``pretraining.variants.<variant>``. ``supervised_concepts`` trains the same template on concept labels."""

from kedro.pipeline import Node, Pipeline

from engagement_lab.core.registry import ALL_CORES_TAG, PRETRAINING_VARIANTS

from .nodes import concept_labels, pretrain

# The images each variant trains on: engagement pseudo-labels, or the same images with concept labels.
LABELS = {"supervised_concepts": "vise_concept_labels"}


def variant_pipeline(variant: str) -> Pipeline:
    labels = LABELS.get(variant, "vise_pseudo_labels")
    template = Pipeline(
        [
            Node(
                pretrain,
                [labels, "vise_cluster_report", "params:pretraining", "params:variant"],
                ["backbone", "history"],
                name="pretrain",
                tags=ALL_CORES_TAG,
            )
        ]
    )
    return Pipeline(
        template,
        namespace=variant,
        inputs={labels, "vise_cluster_report"},
        outputs={name: f"pretraining_{variant}_{name}" for name in ("backbone", "history")},
        parameters={
            "params:pretraining": "params:pretraining",
            "params:variant": f"params:pretraining.variants.{variant}",
        },
    )


def create_pipeline(**kwargs) -> Pipeline:
    semantic = Pipeline(
        [
            Node(
                concept_labels,
                ["vise_pseudo_labels", "posts", "ground_truth_posts"],
                "vise_concept_labels",
                name="concept_labels",
            )
        ]
    )
    variants = sum((variant_pipeline(v) for v in PRETRAINING_VARIANTS), semantic)
    return Pipeline(variants, namespace="pretraining", prefix_datasets_with_namespace=False)
