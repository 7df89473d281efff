"""The dual-attention models' inputs: what is fitted on train posts (the caption vocabulary, the feature scalers,
the image PCA) and how it turns posts into model arrays. One encoder serves training, the registry's input
example and ``predict``, so a new post is encoded exactly as a training post was."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from engagement_lab.dual_attention.text import Vocabulary

# PopularityNet.forward's inputs, in its argument order (also the registered model's column order).
INPUTS = ("image", "tokens", "lengths", "image_env", "topic_env")


def fit_preprocessor(tokens: Sequence[Sequence[str]], image: np.ndarray, topic_env: np.ndarray,
                     params: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Vocabulary, image and topic-environment scalers and (``params.image_pca``) a whitened image PCA, all
    from the train posts given. The image environment is scaled with the image's statistics (it is a mean of
    image features)."""
    vocab = Vocabulary.fit(tokens, min_count=params["vocab_min_count"])
    image_mean, image_std = image.mean(0), image.std(0) + 1e-6
    pca = None
    if params.get("image_pca"):
        # Few training posts: project the image features (and their environment) on the train PCA.
        pca = PCA(n_components=params["image_pca"], whiten=True, random_state=0).fit((image - image_mean) / image_std)
    return {"vocab": vocab, "max_caption_len": params["max_caption_len"], "image_mean": image_mean,
            "image_std": image_std, "image_pca": pca, "topic_mean": topic_env.mean(0),
            "topic_std": topic_env.std(0) + 1e-6}  # fmt: skip


def encode_posts(preprocessor: dict[str, Any], tokens: Sequence[Sequence[str]], image: np.ndarray,
                 image_env: np.ndarray, topic_env: np.ndarray) -> dict[str, np.ndarray]:  # fmt: skip
    """The model arrays of posts (keys :data:`INPUTS`): caption token ids and lengths (truncated to
    ``max_caption_len``), standardised (and PCA-projected) image and image environment, standardised topic
    environment."""
    ids, lengths = preprocessor["vocab"].encode(tokens, preprocessor["max_caption_len"])
    mu, sd = preprocessor["image_mean"], preprocessor["image_std"]
    image, image_env = (image - mu) / sd, (image_env - mu) / sd
    if preprocessor["image_pca"] is not None:
        image, image_env = (preprocessor["image_pca"].transform(x) for x in (image, image_env))
    topic_env = (topic_env - preprocessor["topic_mean"]) / preprocessor["topic_std"]
    return {"image": image.astype(np.float32), "tokens": ids, "lengths": lengths,
            "image_env": image_env.astype(np.float32), "topic_env": topic_env.astype(np.float32)}  # fmt: skip


def stack(column: pd.Series) -> np.ndarray:
    """A column of equal-length vectors as a float32 matrix."""
    return np.stack(column.to_numpy()).astype(np.float32)


def encode_model_input(preprocessor: dict[str, Any], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """:func:`encode_posts` of ``user_environment_model_input`` rows (``tokens``, ``image``, ``image_env``,
    ``topic_env`` columns)."""
    return encode_posts(preprocessor, [list(t) for t in frame["tokens"]],
                        *(stack(frame[c]) for c in ("image", "image_env", "topic_env")))  # fmt: skip
