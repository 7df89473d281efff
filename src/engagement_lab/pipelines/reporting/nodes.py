"""Nodes of the ``reporting`` pipeline: figures, the comparison report and the MLflow model registry.

Inputs whose pipeline has not run arrive as ``None`` (or, for a results contract, a "not run" stand-in):
``engagement_lab.hooks.ReportingInputsHook`` puts them there when ``reporting.on_missing`` is ``not_run``.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from engagement_lab.reporting.tables import is_not_run, not_run

logger = logging.getLogger(__name__)

# The report's figures: caption → name in the catalog (reporting_<name>_plot) and under data/08_reporting/reporting/.
FIGURES = {
    "Headline metric per model, ours vs the paper": "comparison",
    "Popularity per concept, user and followers": "popularity",
    "Training curves": "training_curves",
    "Confusion matrices": "confusion",
    "Predicted vs true": "predicted_vs_true",
}


# -------------------------------------------------------------------------------------------------- figures
def popularity_plot(
    posts: pd.DataFrame | None,
    users: pd.DataFrame | None,
    ground_truth_posts: pd.DataFrame | None,
    params: dict[str, Any],
) -> go.Figure:
    """PPCL's Figure 1 on this run's posts: popularity per concept, per user and against followers."""
    from engagement_lab.reporting import figures

    title = "Popularity per concept, user and followers"
    if posts is None or users is None:
        return figures.placeholder(title, "no canonical posts/users: run ingestion")
    section = params["popularity"]
    return figures.popularity_figure(
        posts,
        users,
        ground_truth_posts,
        section["source"],
        params["seed"],
        section["n_concepts"],
        section["n_users"],
        section["min_posts"],
    )


def training_curves_plot(
    params: dict[str, Any],
    engagement_model_card: dict[str, Any] | None = None,
    dual_attention_model_index: dict[str, Any] | None = None,
    **pretraining_histories: Any,
) -> go.Figure:
    """Training curves: VisE pretraining loss per task set (``<variant>_history``), dual attention validation loss
    per model (first seed, from its model index), the engagement torch models' validation metric per epoch."""
    from engagement_lab.reporting import figures

    curves = params["curves"]
    vise = {name.removesuffix("_history"): h for name, h in pretraining_histories.items() if h}
    dual = {}
    for name, entry in (dual_attention_model_index or {}).items():
        runs = (entry.get("history") or {}).get("runs") or {}
        if runs:  # {seed: {"history": [...], "best_epoch": ...}}
            first = runs[sorted(runs)[0]]
            dual[name] = first.get("history", []) if isinstance(first, dict) else first
    engagement_cls, engagement_reg = {}, {}
    for model, card in (engagement_model_card or {}).items():
        if isinstance(card, dict) and card.get("history"):
            (engagement_reg if model == "multimodal_regression" else engagement_cls)[model] = card["history"]
    return figures.curves_figure(
        "Training curves",
        [
            ("VisE pretraining", curves["pretraining"], vise),
            ("dual attention (first seed)", curves["dual_attention"], dual),
            ("engagement classifiers", curves["engagement_classification"], engagement_cls),
            ("engagement regression", curves["engagement_regression"], engagement_reg),
        ],
    )


def confusion_plot(
    engagement_predictions: pd.DataFrame | None,
    model_card: dict[str, Any] | None,
    dual_attention_predictions: pd.DataFrame | None,
) -> go.Figure:
    """Confusion matrices on test: each engagement classifier (five classes) and the full dual-attention model
    (popular vs unpopular, first seed, threshold 0.5)."""
    from engagement_lab.reporting import figures

    panels = []
    if engagement_predictions is None:  # engagement has not run: no classifier panels
        engagement_predictions = pd.DataFrame()
    names = ((model_card or {}).get("target_spec") or {}).get("class_names")
    if names is None and len(engagement_predictions):
        names = [str(c) for c in range(int(engagement_predictions["engagement_class"].max()) + 1)]
    for column in engagement_predictions.columns:
        if column.startswith(("catboost_", "fusion_")):
            panels.append(
                (
                    f"engagement {column}",
                    engagement_predictions["engagement_class"].to_numpy(),
                    engagement_predictions[column].to_numpy(),
                    list(names),
                )
            )
    if dual_attention_predictions is not None and len(dual_attention_predictions):
        test = dual_attention_predictions[dual_attention_predictions["split"] == "test"]
        first = test[test["seed"] == test["seed"].min()]
        panels.append(
            (
                "dual attention full",
                first["label"].to_numpy(),
                (first["prob"] > 0.5).astype(int).to_numpy(),
                ["unpopular", "popular"],
            )
        )
    return figures.confusion_figure(panels, "Confusion matrices on test (row-normalised; counts in cells)")


def predicted_vs_true_plot(engagement_predictions: pd.DataFrame | None) -> go.Figure:
    """Predicted vs true log popularity of the engagement multimodal regressor on test."""
    from engagement_lab.reporting import figures

    panels = []
    if engagement_predictions is not None and "multimodal_regression" in engagement_predictions:
        panels.append(
            (
                "engagement multimodal_regression (log popularity)",
                engagement_predictions["target"].to_numpy(),
                engagement_predictions["multimodal_regression"].to_numpy(),
            )
        )
    return figures.predicted_vs_true_figure(panels, "Predicted vs true on test")


def comparison_plot(params: dict[str, Any], **contracts: Any) -> go.Figure:
    """Each pipeline's headline metric per model: ours beside the paper's."""
    from engagement_lab.reporting import figures

    return figures.comparison_figure(contracts, params["published"], params["headline_metrics"])


# --------------------------------------------------------------------------------------------------- report
def build_report(
    params: dict[str, Any],
    popularity: go.Figure,
    training_curves: go.Figure,
    confusion: go.Figure,
    predicted_vs_true: go.Figure,
    comparison: go.Figure,
    **contracts: Any,
) -> tuple[str, str]:
    """The comparison of every results contract (Markdown and self-contained HTML) with the papers' figures."""
    from engagement_lab.reporting.report import build_html, build_markdown

    contracts = {
        name: value if value is not None else not_run(name, None, "missing") for name, value in contracts.items()
    }
    by_name = {
        "comparison": comparison,
        "popularity": popularity,
        "training_curves": training_curves,
        "confusion": confusion,
        "predicted_vs_true": predicted_vs_true,
    }
    shown = {caption: by_name[name] for caption, name in FIGURES.items()}
    files = {
        caption: f"data/08_reporting/reporting/{name}.json/<version>/{name}.json" for caption, name in FIGURES.items()
    }
    ran = [name for name, contract in contracts.items() if not is_not_run(contract)]
    logger.info("reporting: %d results contracts (%s), %d not run", len(ran), ", ".join(ran), len(contracts) - len(ran))
    summaries = params.get("summary") or {}
    markdown = build_markdown(contracts, params["published"], files, params["title"], summaries)
    page = build_html(contracts, params["published"], shown, params["title"], summaries)
    return markdown, page


# ------------------------------------------------------------------------------------------------- registry
# Every pretrained VisE backbone, logged to the reporting run and registered (the ``registry`` settings). The
# engagement models are registered by the engagement pipeline itself, in the run that trained them.
def register_vise_backbones(registry: dict[str, Any], pretraining: dict[str, Any], **backbones: Any) -> dict[str, Any]:
    """Every pretrained VisE backbone (one per task set)."""
    from engagement_lab.reporting.registry import register_vise_backbones as register

    return register(backbones, pretraining["config"], registry)
