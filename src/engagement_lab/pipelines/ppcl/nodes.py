"""Nodes of the ``ppcl`` pipeline (PPCL, contrastive popularity regression): small functions that call
``engagement_lab.ppcl``.

Everything fitted (vocabularies, scalers, the UISD k-means, embedding standardisation, CatBoost's PCA)
sees train posts only; early stopping and model selection use validation; every number is on test."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engagement_lab.core.inputs_check import input_check, missing_source, require_inputs
from engagement_lab.core.progress import heartbeat
from engagement_lab.core.registry import PPCL_FEATURE_VIEWS
from engagement_lab.core.results import contract_metrics, results_contract
from engagement_lab.ingestion.provenance import dataset_label
from engagement_lab.world.truth import truth_for

if TYPE_CHECKING:  # only the helpers' signatures; heavy imports wait for the node that runs
    from engagement_lab.ppcl.data import Preprocessor
    from engagement_lab.ppcl.model import ModelConfig
    from engagement_lab.ppcl.train import Split

logger = logging.getLogger(__name__)
PIPELINE = "ppcl"
METRICS = ("mae", "mse", "src")
SPLITS = ("train", "val", "test")


def check_inputs(
    posts: pd.DataFrame, users: pd.DataFrame, images: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """What PPCL needs: ``params.source`` posts, enough of them with a target (Eq. 1) for the 8:1:1 split.
    Images, follower counts and other profile fields may be missing (the method runs without them)."""
    from engagement_lab.ppcl.data import MIN_SPLIT_POSTS, popularity_target

    name = params["source"]
    source = posts[posts["source"] == name].reset_index(drop=True)
    if source.empty:
        lack = missing_source(
            posts,
            name,
            "PPCL needs posts with a popularity label or view counts and post times (an SMPD "
            "export): add one, or set ppcl.source",
        )
        return input_check(PIPELINE, [lack], posts=0)
    _, reason = popularity_target(source)
    with_target = int(reason.isna().sum())
    lacks = []
    if with_target < MIN_SPLIT_POSTS:
        why = "; ".join(f"{why} x {n}" for why, n in reason.value_counts().items())
        lacks.append(
            f"only {with_target} of {len(source)} {name} posts have a target (log2(views/days)+1); the 8:1:1 split "
            f"needs {MIN_SPLIT_POSTS} ({why})"
        )
    decodable = images.loc[images["decodable"].fillna(False).astype(bool), "post_id"]
    followed = users.loc[users["followers"].notna(), "user_id"] if "followers" in users else pd.Series(dtype=object)
    return input_check(
        PIPELINE,
        lacks,
        posts=len(source),
        posts_with_target=with_target,
        posts_with_image=int(source["post_id"].isin(decodable).sum()),
        posts_with_followers=int(source["user_id"].isin(followed).sum()),
    )


def build_ppcl_input(
    posts: pd.DataFrame,
    users: pd.DataFrame,
    images: pd.DataFrame,
    image_embeddings: pd.DataFrame,
    post_texts: pd.DataFrame,
    text_embeddings: pd.DataFrame,
    params: dict[str, Any],
    input_check: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """One row per ``params.source`` post with a target (Eq. 1); posts without one are quarantined."""
    from engagement_lab.ppcl.data import build_model_input

    if input_check is not None:
        require_inputs(input_check)
    return build_model_input(posts, users, images, image_embeddings, post_texts, text_embeddings, params["source"])


def split_posts(model_input: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """The chronological 8:1:1 split by post time (§6.1.1)."""
    from engagement_lab.ppcl.data import chronological_split

    frame = model_input.copy()
    frame["split"] = chronological_split(frame, params["split"])
    sizes = frame["split"].value_counts().to_dict()
    logger.info(
        "ppcl split by post time: %s (train ends %s, test starts %s)",
        sizes,
        frame.loc[frame["split"] == "train", "posted_at"].max(),
        frame.loc[frame["split"] == "test", "posted_at"].min(),
    )
    return frame


def _fit_preprocessor(frame: pd.DataFrame, params: dict[str, Any]) -> Preprocessor:
    from engagement_lab.ppcl.data import Preprocessor

    prep = params["preprocessing"]
    return Preprocessor(
        n_clusters=prep["n_clusters"],
        influence_scale=prep["influence_scale"],
        standardize_embeddings=prep["standardize_embeddings"],
        seed=prep["seed"],
    ).fit(frame[frame["split"] == "train"])


def _fit_inputs(frame: pd.DataFrame, params: dict[str, Any]) -> tuple[Preprocessor, dict[str, Split]]:
    from engagement_lab.ppcl.train import Split

    preprocessor = _fit_preprocessor(frame, params)
    return preprocessor, {s: Split.from_arrays(preprocessor.transform(frame[frame["split"] == s])) for s in SPLITS}


def model_config(preprocessor: Preprocessor, data: Split, params: dict[str, Any]) -> ModelConfig:
    from engagement_lab.ppcl.model import ModelConfig

    return ModelConfig(
        image_dim=int(data.tensors["image"].shape[1]),
        text_dim=int(data.tensors["text"].shape[1]),
        n_dense=preprocessor.n_dense,
        cardinalities=preprocessor.cardinalities,
        **params["model"],
    )


def train_variant(
    split_input: pd.DataFrame, params: dict[str, Any], variant: dict[str, Any]
) -> tuple[Any, Any, pd.DataFrame, dict]:
    """One model of Tables 1–2 for every seed: fit the preprocessor on its train posts, train, predict
    val and test. Returns the first seed's model (on CPU; the catalog saves its state dict), the
    preprocessor, every seed's predictions and a model card (configs, per-seed histories)."""
    from engagement_lab.ppcl.data import train_subset
    from engagement_lab.ppcl.train import TrainConfig, predict, train

    variant = dict(variant)
    fraction = float(variant.pop("train_fraction", 1.0))
    variant.pop("group", None)
    frame = train_subset(split_input, fraction, params["preprocessing"]["subset_seed"]).reset_index(drop=True)
    preprocessor, data = _fit_inputs(frame, params)
    config = model_config(preprocessor, data["train"], params)
    rows, runs, first = [], {}, None
    for seed in params["seeds"]:
        cfg = TrainConfig(
            **{**params["train"], **variant}, seed=int(seed), device=params["device"], threads=params["threads"]
        )
        model, record = train(config, cfg, data["train"], data["val"])
        runs[str(seed)] = {k: record[k] for k in ("best_epoch", "epochs_run", "history", "sampler_fallbacks")}
        first = first or {"model": model, "train": cfg.to_dict()}
        for split in ("val", "test"):
            part = frame.loc[frame["split"] == split, ["post_id", "split", "target"]].reset_index(drop=True)
            part["seed"] = int(seed)
            part["prediction"] = predict(model, data[split]).astype(float)
            rows.append(part)
    card = {
        "model": config.to_dict(),
        "train": first["train"],
        "seeds": [int(s) for s in params["seeds"]],
        "train_fraction": fraction,
        "split_sizes": {s: len(data[s]) for s in SPLITS},
        "preprocessor": preprocessor.summary(),
        "runs": runs,
    }
    return first["model"].cpu(), preprocessor, pd.concat(rows, ignore_index=True), card


