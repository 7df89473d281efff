"""Nodes of the ``engagement`` pipeline ("First Impressions Matter", PixelRec): small functions that call
``engagement_lab.engagement``."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engagement_lab.core.inputs_check import input_check, missing_source, require_inputs
from engagement_lab.core.progress import heartbeat
from engagement_lab.core.registry import SCORING_ENGAGEMENT_FEATURE_SET
from engagement_lab.core.results import contract_metrics, results_contract
from engagement_lab.engagement.targets import (
    CLASS_NAMES,
    COUNT_COLUMNS,
    check_counts,
    counts_present,
    engagement_class,
    engagement_score,
    fit_targets,
    log_popularity,
    popularity_score,
)
from engagement_lab.ingestion.provenance import dataset_label
from engagement_lab.world.truth import truth_for

if TYPE_CHECKING:  # only the helpers' signatures; heavy imports wait for the node that runs
    from engagement_lab.engagement.train import Arrays, TrainConfig

logger = logging.getLogger(__name__)
PIPELINE = "engagement"


def min_posts(params: dict[str, Any]) -> int:
    """Posts with a target the method needs: a stratified split, and CatBoost's CV folds holding each class."""
    from engagement_lab.engagement.data import MIN_SPLIT_POSTS

    development = params["split"]["train"] + params["split"]["val"]
    return max(MIN_SPLIT_POSTS, math.ceil(len(CLASS_NAMES) * params["catboost"]["cv_folds"] / development))


def posts_with_image(images: pd.DataFrame, post_ids: pd.Series) -> int:
    """How many of these posts have a decodable image."""
    decodable = images.loc[images["decodable"].fillna(False).astype(bool), "post_id"]
    return int(post_ids.isin(decodable).sum())


