"""Nodes of the ``reporting`` pipeline: figures, the comparison report and the MLflow model registry.

Inputs whose pipeline has not run arrive as ``None`` (or, for a results contract, a "not run" stand-in):
``engagement_lab.hooks.ReportingInputsHook`` puts them there when ``reporting.on_missing`` is ``not_run``.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from engagement_lab.reporting import figures
from engagement_lab.reporting.report import build_html, build_markdown
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
    params: dict[str, Any], engagement_model_card: dict[str, Any] | None = None, **histories: Any
) -> go.Figure:
    """Training curves: VisE pretraining loss per task set, dual attention validation loss per model (first
    seed), the engagement torch models' validation metric per epoch."""
    curves = params["curves"]
    vise = {name.removesuffix("_history"): h for name, h in histories.items() if name.startswith("vise") and h}
    dual = {}
    for name, history in histories.items():
        if name.startswith("dual_attention_") and history:
            runs = history.get("runs") or {}
            if runs:  # {seed: {"history": [...], "best_epoch": ...}}
                first = runs[sorted(runs)[0]]
                dual[name.removeprefix("dual_attention_").removesuffix("_history")] = (
                    first.get("history", []) if isinstance(first, dict) else first
                )
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


def engagement_test_predictions(
    labelled: pd.DataFrame | None, model_card: dict[str, Any] | None, **models: Any
) -> pd.DataFrame:
    """Test-split predictions of the saved engagement models (CatBoost pickles, torch state dicts rebuilt from the
    model card): one row per test post with the true class and target and each model's prediction."""
    if labelled is None:
        return pd.DataFrame(columns=["post_id", "engagement_class", "target"])
    from engagement_lab.engagement.tabular import predict_classes
    from engagement_lab.engagement.train import predict

    test = labelled[labelled["split"] == "test"].reset_index(drop=True)
    out = test[["post_id", "engagement_class", "target"]].copy()
    arrays = _engagement_arrays(test)
    for name, saved in models.items():
        if saved is None:
            continue
        if name.startswith("catboost_"):
            out[name] = predict_classes(saved["model"], saved["features"].transform(test)).astype(int)
            continue
        model = _engagement_model(name, saved, model_card)
        if model is None:
            continue
        task = "regression" if name == "multimodal_regression" else "classification"
        out[name] = predict(model, arrays, _cpu(), task)
    return out


def _engagement_model(name: str, state: dict, card: dict[str, Any] | None):
    """An engagement torch model rebuilt from its state dict and its entry in the model card (None: no entry)."""
    from engagement_lab.engagement.models import FusionClassifier, ModelConfig, MultimodalRegressor

    entry = (card or {}).get(name)
    if entry is None:
        logger.warning("reporting: no model card entry for %s: skipped", name)
        return None
    config = ModelConfig(**entry["model"])
    model = MultimodalRegressor(config) if name == "multimodal_regression" else FusionClassifier(config)
    model.load_state_dict(state)
    return model


def _cpu():
    import torch

    return torch.device("cpu")


def _engagement_arrays(frame: pd.DataFrame):
    from engagement_lab.engagement.tabular import stack
    from engagement_lab.engagement.train import Arrays

    return Arrays(
        stack(frame["image_embedding"]),
        stack(frame["text_embedding"]),
        frame["has_image"].to_numpy(),
        frame["target"].to_numpy(),
    )


def confusion_plot(
    engagement_predictions: pd.DataFrame,
    model_card: dict[str, Any] | None,
    dual_attention_predictions: pd.DataFrame | None,
) -> go.Figure:
    """Confusion matrices on test: each engagement classifier (five classes) and the full dual-attention model
    (popular vs unpopular, first seed, threshold 0.5)."""
    panels = []
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


def predicted_vs_true_plot(engagement_predictions: pd.DataFrame) -> go.Figure:
    """Predicted vs true log popularity of the engagement multimodal regressor on test."""
    panels = []
    if "multimodal_regression" in engagement_predictions:
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
    markdown = build_markdown(contracts, params["published"], files, params["title"])
    page = build_html(contracts, params["published"], shown, params["title"])
    return markdown, page