def train_catboost(split_input: pd.DataFrame, params: dict[str, Any]) -> tuple[dict, pd.DataFrame]:
    """CatBoost on the same features (user fields + embedding PCA), early stopping on val, every seed."""
    from engagement_lab.ppcl.tabular import TabularFeatures, fit_catboost

    cb = params["catboost"]
    preprocessor = _fit_preprocessor(split_input, params)
    parts = {s: split_input[split_input["split"] == s] for s in SPLITS}
    rows, first = [], None
    for seed in params["seeds"]:
        features = TabularFeatures(preprocessor, n_components=cb["embedding_pca"]).fit(parts["train"], int(seed))
        x = {s: features.transform(p) for s, p in parts.items()}
        with heartbeat(logger, f"ppcl.catboost seed {seed} fit ({len(parts['train'])} train posts)"):
            model = fit_catboost(
                x["train"],
                parts["train"]["target"].to_numpy(),
                x["val"],
                parts["val"]["target"].to_numpy(),
                cb,
                int(seed),
            )
        first = first or {"features": features, "model": model}
        for split in ("val", "test"):
            part = parts[split][["post_id", "split", "target"]].reset_index(drop=True)
            part["seed"] = int(seed)
            part["prediction"] = model.predict(x[split]).astype(float)
            rows.append(part)
    return first, pd.concat(rows, ignore_index=True)


