"""The dual-attention models' inputs: what is fitted on train posts (the caption vocabulary, the feature scalers,
the image PCA) and how it turns posts into model arrays. One encoder serves training, the registry's input
example and ``predict``, so a new post is encoded exactly as a training post was."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from engagement_lab.dual_attention.environment import environment_distances
from engagement_lab.dual_attention.text import Vocabulary

# PopularityNet.forward's inputs, in its argument order (also the registered model's column order).
INPUTS = ("image", "tokens", "lengths", "image_env", "topic_env")
# What the environment block sees (:func:`environment_input`).
ENVIRONMENT_INPUTS = ("mean", "relative")


def fit_preprocessor(
    tokens: Sequence[Sequence[str]],
    image: np.ndarray,
    image_env: np.ndarray,
    topics: np.ndarray,
    topic_env: np.ndarray,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Vocabulary, image scaler and (``params.image_pca``) a whitened image PCA, and the scalers of the
    environment input (:func:`environment_input`), all from the train posts given."""
    mode = params.get("environment_input", "mean")
    if mode not in ENVIRONMENT_INPUTS:
        raise ValueError(f"dual_attention.environment_input must be one of {list(ENVIRONMENT_INPUTS)}, not {mode!r}")
    vocab = Vocabulary.fit(tokens, min_count=params["vocab_min_count"])
    image_mean, image_std = image.mean(0), image.std(0) + 1e-6
    pca = None
    if params.get("image_pca"):
        # Few training posts: project the image features (and their environment) on the train PCA.
        pca = PCA(n_components=params["image_pca"], whiten=True, random_state=0).fit((image - image_mean) / image_std)
    preprocessor = {
        "vocab": vocab,
        "max_caption_len": params["max_caption_len"],
        "image_mean": image_mean,
        "image_std": image_std,
        "image_pca": pca,
        "environment_input": mode,
    }
    env_image, env_topic = environment_input(
        preprocessor, _scaled_image(preprocessor, image), _scaled_image(preprocessor, image_env), topics, topic_env
    )
    # The mean image environment is on the image's own scale already; everything else is standardised.
    preprocessor["env_image_mean"], preprocessor["env_image_std"] = (
        (0.0, 1.0) if mode == "mean" else (env_image.mean(0), env_image.std(0) + 1e-6)
    )
    preprocessor["env_topic_mean"], preprocessor["env_topic_std"] = env_topic.mean(0), env_topic.std(0) + 1e-6
    return preprocessor


def _scaled_image(preprocessor: dict[str, Any], image: np.ndarray) -> np.ndarray:
    """Image features standardised with the train statistics (and projected on the train PCA)."""
    image = (image - preprocessor["image_mean"]) / preprocessor["image_std"]
    return image if preprocessor["image_pca"] is None else preprocessor["image_pca"].transform(image)


def environment_input(
    preprocessor: dict[str, Any], image: np.ndarray, image_env: np.ndarray, topics: np.ndarray, topic_env: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """What the environment block sees, as (image part, topic part), before its scalers; ``image`` and
    ``image_env`` are already scaled (:func:`_scaled_image`).

    ``mean`` (the paper, §III-C): the environments I_e and T_e themselves. ``relative``: the post as seen from
    its environment: image − I_e, topics − T_e, and the topic part ends with the two
    :func:`~engagement_lab.dual_attention.environment.environment_distances`. The paper's network has to learn
    that comparison from the means; at a thousand training posts it does not (docs/decisions/002-relative-environment-input.md)."""
    if preprocessor["environment_input"] == "mean":
        return image_env, topic_env
    distances = environment_distances(image, image_env, topics, topic_env)
    return image - image_env, np.hstack([topics - topic_env, distances])


def encode_posts(
    preprocessor: dict[str, Any],
    tokens: Sequence[Sequence[str]],
    image: np.ndarray,
    image_env: np.ndarray,
    topics: np.ndarray,
    topic_env: np.ndarray,
) -> dict[str, np.ndarray]:
    """The model arrays of posts (keys :data:`INPUTS`): caption token ids and lengths (truncated to
    ``max_caption_len``), the scaled image, and the standardised :func:`environment_input` as ``image_env``
    and ``topic_env``."""
    if "environment_input" not in preprocessor:
        raise ValueError(
            "the dual-attention preprocessor predates environment_input: re-run `kedro run --pipelines=dual_attention`"
        )
    ids, lengths = preprocessor["vocab"].encode(tokens, preprocessor["max_caption_len"])
    image, image_env = _scaled_image(preprocessor, image), _scaled_image(preprocessor, image_env)
    env_image, env_topic = environment_input(preprocessor, image, image_env, topics, topic_env)
    env_image = (env_image - preprocessor["env_image_mean"]) / preprocessor["env_image_std"]
    env_topic = (env_topic - preprocessor["env_topic_mean"]) / preprocessor["env_topic_std"]
    return {
        "image": image.astype(np.float32),
        "tokens": ids,
        "lengths": lengths,
        "image_env": env_image.astype(np.float32),
        "topic_env": env_topic.astype(np.float32),
    }


def stack(column: pd.Series) -> np.ndarray:
    """A column of equal-length vectors as a float32 matrix."""
    return np.stack(column.to_numpy()).astype(np.float32)


def encode_model_input(preprocessor: dict[str, Any], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """:func:`encode_posts` of ``user_environment_model_input`` rows (``tokens``, ``image``, ``image_env``,
    ``topics``, ``topic_env`` columns)."""
    return encode_posts(
        preprocessor,
        [list(t) for t in frame["tokens"]],
        *(stack(frame[c]) for c in ("image", "image_env", "topics", "topic_env")),
    )
