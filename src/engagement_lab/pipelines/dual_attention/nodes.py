"""Nodes of the ``dual_attention`` pipeline: inputs, one training template per model, evaluation
(Tables I–II and the results contract) and the analyses of §IV-D–F.

Everything fitted here (the word vocabulary, feature scalers, k-means) sees train posts only;
model selection uses validation loss; every number is reported on test."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engagement_lab.core.results import contract_metrics, results_contract
from engagement_lab.ingestion.provenance import dataset_label
from engagement_lab.world.truth import truth_for

if TYPE_CHECKING:  # only the helpers' signatures; heavy imports wait for the node that runs
    from engagement_lab.dual_attention.models import ModelConfig
    from engagement_lab.dual_attention.text import Vocabulary

logger = logging.getLogger(__name__)
METRICS = ("precision", "recall", "f_measure", "accuracy")


def _check_input(model_input: pd.DataFrame) -> None:
    needed = {"post_id", "user_id", "split", "label", "tokens", "image", "image_env", "topics", "topic_env"}
    missing = needed - set(model_input.columns)
    if missing:
        raise ValueError(f"dual_attention: model input lacks columns {sorted(missing)}; run user_environment first")
    for split in ("train", "val", "test"):
        if not (model_input["split"] == split).any():
            raise ValueError(f"dual_attention: no {split} posts in the model input")


def prepare_inputs(model_input: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """Vocabulary (train captions) and feature scalers (train posts), then tensors per split (the environment
    as ``params.environment_input`` says), and the word vectors that start the word embedding (train and
    unlabelled captions)."""
    import torch

    from engagement_lab.dual_attention.inputs import INPUTS, encode_posts, fit_preprocessor, stack
    from engagement_lab.dual_attention.train import Arrays

    _check_input(model_input)
    labelled = model_input[model_input["split"].isin(["train", "val", "test"])].reset_index(drop=True)
    train = (labelled["split"] == "train").to_numpy()
    tokens = [list(t) for t in labelled["tokens"]]
    features = [stack(labelled[c]) for c in ("image", "image_env", "topics", "topic_env")]
    preprocessor = fit_preprocessor(
        [t for t, is_train in zip(tokens, train, strict=True) if is_train], *(f[train] for f in features), params
    )
    encoded = encode_posts(preprocessor, tokens, *features)
    y = labelled["label"].astype("float32").to_numpy()
    arrays = {}
    for split in ("train", "val", "test"):
        rows = (labelled["split"] == split).to_numpy()
        arrays[split] = Arrays(
            *(torch.from_numpy(np.ascontiguousarray(a[rows])) for a in (*(encoded[k] for k in INPUTS), y))
        )
    vocab = preprocessor["vocab"]
    logger.info(
        "dual_attention inputs: vocabulary %d (train captions), %s; environment input %r (%d + %d columns)",
        len(vocab),
        {s: len(a) for s, a in arrays.items()},
        preprocessor["environment_input"],
        arrays["train"].image_env.shape[1],
        arrays["train"].topic_env.shape[1],
    )
    word_vectors = _word_vectors(model_input, vocab, params)
    return {
        "arrays": arrays,
        "vocab": vocab,
        "frame": labelled[["post_id", "user_id", "split", "label"]],
        "tokens": tokens,
        "preprocessor": preprocessor,
        "word_vectors": word_vectors,
    }


def _word_vectors(model_input: pd.DataFrame, vocab: Vocabulary, params: dict[str, Any]) -> np.ndarray | None:
    """word2vec on the captions of train and unlabelled posts (never val or test) to start the word
    embedding (``params.word_vectors.method: word2vec``), or None for a N(0, 1) start (``random``)."""
    from engagement_lab.dual_attention.text import fit_word_vectors

    options = params.get("word_vectors") or {"method": "random"}
    if options["method"] == "random":
        return None
    if options["method"] != "word2vec":
        raise ValueError(
            f"dual_attention.word_vectors.method must be 'word2vec' or 'random', not {options['method']!r}"
        )
    never_scored = model_input["split"].isin(["train", "unlabelled"])
    return fit_word_vectors(
        [list(t) for t in model_input.loc[never_scored, "tokens"]],
        vocab,
        params["model"]["embed_dim"],
        options["window"],
        options["epochs"],
        options["seed"],
    )


def export_preprocessor(inputs: dict[str, Any]) -> dict[str, Any]:
    """What scoring a new post needs besides the weights: the train vocabulary and the train feature
    scalers / image PCA (the ``predict`` pipeline applies them as training did)."""
    return inputs["preprocessor"]


def _model_config(variant: dict[str, Any], params: dict[str, Any], inputs: dict[str, Any]) -> ModelConfig:
    from engagement_lab.dual_attention.models import ModelConfig

    arrays = inputs["arrays"]["train"]
    return ModelConfig(
        arch=variant["arch"],
        explicit_attention=variant.get("explicit_attention", False),
        environment=variant.get("environment", "none"),
        vocab_size=len(inputs["vocab"]),
        image_dim=arrays.image.shape[1],
        topic_dim=arrays.topic_env.shape[1],
        **params["model"],
    )


def train_variant(
    inputs: dict[str, Any], params: dict[str, Any], variant: dict[str, Any]
) -> tuple[Any, pd.DataFrame, dict]:
    """Train one model of Tables I–II for every seed; predict val and test.

    Returns the first seed's model, the predictions of every seed (test rows of explicit-attention
    models carry their word attention) and the training histories."""
    from engagement_lab.dual_attention.train import TrainConfig, predict, train_model

    config = _model_config(variant, params, inputs)
    seeds = variant.get("seeds", params["seeds"])
    frame = inputs["frame"]
    rows, histories, first = [], {}, None
    for seed in seeds:
        cfg = TrainConfig(seed=int(seed), device=params["device"], **params["train"])
        model, history = train_model(
            config, cfg, inputs["arrays"]["train"], inputs["arrays"]["val"], inputs.get("word_vectors")
        )
        histories[str(seed)] = history
        first = model if first is None else first
        for split in ("val", "test"):
            result = predict(model, inputs["arrays"][split], cfg)
            part = frame[frame["split"] == split][["post_id", "split", "label"]].reset_index(drop=True)
            part["seed"] = int(seed)
            part["prob"] = result["prob"]
            if result["attention"] is not None:
                part["attention"] = list(result["attention"].astype(np.float32))
            rows.append(part)
    predictions = pd.concat(rows, ignore_index=True)
    predictions["label"] = predictions["label"].astype("int64")
    return first, predictions, {"config": config.to_dict(), "seeds": [int(s) for s in seeds], "runs": histories}


def oracle_predictions(
    model_input: pd.DataFrame, ground_truth_posts: pd.DataFrame | None, source: str
) -> tuple[pd.DataFrame | None, str]:
    """What is learnable: the noise-free oracle_score against a per-user threshold at the median of the
    user's train posts (users without train posts: the median of their context posts). ``None`` and the
    reason when these posts have no ground truth (a user's own data)."""
    truth, omitted = truth_for(ground_truth_posts, model_input["post_id"], source)
    if truth is None:
        return None, omitted
    frame = model_input[["post_id", "user_id", "split", "label"]].copy()
    frame["oracle_score"] = frame["post_id"].map(truth["oracle_score"]).astype(float)
    train_median = frame[frame["split"] == "train"].groupby("user_id")["oracle_score"].median()
    context_median = frame[frame["split"].isin(["train", "unlabelled"])].groupby("user_id")["oracle_score"].median()
    threshold = frame["user_id"].map(train_median).fillna(frame["user_id"].map(context_median))
    frame["prob"] = (frame["oracle_score"] > threshold).astype(float)
    return frame[frame["split"] == "test"], ""


def evaluate_models(
    model_input: pd.DataFrame,
    ground_truth_posts: pd.DataFrame | None,
    params: dict[str, Any],
    user_params: dict[str, Any],
    ingestion_sources: dict[str, Any] | None,
    *predictions: pd.DataFrame,
) -> tuple[dict, dict, pd.DataFrame, go.Figure]:
    """Precision, recall, F-measure and accuracy on test per model (mean over seeds, std beside),
    the oracle, the results contract, its MLflow metrics, the table and a bar chart."""
    from engagement_lab.dual_attention.train import binary_metrics

    names = list(params["models"])
    if len(names) != len(predictions):
        raise ValueError(f"evaluate_models got {len(predictions)} prediction tables for models {names}")
    means, stds, rows = {}, {}, []
    for name, pred in zip(names, predictions, strict=True):
        test = pred[pred["split"] == "test"]
        per_seed = pd.DataFrame(
            [binary_metrics(g["label"], g["prob"] > 0.5) | {"seed": s} for s, g in test.groupby("seed")]
        )
        means[name] = {m: float(per_seed[m].mean()) for m in METRICS}
        stds[name] = {m: float(per_seed[m].std(ddof=1)) if len(per_seed) > 1 else 0.0 for m in METRICS}
        rows.append(
            {
                "model": name,
                "group": params["models"][name].get("group", ""),
                "seeds": len(per_seed),
                **{m: means[name][m] for m in METRICS},
                **{f"{m}_std": stds[name][m] for m in METRICS},
            }
        )
    oracle, omitted = oracle_predictions(model_input, ground_truth_posts, user_params["source"])
    oracle_metrics = {} if oracle is None else binary_metrics(oracle["label"].astype(int), oracle["prob"] > 0.5)
    if oracle is None:
        logger.info("dual_attention: oracle omitted: %s", omitted)
    else:
        rows.append({"model": "oracle", "group": "oracle", "seeds": 0, **oracle_metrics})
    table = pd.DataFrame(rows)
    sizes = {s: int((model_input["split"] == s).sum()) for s in ("train", "val", "test")}
    results = results_contract(
        "dual_attention",
        dataset=dataset_label(ingestion_sources, user_params["source"]),
        split_sizes=sizes,
        seed=[int(s) for s in params["seeds"]],
        models=means,
        oracle=oracle_metrics,
        stds=stds,
        split_seed=int(user_params["seed"]),
        users=int(model_input["user_id"].nunique()),
        notes="test metrics in percent, popular = positive class; mean over training seeds (std in 'stds'); "
        "oracle = noise-free oracle_score against a per-user median threshold fitted on train",
        **({"oracle_omitted": omitted} if oracle is None else {}),
    )
    logger.info("dual_attention test results:\n%s", table[["model", "seeds", *METRICS]].round(2).to_string())
    return results, contract_metrics(results), table, _results_figure(table)


def _results_figure(table: pd.DataFrame) -> go.Figure:
    from engagement_lab.reporting.figures import bar_axis_range

    fig = go.Figure()
    values, errors = [], []
    for metric in ("accuracy", "f_measure"):
        std = table.get(f"{metric}_std", pd.Series(0, index=table.index)).fillna(0)
        fig.add_bar(name=metric, x=table["model"], y=table[metric], error_y={"type": "data", "array": std})
        values += table[metric].tolist()
        errors += std.tolist()
    fig.update_layout(
        barmode="group",
        title="Popular vs unpopular per user: test accuracy and F-measure (%)",
        yaxis_title="%",
        yaxis_range=bar_axis_range(values, errors),  # every bar whole, however low
    )
    return fig


def image_clusters(model_input: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, go.Figure]:
    """§IV-E2: k-means of train image features with the paper's picking strategy; the unpopular ratio R
    per class on train and on test (nearest centroid), named by the class's most frequent caption words."""
    from engagement_lab.dual_attention.analysis import iterative_kmeans, nearest_cluster
    from engagement_lab.dual_attention.inputs import stack

    cfg = params["analysis"]
    labelled = model_input[model_input["split"].isin(["train", "test"])].reset_index(drop=True)
    train = (labelled["split"] == "train").to_numpy()
    image = stack(labelled["image"])
    mu, sd = image[train].mean(0), image[train].std(0) + 1e-6
    features = (image - mu) / sd
    unpopular = (labelled["label"].astype(int) == 0).to_numpy()
    assign_train, classes = iterative_kmeans(
        features[train],
        unpopular[train],
        cfg["n_clusters"],
        cfg["pick_threshold"],
        cfg["min_cluster_size"],
        cfg["seed"],
    )
    assign_test = nearest_cluster(features[~train], np.stack(classes["centroid"].to_numpy()))
    tokens = labelled["tokens"].to_numpy()
    names, r_test, n_test = [], [], []
    for cluster in classes["cluster"]:
        words = pd.Series(
            [t for doc in tokens[train][assign_train == cluster] for t in doc if t.isalpha() and len(t) > 3]
        )
        names.append(" ".join(words.value_counts().index[:3]))
        members = assign_test == cluster
        n_test.append(int(members.sum()))
        r_test.append(float(unpopular[~train][members].mean()) if members.any() else float("nan"))
    table = classes.drop(columns="centroid").rename(columns={"size": "train_images", "R": "R_train"})
    table["name"] = names
    table["test_images"] = n_test
    table["R_test"] = r_test
    fig = go.Figure()
    fig.add_bar(name="R (train)", x=table["name"], y=table["R_train"])
    fig.add_bar(name="R (test)", x=table["name"], y=table["R_test"])
    fig.add_hline(y=0.5, line_dash="dot")
    fig.update_layout(barmode="group", title="Unpopular ratio R per image cluster (Table III)", yaxis_title="R")
    return table, fig


def word_statistics(model_input: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, go.Figure]:
    """§IV-F: m_p − m_n per word/hashtag and emoji over the train captions, filtered and staged."""
    from engagement_lab.dual_attention.analysis import text_statistics

    cfg = params["analysis"]
    train = model_input[model_input["split"] == "train"]
    table = text_statistics(
        [list(t) for t in train["tokens"]], train["label"].astype(int).to_numpy(), min_count=cfg["min_text_count"]
    )
    n = cfg["words_per_plot"]
    words = table[table["kind"] == "word"]
    shown = pd.concat([words.head(n), words.tail(n)])
    emoji = table[table["kind"] == "emoji"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("(a) words", "(b) emoji"), column_widths=[0.75, 0.25])
    fig.add_bar(x=shown["text"], y=shown["m_p_minus_m_n"], name="words", row=1, col=1)
    fig.add_bar(x=emoji["text"], y=emoji["m_p_minus_m_n"], name="emoji", row=1, col=2)
    fig.update_layout(title="m_p − m_n on train captions (Figure 8)", showlegend=False)
    return table, fig


def attention_samples(
    full_predictions: pd.DataFrame, model_input: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, go.Figure]:
    """§IV-D: word-attention weights of the full model (first seed) on random positive and negative
    test posts."""
    cfg = params["analysis"]
    if "attention" not in full_predictions.columns:
        raise ValueError("attention_samples needs predictions of an explicit-attention model")
    pred = full_predictions[(full_predictions["split"] == "test")]
    pred = pred[pred["seed"] == pred["seed"].min()]
    tokens = model_input.set_index("post_id")["tokens"]
    rng = np.random.default_rng(cfg["seed"])
    rows = []
    for label in (1, 0):
        pool = pred[pred["label"] == label]
        take = pool.iloc[rng.permutation(len(pool))[: cfg["attention_samples_per_class"]]]
        for _, post in take.iterrows():
            words = list(tokens[post["post_id"]])[: params["max_caption_len"]]
            weights = np.asarray(post["attention"])[: len(words)]
            rows += [
                {
                    "post_id": post["post_id"],
                    "label": label,
                    "prob": float(post["prob"]),
                    "position": i,
                    "token": w,
                    "weight": float(a),
                }
                for i, (w, a) in enumerate(zip(words, weights, strict=True))
            ]
    table = pd.DataFrame(rows)
    per_class = cfg["attention_samples_per_class"]
    fig = make_subplots(rows=2, cols=per_class)
    for row, label in ((1, 1), (2, 0)):
        posts = list(dict.fromkeys(table.loc[table["label"] == label, "post_id"]))
        for col, post in enumerate(posts, start=1):
            part = table[table["post_id"] == post]
            fig.add_bar(
                x=[f"{p}:{t}" for p, t in zip(part["position"], part["token"], strict=True)],
                y=part["weight"],
                marker_color="crimson" if label else "royalblue",
                row=row,
                col=col,
            )
    fig.update_layout(
        title="Word attention a^q of the dual-attention model (red: popular, blue: unpopular)", showlegend=False
    )
    return table, fig


def register_scorer(
    model: Any,
    history: dict[str, Any],
    preprocessor: dict[str, Any],
    model_input: pd.DataFrame,
    topic_model: Any,
    metrics: dict[str, Any],
    image_embeddings: pd.DataFrame,
    params: dict[str, Any],
    user_params: dict[str, Any],
) -> dict[str, Any]:
    """The full model as an MLflow model of raw posts, scored by predict's code (``predict.serving``): logged to
    this run (kedro-mlflow's run of the pipeline that trained it) and registered as ``dual_attention.full`` with
    its config, test metrics and tags, the LDA and every user's history environment. ``image_embeddings`` says
    which encoder input size its features came from; ``dual_attention.serving.enabled: false`` makes it a no-op."""
    from engagement_lab.predict import serving

    return serving.register_dual_attention(
        model,
        history,
        preprocessor,
        model_input,
        user_params["environment_includes_unlabelled"],
        topic_model,
        metrics,
        serving.encoder_image_size(image_embeddings),
        params["serving"],
    )


def index_entry(model: Any, history: dict[str, Any]) -> dict[str, Any]:
    """One model's saved weights and history read back → its line of the model index (``core.model_index``):
    weights' size and fingerprint, config, seeds and per-seed history (the report's training curves)."""
    from engagement_lab.core.model_index import model_entry

    return model_entry(model, history=history)


def index_models(**entries: dict[str, Any]) -> dict[str, Any]:
    """Every model's index line (``<model>``, in ``core.registry.DUAL_ATTENTION_MODELS``' order) → the pipeline's
    model index."""
    return dict(entries)