def train_tfidf_ridge(split_input: pd.DataFrame, post_texts: pd.DataFrame) -> pd.DataFrame:
    """The words alone: TF-IDF + ridge on each post's text (title, caption, tags), fitted on train, its penalty
    chosen on validation; val and test predictions in the form every PPCL model's take."""
    from engagement_lab.features.text_baselines import tfidf_ridge

    frame = split_input[["post_id", "split", "target"]].merge(post_texts[["post_id", "text"]], on="post_id", how="left")
    frame["text"] = frame["text"].fillna("")
    train, val = frame[frame["split"] == "train"], frame[frame["split"] == "val"]
    model = tfidf_ridge(
        train["text"].tolist(), train["target"].to_numpy(), val["text"].tolist(), val["target"].to_numpy()
    )
    scored = frame[frame["split"].isin(["val", "test"])].reset_index(drop=True)
    scored["seed"] = 0
    scored["prediction"] = model.predict(scored["text"].tolist()).astype(float)
    return scored.drop(columns="text")


def oracle_scores(
    split_input: pd.DataFrame, ground_truth_posts: pd.DataFrame | None, params: dict[str, Any]
) -> tuple[dict[str, float], str]:
    """What is learnable: the noise-free ``oracle_score`` mapped linearly to the target on train, on test.
    Returns the scores and "", or no scores and why (these posts have no ground truth: a user's own data)."""
    from sklearn.linear_model import LinearRegression

    from engagement_lab.ppcl.train import regression_scores

    truth, omitted = truth_for(ground_truth_posts, split_input["post_id"], params["source"])
    if truth is None:
        logger.info("ppcl: oracle omitted: %s", omitted)
        return {}, omitted
    data = split_input[["post_id", "split", "target"]].astype({"post_id": "string"})
    data["oracle_score"] = truth["oracle_score"].reindex(pd.Index(data["post_id"])).to_numpy(dtype=float)
    train, test = data[data["split"] == "train"], data[data["split"] == "test"]
    linear = LinearRegression().fit(train[["oracle_score"]], train["target"])
    return regression_scores(test["target"], linear.predict(test[["oracle_score"]]), "test"), ""


def data_notes(split_input: pd.DataFrame, input_stats: dict[str, int], params: dict[str, Any]) -> list[str]:
    """The contract's notes on what the data had: quarantined posts, images, follower counts and UISD."""
    from engagement_lab.ppcl.data import influence_skip_reason

    train = split_input[split_input["split"] == "train"]
    notes = [
        f"Posts: canonical posts with source == {params['source']!r}; {input_stats['quarantined']} of "
        f"{input_stats['posts']} quarantined without a target (reasons in ppcl_quarantine); "
        f"{input_stats['without_image']} kept with a zero image vector (image missing or not decodable).",
        f"{input_stats['without_followers']} of {input_stats['modelled']} modelled posts have no follower count: "
        "imputed with the train median (0 when no train post has one), like every numerical profile field.",
    ]
    if skipped := influence_skip_reason(train):
        notes.append(f"UISD not learned: {skipped}.")
    if not int(train["has_image"].sum()):
        notes.append(
            "No train post has an image: the image input is 0 for every post and CatBoost has no image "
            "components; PPCL learns from text and the user fields."
        )
    return notes


