"""What each pipeline runs, in one place: its variants (one namespace each), the results contracts the report
reads and the models that are registered and score new posts.

Pipelines build their namespaces from these lists, the report and the hooks read the contract names here, and
``conf/base/parameters_<pipeline>.yml`` holds each variant's hyper-parameters under the same keys (a test checks
that conf and this list agree). Adding a variant is one name here and one block of parameters there.
"""

from __future__ import annotations

# The raw folders the project reads (``raw_<folder>``): the four sources, the new posts that predict scores and
# the labelled images of VisE's transfer evaluation.
SOURCES = ("smpd", "pixelrec", "crowdtangle", "instaloader")
RAW_FOLDERS = (*SOURCES, "new_posts", "emotion_subset")

# VisE Table 3's task ablation: both tasks, comments only, reactions only; then the label-source control, the same
# backbone, images and schedule trained on semantic (concept) labels (params: pretraining.variants).
PRETRAINING_VARIANTS = ("vise", "vise_comments", "vise_reactions", "supervised_concepts")
# Transfer evaluation's rows beside the VisE backbones: the same network untrained, and a supervised ImageNet one.
TRANSFER_BASELINES = ("random_init", "imagenet_supervised")

# Instagram paper, Tables I and II: the baselines, then the ablations; ``full`` is the dual-attention model
# (params: dual_attention.models).
DUAL_ATTENTION_MODELS = (
    "visual",
    "textual",
    "early_fusion",
    "late_fusion",
    "ccr",
    "similarity",
    "e_attn",
    "env",
    "env_i_attn",
    "e_attn_env",
    "full",
)

# First Impressions: CatBoost per feature set (``paper`` uses the engagement counts, ``pre_publication`` does
# not) and the §4.1 fusion classifier per fusion strategy.
ENGAGEMENT_FEATURE_SETS = ("paper", "pre_publication")
ENGAGEMENT_FUSIONS = ("concat", "cross_attention", "gated")

# PPCL Tables 1–2 and the data-efficiency rows (params: ppcl.models); Figure 3 compares the features of two.
PPCL_MODELS = (
    "full",
    "no_cl",
    "crd",
    "uisd",
    "uid",
    "crd_uisd",
    "crd_uid",
    "uisd_uid",
    "random_sampling",
    "no_aug",
    "rnc",
    "full_100k",
    "no_cl_100k",
    "full_200k",
    "no_cl_200k",
)
PPCL_FEATURE_VIEWS = ("full", "no_cl")

# Report section → its results contract dataset (docs/design.md), in report order.
CONTRACTS = {
    "vise": "vise_metrics",
    "dual_attention": "dual_attention_metrics",
    "engagement": "engagement_metrics",
    "ppcl": "ppcl_metrics",
}
REPORTING_TAG = "reporting"
# How the runner shares the cores (``engagement_lab.runner``, parameter ``runner.workers``; decision 023). ``worker``:
# a pure function of its inputs on one thread (the small-model trainings) that may run in a worker process beside
# others. ``all_cores``: a node that uses every core well (the CNNs, CatBoost, the embeddings) and runs alone.
WORKER_TAG = "worker"
ALL_CORES_TAG = "all_cores"

# The models that score new posts (predict) and are registered beside every engagement model and VisE backbone.
SCORING_DUAL_ATTENTION_MODEL = "full"
SCORING_PPCL_MODEL = "full"
SCORING_ENGAGEMENT_FEATURE_SET = "pre_publication"  # needs no engagement counts: known before publication


def engagement_models() -> dict[str, str]:
    """Every trained engagement model by name → its catalog entry."""
    return {
        **{f"catboost_{f}": f"engagement_catboost_{f}_model" for f in ENGAGEMENT_FEATURE_SETS},
        **{f"fusion_{f}": f"engagement_fusion_{f}_model" for f in ENGAGEMENT_FUSIONS},
        "multimodal_regression": "engagement_regression_model",
    }