def check_inputs(posts: pd.DataFrame, images: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """What First Impressions needs: ``params.source`` posts with view counts and at least one interaction
    count, and enough posts with every count the export has to split them. Images and single interaction
    counts may be missing (the method runs without them)."""
    from engagement_lab.engagement.data import with_count_columns

    name = params["source"]
    source = with_count_columns(posts[posts["source"] == name])
    if source.empty:
        lack = missing_source(
            posts,
            name,
            "First Impressions needs posts with view and interaction counts (a PixelRec export): "
            "add one, or set engagement.source",
        )
        return input_check(PIPELINE, [lack], posts=0)
    used = counts_present(source)
    lacks = [f"{name} posts: {problem}" for problem in check_counts(used)]
    complete = int(source[used].notna().all(axis=1).sum())
    if not lacks and complete < min_posts(params):
        lacks.append(
            f"only {complete} {name} posts have every count the export has ({', '.join(used)}); "
            f"the split and CatBoost's {params['catboost']['cv_folds']}-fold CV need {min_posts(params)}"
        )
    return input_check(
        PIPELINE,
        lacks,
        posts=len(source),
        posts_with_every_count=complete,
        posts_with_image=posts_with_image(images, source["post_id"]),
        counts_used=used,
        counts_missing=[c for c in COUNT_COLUMNS if c not in used],
    )


def build_engagement_input(
    posts: pd.DataFrame,
    images: pd.DataFrame,
    image_embeddings: pd.DataFrame,
    post_texts: pd.DataFrame,
    text_embeddings: pd.DataFrame,
    params: dict[str, Any],
    input_check: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per ``params.source`` post with a computable target, both embeddings and text statistics."""
    from engagement_lab.engagement.data import build_model_input

    if input_check is not None:
        require_inputs(input_check)
    return build_model_input(posts, images, image_embeddings, post_texts, text_embeddings, params["source"])


def label_posts(model_input: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Split (seeded, stratified), then fit the class thresholds and Eq. 1's weights on train only, from the
    counts the data has."""
    from engagement_lab.engagement.data import assign_split

    frame = model_input.copy()
    frame["split"] = assign_split(frame, params["split"], params["seed"])
    spec = fit_targets(frame[frame["split"] == "train"], counts_present(frame))
    logger.info(
        "engagement targets from %s (not in the data: %s); Eq. 1 weights on train: %s",
        spec.counts_used,
        spec.counts_missing or "none",
        {k: round(v, 4) for k, v in spec.weights.items()},
    )
    frame["engagement_score"] = engagement_score(frame, spec.counts_used).astype(float)
    frame["engagement_class"] = engagement_class(frame["engagement_score"], spec.thresholds)
    frame["popularity_score"] = popularity_score(frame, spec.weights).astype(float)
    frame["target"] = log_popularity(frame["popularity_score"])
    counts = frame.groupby(["split", "engagement_class"]).size().unstack(fill_value=0)
    logger.info("engagement classes per split (thresholds %s):\n%s", np.round(spec.thresholds, 5), counts)
    return frame, {"class_names": CLASS_NAMES, **spec.to_dict(), "split": params["split"], "seed": params["seed"]}


def _parts(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {name: frame[frame["split"] == name] for name in ("train", "val", "test")}


def train_catboost(
    labelled: pd.DataFrame, params: dict[str, Any], feature_set: str
) -> tuple[dict[str, Any], dict[str, float]]:
    """CatBoost multiclass on one feature set: early stopping on val, CV on train + val, then test."""
    from engagement_lab.core.metrics import classification_metrics
    from engagement_lab.engagement.tabular import cross_validate, feature_builder, fit_catboost, predict_classes

    cb, seed = params["catboost"], params["seed"]
    parts = _parts(labelled)
    builder = feature_builder(feature_set, cb).fit(parts["train"], seed)
    x = {name: builder.transform(part) for name, part in parts.items()}
    y = {name: part["engagement_class"].to_numpy() for name, part in parts.items()}
    with heartbeat(logger, f"engagement.catboost_{feature_set} fit ({len(y['train'])} train posts)"):
        model = fit_catboost(x["train"], y["train"], x["val"], y["val"], builder.cat_features, cb, seed)
    iterations = model.get_best_iteration() + 1
    scores = {
        **classification_metrics(y["val"], predict_classes(model, x["val"]), "val"),
        **classification_metrics(y["test"], predict_classes(model, x["test"]), "test"),
        "best_iteration": float(iterations),
        "n_features": float(x["train"].shape[1]),
    }
    development = pd.concat([parts["train"], parts["val"]])
    scores.update(
        cross_validate(development, development["engagement_class"].to_numpy(), feature_set, cb, iterations, seed)
    )
    logger.info("catboost %s: %s", feature_set, {k: round(v, 4) for k, v in scores.items()})
    return {"features": builder, "model": model, "feature_set": feature_set}, scores


def _arrays(part: pd.DataFrame, target: str) -> Arrays:
    from engagement_lab.engagement.tabular import stack
    from engagement_lab.engagement.train import Arrays

    return Arrays(
        stack(part["image_embedding"]),
        stack(part["text_embedding"]),
        part["has_image"].to_numpy(),
        part[target].to_numpy(),
    )


def _train_config(section: dict[str, Any], params: dict[str, Any], task: str) -> TrainConfig:
    from engagement_lab.engagement.train import TrainConfig

    return TrainConfig(
        task=task, device=params["device"], seed=params["seed"], threads=params["threads"], **section["train"]
    )


def train_fusion_classifier(labelled: pd.DataFrame, params: dict[str, Any], fusion: str) -> tuple[Any, dict, dict]:
    """The §4.1 classifier with one fusion strategy: best val macro-F1, then test."""
    from engagement_lab.engagement.models import FusionClassifier, ModelConfig
    from engagement_lab.engagement.train import evaluate, train

    section = params["fusion_classifier"]
    parts = {name: _arrays(part, "engagement_class") for name, part in _parts(labelled).items()}
    cfg = _train_config(section, params, "classification")
    model_cfg = ModelConfig(fusion=fusion, **section["model"])
    model, history = train(lambda: FusionClassifier(model_cfg), parts["train"], parts["val"], cfg)
    scores = {**history_best(history, "val_macro_f1"), **evaluate(model, parts["test"], _cpu(), cfg.task, "test")}
    logger.info("fusion %s: %s", fusion, {k: round(v, 4) for k, v in scores.items()})
    return model, scores, {"model": model_cfg.to_dict(), "train": cfg.to_dict(), "history": history}


def _cpu():
    import torch

    return torch.device("cpu")


def history_best(history: list[dict], key: str) -> dict[str, float]:
    best = max(history, key=lambda h: h[key])
    return {k: float(v) for k, v in best.items() if k.startswith("val_")} | {"best_epoch": float(best["epoch"])}


def train_regressor(labelled: pd.DataFrame, params: dict[str, Any]) -> tuple[Any, dict[str, float], dict]:
    """§4.3: the multimodal regressor of log popularity; keeps the epoch with the best validation R²."""
    from engagement_lab.engagement.models import ModelConfig, MultimodalRegressor
    from engagement_lab.engagement.train import evaluate, train

    section = params["regression"]
    parts = {name: _arrays(part, "target") for name, part in _parts(labelled).items()}
    cfg = _train_config(section, params, "regression")
    model_cfg = ModelConfig(**section["model"])
    model, history = train(lambda: MultimodalRegressor(model_cfg), parts["train"], parts["val"], cfg)
    scores = {**history_best(history, "val_r2"), **evaluate(model, parts["test"], _cpu(), cfg.task, "test")}
    logger.info("regression: %s", {k: round(v, 4) for k, v in scores.items()})
    return model, scores, {"model": model_cfg.to_dict(), "train": cfg.to_dict(), "history": history}


def baselines(labelled: pd.DataFrame, post_texts: pd.DataFrame, params: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Majority class and the train mean; and the words alone: TF-IDF + logistic regression (classes) and
    TF-IDF + ridge (the regression target) on each post's text, fitted on train, tuned on val; all on test."""
    from engagement_lab.core.metrics import classification_metrics, regression_metrics
    from engagement_lab.features.text_baselines import tfidf_logistic, tfidf_ridge

    parts = _parts(labelled.merge(post_texts[["post_id", "text"]], on="post_id", how="left").fillna({"text": ""}))
    majority = int(parts["train"]["engagement_class"].mode().iloc[0])
    y_test = parts["test"]["engagement_class"].to_numpy()
    mean = float(parts["train"]["target"].mean())
    texts = {split: part["text"].tolist() for split, part in parts.items()}
    logistic = tfidf_logistic(
        texts["train"],
        parts["train"]["engagement_class"].to_numpy(),
        texts["val"],
        parts["val"]["engagement_class"].to_numpy(),
        params["seed"],
    )
    ridge = tfidf_ridge(
        texts["train"], parts["train"]["target"].to_numpy(), texts["val"], parts["val"]["target"].to_numpy()
    )
    return {
        "majority_class": classification_metrics(y_test, np.full(len(y_test), majority)),
        "tfidf_logistic": classification_metrics(y_test, logistic.predict(texts["test"])),
        "mean_prediction": regression_metrics(parts["test"]["target"], np.full(len(parts["test"]), mean)),
        "tfidf_ridge": regression_metrics(parts["test"]["target"], ridge.predict(texts["test"])),
    }


def oracle_scores(
    labelled: pd.DataFrame, ground_truth_posts: pd.DataFrame | None, params: dict[str, Any]
) -> dict[str, Any]:
    """What is learnable: the world's noise-free ``oracle_score`` mapped to each target on train, scored on test.

    Returns ``{"scores": {...}, "omitted": ""}``, or no scores and why when these posts have no ground truth
    (a user's own data). Regression: a linear map oracle_score → log popularity. Classes: a logistic
    regression on the planted noise-free terms the engagement rate depends on (``engagement_term``: concept,
    emotion and posting hour; and emotion, which also sets the comment/share rate), and on the view oracle
    score alone (``score_only_*``: the views' own truth, which the rate, relative to views, does not follow)."""
    truth, omitted = truth_for(ground_truth_posts, labelled["post_id"], params["source"])
    if truth is None:
        logger.info("engagement: oracle omitted: %s", omitted)
        return {"scores": {}, "omitted": omitted}
    truth = truth[["oracle_score", "engagement_term", "emotion", "concept"]].rename_axis("post_id").reset_index()
    data = labelled[["post_id", "split", "engagement_class", "target"]].astype({"post_id": "string"})
    data = data.merge(truth.astype({"post_id": "string"}), on="post_id", how="inner")
    return {"scores": oracle_metrics(_parts(data)), "omitted": ""}


def oracle_metrics(parts: dict[str, pd.DataFrame]) -> dict[str, float]:
    """The oracle's test scores from per-split frames with target, engagement class, oracle score, engagement
    term, concept and emotion (see :func:`oracle_scores`)."""
    from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from engagement_lab.core.metrics import classification_metrics, regression_metrics

    score = {name: part[["oracle_score"]].to_numpy(dtype=float) for name, part in parts.items()}
    rate = {name: part[["engagement_term"]].to_numpy(dtype=float) for name, part in parts.items()}
    linear = LinearRegression().fit(score["train"], parts["train"]["target"])
    out = regression_metrics(parts["test"]["target"], linear.predict(score["test"]))
    # What content alone can explain: the planted concept and emotion (the image and text show both).
    content = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(parts["train"][["concept", "emotion"]])
    ridge = RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(
        content.transform(parts["train"][["concept", "emotion"]]), parts["train"]["target"]
    )
    pred = ridge.predict(content.transform(parts["test"][["concept", "emotion"]]))
    out.update(regression_metrics(parts["test"]["target"], pred, "content_only_test"))
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(parts["train"][["emotion"]])
    scalers = {"rate": StandardScaler().fit(rate["train"]), "score": StandardScaler().fit(score["train"])}

    def design(name: str, planted: str) -> np.ndarray:
        if planted == "score":
            return scalers["score"].transform(score[name])
        return np.hstack([scalers["rate"].transform(rate[name]), encoder.transform(parts[name][["emotion"]])])

    y = {name: part["engagement_class"].to_numpy() for name, part in parts.items()}
    for planted, prefix in (("rate", "test"), ("score", "score_only_test")):
        clf = LogisticRegression(max_iter=2000).fit(design("train", planted), y["train"])
        out.update(classification_metrics(y["test"], clf.predict(design("test", planted)), prefix))
    return out


def data_notes(
    input_stats: dict[str, int], labelled: pd.DataFrame, target_spec: dict[str, Any], params: dict[str, Any]
) -> list[str]:
    """The contract's notes on what the data had: dropped posts, counts used, images."""
    from engagement_lab.engagement.tabular import image_skip_reason

    used, missing = target_spec["counts_used"], target_spec["counts_missing"]
    notes = [
        f"Posts: canonical posts with source == {params['source']!r}; {input_stats['dropped_no_target']} of "
        f"{input_stats['posts']} dropped because a count the targets need is missing (never read as 0).",
        f"Counts used: {', '.join(used)}. "
        + (
            f"Not in the data (no post has them): {', '.join(missing)}: left out of the engagement score, Eq. 1 "
            "(weights fitted on the counts used) and catboost_paper's count features; no post dropped for them."
            if missing
            else "Every count of the paper is in the data."
        ),
        f"{input_stats['without_image']} of {input_stats['modelled']} modelled posts have no usable cover image: "
        "kept with a zero image vector and has_image = 0 (CatBoost feature; a learned 'no image' token in the "
        "torch models).",
    ]
    train = labelled[labelled["split"] == "train"]
    if skipped := image_skip_reason(int((train["has_image"] == 1).sum())):
        notes.append(f"CatBoost image embedding columns and image/text similarity left out: {skipped}.")
    return notes


def report(
    input_stats: dict[str, int],
    labelled: pd.DataFrame,
    target_spec: dict[str, Any],
    baseline_scores: dict[str, dict[str, float]],
    oracle: dict[str, Any],
    ingestion_sources: dict[str, Any] | None,
    params: dict[str, Any],
    **model_scores: dict[str, float],
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """The results contract (metrics.json) and the same numbers for MLflow; ``model_scores`` are the test
    scores of each trained model by name (``catboost_paper``, ..., ``multimodal_regression``)."""
    split_sizes = labelled["split"].value_counts().to_dict()
    split_sizes.update(
        {
            f"test_class_{k}": int(v)
            for k, v in labelled.loc[labelled["split"] == "test", "engagement_class"].value_counts().items()
        }
    )
    split_sizes.update({k: v for k, v in input_stats.items()})
    regression = dict(model_scores["multimodal_regression"])
    scores = oracle["scores"]
    if scores.get("test_r2"):
        regression["test_r2_fraction_of_oracle"] = regression["test_r2"] / scores["test_r2"]
    models = {**model_scores, "multimodal_regression": regression, **baseline_scores}
    catboost_paper, catboost_pre_publication = model_scores["catboost_paper"], model_scores["catboost_pre_publication"]
    leak = {
        metric: catboost_paper[metric] - catboost_pre_publication[metric]
        for metric in ("test_accuracy", "test_macro_f1", "test_weighted_f1", "cv_accuracy_mean", "cv_macro_f1_mean")
    }
    notes = [
        *data_notes(input_stats, labelled, target_spec, params),
        f"Split: random, stratified by engagement-score quintile, seed {params['seed']}, fractions {params['split']}; "
        "class thresholds and Eq. 1 Pearson weights fitted on train only. CatBoost early-stops on val; its CV "
        f"({params['catboost']['cv_folds']} folds) runs on train+val with the early-stopped tree count.",
        "catboost_paper adds the raw counts, their logs and ratios (as in the paper): these leak the label; "
        "catboost_pre_publication has no counts. 'leak' is paper minus pre-publication.",
        "Encoders are frozen (EfficientNet-lite0 1280-d, MiniLM 384-d); the paper fine-tunes ViT/BERT and "
        "SigLIP/DeBERTa. Only projections, attention, fusion and heads are trained.",
        "Regression target: log(1 + Eq. 1 popularity score). "
        + (
            f"Oracle omitted: {oracle['omitted']}."
            if oracle["omitted"]
            else "Oracle (ground truth, fitted on train, scored on test): test_r2/mae/src = linear map of the "
            "noise-free oracle_score; content_only_* = ridge regression on the planted concept and emotion (what "
            "the image and text can show: PixelRec has no uploader, so the follower and user terms are "
            "invisible); classes: logistic regression on the planted engagement_term (concept, emotion and posting "
            "hour: what the content does to the rate) + emotion (which also sets the comment/share rate), "
            "score_only_* on oracle_score alone (the views' truth)."
        ),
    ]
    omitted = {"oracle_omitted": oracle["omitted"]} if oracle["omitted"] else {}
    results = results_contract(
        PIPELINE,
        dataset=dataset_label(ingestion_sources, params["source"]),
        split_sizes=split_sizes,
        seed=params["seed"],
        models=models,
        oracle=scores,
        leak=leak,
        target_spec=target_spec,
        counts_used=target_spec["counts_used"],
        counts_missing=target_spec["counts_missing"],
        notes=notes,
        **omitted,
    )
    logger.info("engagement leak (paper − pre-publication): %s", {k: round(v, 4) for k, v in leak.items()})
    return results, contract_metrics(results)


def model_card(
    target_spec: dict[str, Any], fusion_concat: dict, fusion_cross_attention: dict, fusion_gated: dict, regression: dict
) -> dict[str, Any]:
    """What the predict pipeline needs to rebuild the torch models and read their outputs."""
    return {
        "target_spec": target_spec,
        "fusion_concat": fusion_concat,
        "fusion_cross_attention": fusion_cross_attention,
        "fusion_gated": fusion_gated,
        "multimodal_regression": regression,
    }


def register_scorer(
    bundle: dict[str, Any],
    scores: dict[str, float],
    target_spec: dict[str, Any],
    ingestion_sources: dict[str, Any] | None,
    image_embeddings: pd.DataFrame,
    params: dict[str, Any],
) -> dict[str, Any]:
    """The CatBoost model that predict scores with (no engagement counts needed) as an MLflow model of raw posts,
    scored by predict's code (``predict.serving``): logged to this run (kedro-mlflow's run of the pipeline that
    trained it) and registered as ``engagement.catboost_pre_publication`` with its card, test figures and tags.

    The figures are the model's entry of the results contract, as ``report`` puts it there (its ``scores``, the
    dataset and seed): reading ``engagement_metrics`` itself would make the contract an intermediate dataset, which
    a runner may release from memory. ``image_embeddings`` says which encoder input size the features came from;
    ``engagement.serving.enabled: false`` makes it a no-op."""
    from engagement_lab.predict import serving

    contract = {
        "dataset": dataset_label(ingestion_sources, params["source"]),
        "seed": params["seed"],
        "models": {f"catboost_{SCORING_ENGAGEMENT_FEATURE_SET}": scores},
    }
    image_size = serving.encoder_image_size(image_embeddings)
    return serving.register_engagement(bundle, target_spec, contract, image_size, params["serving"])


def score_test_split(labelled: pd.DataFrame | None, model_card: dict[str, Any] | None, **models: Any) -> pd.DataFrame:
    """Test-split predictions of the saved engagement models: one row per test post with the true class and
    target and each model's prediction (the report's confusion matrices and predicted-vs-true plot)."""
    from engagement_lab.reporting import saved_models

    return saved_models.engagement_test_predictions(labelled, model_card, models)


def register_models(
    registry: dict[str, Any], labelled: pd.DataFrame | None, model_card: dict[str, Any] | None, **models: Any
) -> dict[str, Any]:
    """Every engagement model but the one predict scores with (CatBoost per other feature set, fusion classifiers,
    the multimodal regressor), logged to this run (the one that trained them) and registered
    (the ``registry`` settings)."""
    from engagement_lab.reporting import registry as model_registry

    return model_registry.register_engagement_models(models, labelled, model_card, registry)
