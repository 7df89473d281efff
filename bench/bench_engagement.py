"""Benchmark: the engagement pipeline's training costs on demo-sized synthetic input.

Prints (1) one CatBoost fit (fixed tree count, no early stopping) on the pre-publication feature set with
the full 1280+384-d embeddings (the paper's way) against ``embedding_pca`` components per modality (the
CPU default), and (2) the multimodal regressor's and the concat fusion classifier's training throughput
(posts per second, one epoch) on the chosen device. Inputs are random: this measures speed, not quality.

    .venv/bin/python bench/bench_engagement.py [n_posts] [device] [iterations]
"""

from __future__ import annotations

import logging
import sys
import time

import numpy as np
import pandas as pd

from engagement_lab.core.training import pick_device
from engagement_lab.engagement.data import assign_split
from engagement_lab.engagement.models import FusionClassifier, ModelConfig, MultimodalRegressor
from engagement_lab.engagement.tabular import feature_builder, make_classifier
from engagement_lab.engagement.targets import engagement_class, engagement_score, fit_targets
from engagement_lab.engagement.train import Arrays, TrainConfig, train
from engagement_lab.features.encoders import IMAGE_DIM, TEXT_DIM

logging.disable(logging.INFO)


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    views = rng.integers(1, 50_000, n)
    frame = pd.DataFrame(
        {
            "post_id": [f"pixelrec:{i}" for i in range(n)],
            "views": views,
            "likes": rng.binomial(views, 0.05),
            "comments": rng.binomial(views, 0.004),
            "shares": rng.binomial(views, 0.002),
            "favorites": rng.binomial(views, 0.01),
            "has_image": (rng.random(n) > 0.01).astype(int),
        }
    )
    for k, vocab in enumerate([40, 60, 80]):
        frame[f"tag_{k + 1}"] = rng.integers(0, vocab, n).astype(str)
    for col in ["n_tags", "title_chars", "title_words", "caption_chars", "caption_words"]:
        frame[col] = rng.integers(0, 60, n)
    frame["image_embedding"] = list(rng.normal(size=(n, IMAGE_DIM)).astype(np.float32))
    frame["text_embedding"] = list(rng.normal(size=(n, TEXT_DIM)).astype(np.float32))
    frame["split"] = assign_split(frame, {"train": 0.7, "val": 0.1, "test": 0.2}, seed)
    spec = fit_targets(frame[frame["split"] == "train"])
    frame["engagement_class"] = engagement_class(engagement_score(frame), spec.thresholds)
    frame["target"] = rng.normal(size=n)
    return frame


def catboost_seconds(frame: pd.DataFrame, embedding_pca: int | None, iterations: int) -> tuple[float, int]:
    params = {
        "task_type": "auto",
        "thread_count": 2,
        "iterations": iterations,
        "learning_rate": 0.03,
        "depth": 6,
        "subsample": 0.8,
        "l2_leaf_reg": 3.0,
        "border_count": 32,
        "n_pca": 32,
        "n_cca": 8,
        "embedding_pca": embedding_pca,
    }
    train_part = frame[frame["split"] == "train"]
    builder = feature_builder("pre_publication", params).fit(train_part, 0)
    x = builder.transform(train_part)
    model = make_classifier(params, 0)
    start = time.perf_counter()
    model.fit(x, train_part["engagement_class"].to_numpy(), cat_features=builder.cat_features)
    return time.perf_counter() - start, x.shape[1]


def arrays(part: pd.DataFrame, target: str) -> Arrays:
    return Arrays(
        np.stack(part["image_embedding"]),
        np.stack(part["text_embedding"]),
        part["has_image"].to_numpy(),
        part[target].to_numpy(),
    )


def torch_throughput(frame: pd.DataFrame, device: str, task: str) -> float:
    target = "target" if task == "regression" else "engagement_class"
    train_data, val_data = (arrays(frame[frame["split"] == s], target) for s in ("train", "val"))
    cfg = TrainConfig(task=task, epochs=1, batch_size=64, device=device, seed=0)
    model_cfg = ModelConfig(d_model=64, n_tokens=4, n_heads=4, dropout=0.3)
    model = MultimodalRegressor if task == "regression" else FusionClassifier
    train(lambda: model(model_cfg), train_data, val_data, cfg)  # warm-up (allocations, kernels)
    start = time.perf_counter()
    train(lambda: model(model_cfg), train_data, val_data, cfg)
    return len(train_data.y) / (time.perf_counter() - start)


def main(n_posts: int = 3000, device: str = "auto", iterations: int = 100) -> None:
    frame = synthetic(n_posts)
    n_train = int((frame["split"] == "train").sum())
    header = f"engagement bench: {n_posts} posts ({n_train} train), device {pick_device(device)}"
    print(f"{header}, torch threads {TrainConfig().threads}, catboost threads 2")  # noqa: T201
    for k in (None, 64):
        seconds, width = catboost_seconds(frame, k, iterations)
        name = "full embeddings" if k is None else f"embedding_pca={k}"
        line = f"catboost {iterations} trees, {name:>17} ({width:4d} features): {seconds:6.1f} s"
        print(f"{line} ({1000 * seconds / iterations:5.1f} ms/tree)")  # noqa: T201
    for task in ("regression", "classification"):
        print(f"{task:>14} training: {torch_throughput(frame, device, task):8.0f} posts/s")  # noqa: T201


if __name__ == "__main__":
    main(*(int(a) if a.isdigit() else a for a in sys.argv[1:]))