def _summarise(pred: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    from engagement_lab.ppcl.train import regression_scores

    per_seed = pd.DataFrame(
        [
            {
                "seed": seed,
                **regression_scores(
                    g.loc[g["split"] == "val", "target"], g.loc[g["split"] == "val", "prediction"], "val"
                ),
                **regression_scores(
                    g.loc[g["split"] == "test", "target"], g.loc[g["split"] == "test", "prediction"], "test"
                ),
            }
            for seed, g in pred.groupby("seed")
        ]
    )
    out = {}
    for split in ("test", "val"):
        for m in METRICS:
            values = per_seed[f"{split}_{m}"]
            out[f"{split}_{m}"] = float(values.mean())
            out[f"{split}_{m}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    out["seeds"] = float(len(per_seed))
    return out, per_seed


def evaluate(
    split_input: pd.DataFrame,
    ground_truth_posts: pd.DataFrame | None,
    input_stats: dict[str, int],
    ingestion_sources: dict[str, Any] | None,
    params: dict[str, Any],
    catboost_predictions: pd.DataFrame,
    tfidf_ridge_predictions: pd.DataFrame,
    *predictions: pd.DataFrame,
) -> tuple[dict, dict, pd.DataFrame]:
    """Tables 1–2 and the data-efficiency rows: MAE, MSE, SRC on test (mean and std over seeds), the
    train-mean baseline and the oracle (when the posts have ground truth) → the results contract, its MLflow
    metrics and a table. Baselines: CatBoost on the same features, TF-IDF + ridge on the words alone, the train
    mean."""
    from engagement_lab.ppcl.train import regression_scores

    names = list(params["models"])
    if len(names) != len(predictions):
        raise ValueError(f"ppcl evaluate got {len(predictions)} prediction tables for models {names}")
    models, groups = {}, {}
    train = split_input[split_input["split"] == "train"]
    test = split_input[split_input["split"] == "test"]
    baselines = [("catboost", catboost_predictions), ("tfidf_ridge", tfidf_ridge_predictions)]
    for name, pred in [*zip(names, predictions, strict=True), *baselines]:
        summary, _ = _summarise(pred)
        variant = params["models"].get(name, {})
        fraction = float(variant.get("train_fraction", 1.0))
        summary["train_posts"] = float(round(fraction * len(train)) if fraction < 1 else len(train))
        models[name], groups[name] = summary, variant.get("group", "baseline")
    models["mean_prediction"] = regression_scores(test["target"], np.full(len(test), train["target"].mean()), "test")
    groups["mean_prediction"] = "baseline"
    oracle, omitted = oracle_scores(split_input, ground_truth_posts, params)
    rows = []
    for name, summary in models.items():
        if oracle.get("test_src"):
            summary["test_src_fraction_of_oracle"] = summary["test_src"] / oracle["test_src"]
        rows.append({"model": name, "group": groups[name], **summary})
    if oracle:
        rows.append({"model": "oracle", "group": "oracle", **oracle})
    table = pd.DataFrame(rows)
    sizes = {s: int((split_input["split"] == s).sum()) for s in SPLITS}
    for name, variant in params["models"].items():
        if variant.get("train_fraction", 1.0) < 1:
            sizes[f"train_{name}"] = int(models[name]["train_posts"])
    sizes.update({f"input_{k}": v for k, v in input_stats.items()})
    notes = [
        *data_notes(split_input, input_stats, params),
        "Target: log2(views/days)+1 (SMPD's label). Split: chronological 8:1:1 by posted_at (UTC). "
        "Vocabularies, min-max scalers of [D, D², √D], embedding standardisation and the UISD k-means "
        "(on log followers) are fitted on train posts only; early stopping and selection on validation.",
        f"Every model: mean over seeds {list(params['seeds'])}; '<metric>_std' is the std over seeds. "
        "<name>_100k / _200k: the same model on a seeded 1/3 and 2/3 of the train posts (SMPD-100K/200K "
        "scaled to this world; val and test unchanged).",
        f"Oracle omitted: {omitted}."
        if omitted
        else "Oracle: the world's noise-free oracle_score mapped linearly to the target on train, scored on test.",
        "Frozen encoders: EfficientNet-lite0 (1280-d) and MiniLM (384-d) instead of CLIP; geo_acc (a post-level "
        "SMPD field) is not in the canonical tables and is left out of Table A1's numerical fields.",
    ]
    results = results_contract(
        PIPELINE,
        dataset=dataset_label(ingestion_sources, params["source"]),
        split_sizes=sizes,
        seed=[int(s) for s in params["seeds"]],
        models=models,
        oracle=oracle,
        notes=notes,
        **({"oracle_omitted": omitted} if omitted else {}),
    )
    shown = [c for c in ("model", "test_mae", "test_mae_std", "test_mse", "test_src", "test_src_std") if c in table]
    logger.info("ppcl test results:\n%s", table[shown].round(4).to_string(index=False))
    return results, contract_metrics(results), table


def feature_view(split_input: pd.DataFrame, *models: Any) -> go.Figure:
    """§6.4 / Figure 3: a 2-D SVD of the popularity features f^pop on test, coloured by the target, for each
    (state dict, preprocessor, card) triple given: the models of ``core.registry.PPCL_FEATURE_VIEWS``."""
    import torch

    from engagement_lab.ppcl.model import load_model
    from engagement_lab.ppcl.train import Split, predict

    names = PPCL_FEATURE_VIEWS
    triples = [models[i : i + 3] for i in range(0, len(models), 3)]
    fig = make_subplots(rows=1, cols=len(triples), subplot_titles=names)
    test = split_input[split_input["split"] == "test"]
    for col, (name, (state, preprocessor, card)) in enumerate(zip(names, triples, strict=True), start=1):
        data = Split.from_arrays(preprocessor.transform(test))
        _, feats = predict(load_model(state, card), data, torch.device("cpu"), features=True)
        centred = feats - feats.mean(0)
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        xy = u[:, :2] * s[:2]
        fig.add_scatter(
            x=xy[:, 0],
            y=xy[:, 1],
            mode="markers",
            name=name,
            row=1,
            col=col,
            marker={
                "color": test["target"],
                "colorscale": "Viridis",
                "size": 5,
                "showscale": col == 1,
                "colorbar": {"title": "popularity"},
            },
        )
    fig.update_layout(
        title="SVD of the popularity features f^pop on test, coloured by popularity (Figure 3)", showlegend=False
    )
    return fig


def prediction_view(predictions: pd.DataFrame) -> tuple[pd.DataFrame, go.Figure]:
    """Predicted against true popularity on test for the full model (mean over seeds), as in Figure A2."""
    test = predictions[predictions["split"] == "test"]
    table = (
        test.groupby("post_id", sort=False)
        .agg(target=("target", "first"), prediction=("prediction", "mean"), prediction_std=("prediction", "std"))
        .reset_index()
    )
    fig = go.Figure()
    fig.add_scatter(x=table["prediction"], y=table["target"], mode="markers", marker={"size": 4}, name="posts")
    lo, hi = float(table[["prediction", "target"]].min().min()), float(table[["prediction", "target"]].max().max())
    fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dot"}, name="y = x")
    fig.update_layout(
        title="PPCL on test: predicted vs true popularity (mean over seeds)",
        xaxis_title="predicted",
        yaxis_title="log2(views/days)+1",
    )
    return table, fig


def model_card(card: dict, params: dict[str, Any]) -> dict:
    """What ``predict`` needs to score a new post with the full model: configs and catalog names."""
    return {
        **card,
        "pipeline": PIPELINE,
        "source": params["source"],
        "catalog": {"weights": "ppcl_full_model", "preprocessor": "ppcl_full_preprocessor", "card": "ppcl_model_card"},
        "inputs": "posts/users rows as in the canonical tables + image/text embeddings "
        "(engagement_lab.ppcl.data.build_model_input), then Preprocessor.transform",
    }


def register_scorer(
    model: Any,
    card: dict,
    preprocessor: Any,
    metrics: dict[str, Any],
    image_embeddings: pd.DataFrame,
    params: dict[str, Any],
) -> dict[str, Any]:
    """The full model as an MLflow model of raw posts, scored by predict's code (``predict.serving``): logged to
    this run (kedro-mlflow's run of the pipeline that trained it) and registered as ``ppcl.full`` with its card,
    test metrics and tags. ``image_embeddings`` says which encoder input size its features came from;
    ``ppcl.serving.enabled: false`` makes it a no-op."""
    from engagement_lab.predict import serving

    image_size = serving.encoder_image_size(image_embeddings)
    return serving.register_ppcl(model, card, preprocessor, metrics, image_size, params["serving"])


def index_entry(model: Any, preprocessor: Any, card: dict[str, Any]) -> dict[str, Any]:
    """One model's saved files read back (weights, preprocessor, card) → its line of the model index
    (``core.model_index``): weights' size and fingerprint, preprocessor type, card."""
    from engagement_lab.core.model_index import model_entry

    return model_entry(model, preprocessor=preprocessor, card=card)


def index_models(catboost_regressor: dict[str, Any] | None, **entries: dict[str, Any]) -> dict[str, Any]:
    """Every model's index line (``<model>``, in ``core.registry.PPCL_MODELS``' order) and the CatBoost baseline's
    types → the pipeline's model index."""
    from engagement_lab.core.model_index import artifact_type

    index = dict(entries)
    if catboost_regressor:
        index["catboost"] = {part: artifact_type(value) for part, value in catboost_regressor.items()}
    return index