# ------------------------------------------------------------------------------------------------- registry
def register_models(
    params: dict[str, Any],
    pretraining: dict[str, Any],
    labelled: pd.DataFrame | None,
    model_card: dict[str, Any] | None,
    dual_attention_history: dict[str, Any] | None = None,
    dual_attention_preprocessor: dict[str, Any] | None = None,
    user_environment_model_input: pd.DataFrame | None = None,
    ppcl_card: dict[str, Any] | None = None,
    ppcl_preprocessor: Any = None,
    ppcl_split_input: pd.DataFrame | None = None,
    **models: Any,
) -> dict[str, Any]:
    """Log every saved model to the active MLflow run with a signature and an input example, and register it
    as ``<pipeline>.<model>`` in the local model registry. Models whose pipeline has not run are skipped.

    Beside the weights, a dual-attention model needs its config (history), preprocessor and model input (for
    the example); a PPCL model its card, preprocessor and split input."""
    from engagement_lab.reporting.registry import active_run, log_catboost_model, log_torch_model

    section = params["registry"]
    if not section.get("enabled", True):
        logger.info("reporting: model registry disabled (reporting.registry.enabled)")
        return {"registered": [], "skipped": sorted(models)}
    rows = section["input_example_rows"]
    companions = {
        "dual_attention_history": dual_attention_history,
        "dual_attention_preprocessor": dual_attention_preprocessor,
        "user_environment_model_input": user_environment_model_input,
        "ppcl_card": ppcl_card,
        "ppcl_preprocessor": ppcl_preprocessor,
        "ppcl_split_input": ppcl_split_input,
    }
    registered, skipped = [], []
    with active_run():
        for key, saved in models.items():
            pipeline, name = key.split("__", 1)
            registered_name = f"{section['prefix']}{pipeline}.{name}"
            if saved is None or (pipeline == "engagement" and labelled is None):
                skipped.append(key)
            elif pipeline == "engagement" and name.startswith("catboost_"):
                example = saved["features"].transform(labelled[labelled["split"] == "test"].head(rows))
                registered.append(log_catboost_model(saved["model"], name, example, registered_name))
            elif pipeline == "pretraining":
                model, example = _vise_backbone(saved, pretraining, rows)
                registered.append(log_torch_model(model, f"{name}_backbone", example, registered_name))
            else:
                if pipeline == "engagement":
                    model, example = _engagement_torch(name, saved, model_card, labelled, rows)
                elif pipeline == "dual_attention":
                    model, example = _dual_attention_torch(saved, companions, rows)
                elif pipeline == "ppcl":
                    model, example = _ppcl_torch(saved, companions, rows)
                else:
                    raise ValueError(f"register_models does not know how to log {key!r}")
                if model is None:
                    skipped.append(key)
                    continue
                # torch.export cannot trace the caption LSTM's pack_padded_sequence: pickled instead.
                fmt = "pickle" if pipeline == "dual_attention" else "pt2"
                registered.append(log_torch_model(model, name, example, registered_name, fmt))
    logger.info("reporting: registered %d models, skipped (not run) %s", len(registered), skipped)
    return {"registered": registered, "skipped": skipped}


def _engagement_torch(name: str, state: dict, card: dict[str, Any] | None, labelled: pd.DataFrame, rows: int):
    from engagement_lab.reporting.registry import MatrixInput, side_by_side

    model = _engagement_model(name, state, card)
    if model is None:
        return None, None
    arrays = _engagement_arrays(labelled[labelled["split"] == "test"].head(rows))
    parts, example = side_by_side({"image": arrays.image, "text": arrays.text, "has_image": arrays.has_image})
    return MatrixInput(model, parts), example


def _missing_companions(companions: dict[str, Any], names: tuple[str, ...], model: str) -> bool:
    missing = [name for name in names if companions.get(name) is None]
    if missing:
        logger.warning("reporting: %s has weights but no %s: not registered", model, ", ".join(missing))
    return bool(missing)


def _dual_attention_torch(state: Any, companions: dict[str, Any], rows: int):
    """The dual-attention network as a model of one matrix [image | token ids | length | image env | topic env]
    (the preprocessed inputs, :func:`engagement_lab.dual_attention.inputs.encode_posts`) → popular probability."""
    from engagement_lab.dual_attention.inputs import encode_model_input
    from engagement_lab.predict.scoring import load_dual_attention
    from engagement_lab.reporting.registry import MatrixInput, side_by_side

    needed = ("dual_attention_history", "dual_attention_preprocessor", "user_environment_model_input")
    if _missing_companions(companions, needed, "dual_attention"):
        return None, None
    history, preprocessor, model_input = (companions[name] for name in needed)
    model = load_dual_attention(state, history["config"])
    # encode_posts' keys are the forward's keyword arguments, in the forward's order
    parts, example = side_by_side(
        encode_model_input(preprocessor, model_input[model_input["split"] == "test"].head(rows))
    )
    return MatrixInput(
        model, parts, integer=("tokens", "lengths"), call="keywords", output="logit", probability=True
    ), example


def _ppcl_torch(state: dict, companions: dict[str, Any], rows: int):
    """PPCL as a model of one matrix [image | text | dense user fields | categorical codes] (the outputs of its
    fitted ``Preprocessor.transform``) → predicted log2(views/day) + 1."""
    from engagement_lab.ppcl.model import load_model
    from engagement_lab.reporting.registry import MatrixInput, side_by_side

    needed = ("ppcl_card", "ppcl_preprocessor", "ppcl_split_input")
    if _missing_companions(companions, needed, "ppcl"):
        return None, None
    card, preprocessor, split_input = (companions[name] for name in needed)
    model = load_model(state, card)
    arrays = preprocessor.transform(split_input[split_input["split"] == "test"].head(rows))
    parts, example = side_by_side({k: arrays[k] for k in ("image", "text", "dense", "sparse")})
    return MatrixInput(model, parts, integer=("sparse",), call="batch", output="y"), example


def _vise_backbone(state: dict, pretraining: dict[str, Any], rows: int):
    import torch

    from engagement_lab.vise.models import build_backbone

    config = pretraining["config"]
    backbone, _ = build_backbone(config["backbone"])
    # The saved state dict is the backbone's (VisEModel.backbone), keys without a prefix.
    backbone.load_state_dict({k.removeprefix("backbone."): v for k, v in state.items()})
    size = int(config["image_size"])
    example = torch.rand(rows, 3, size, size, generator=torch.Generator().manual_seed(0)).numpy()
    return backbone, example
