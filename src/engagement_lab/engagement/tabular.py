"""§4.2: the CatBoost classifier on embeddings plus engineered features.

Two labelled feature sets:

* ``paper`` — as in the paper: embeddings, their similarity, text statistics, tags, and the raw engagement
  counts with their logs and ratios. The label is a function of those counts: this leaks it.
* ``pre_publication`` — only what exists before a post is published (no counts).

The paper's CLIP puts images and texts in one space, so their cosine similarity is defined; our frozen
encoders (EfficientNet-lite0, 1280-d; MiniLM, 384-d) do not share one. The similarity is measured in a
shared space fitted on train: PCA of each modality, then CCA between them.

With fewer than ``MIN_IMAGE_POSTS`` training posts that have an image (an export without covers), nothing
about images can be fitted: the image embedding columns and the similarity are left out (logged, and named
in ``TabularFeatures.image_skipped``), ``has_image`` stays. Count features use the counts the data has.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, Pool
from sklearn.cross_decomposition import CCA
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedKFold

from engagement_lab.core.metrics import classification_metrics
from engagement_lab.core.registry import ENGAGEMENT_FEATURE_SETS
from engagement_lab.core.training import catboost_task_type
from engagement_lab.engagement.data import N_TAGS
from engagement_lab.engagement.targets import COUNT_COLUMNS, counts_present

logger = logging.getLogger(__name__)
TAG_COLUMNS = [f"tag_{k + 1}" for k in range(N_TAGS)]
TEXT_STATS = ["title_chars", "title_words", "caption_chars", "caption_words", "n_tags"]
UNSEEN = -1  # label code of a tag never seen in train
MIN_IMAGE_POSTS = 10  # training posts with an image needed to fit the image PCA and the image/text CCA


def stack(column: pd.Series) -> np.ndarray:
    return np.stack(column.to_numpy()).astype(np.float32)


@dataclass
class TabularFeatures:
    """The fitted feature builder: tag vocabularies and the shared space for the similarity."""

    feature_set: str
    n_pca: int = 32
    n_cca: int = 8
    embedding_pca: int | None = None  # None: the full embeddings, as the paper; k: k PCA components each
    tag_codes: dict[str, dict[str, int]] = field(default_factory=dict)
    image_pca: PCA | None = None
    text_pca: PCA | None = None
    cca: CCA | None = None
    image_reducer: PCA | None = None
    text_reducer: PCA | None = None
    # Class-level defaults (not factories), so builders pickled before these fields existed still load.
    counts: tuple[str, ...] = tuple(COUNT_COLUMNS)  # the counts the paper feature set is built from
    image_skipped: str = ""  # why the image blocks are left out ("" = they are in)

    def fit(self, train: pd.DataFrame, seed: int) -> TabularFeatures:
        if self.feature_set not in ENGAGEMENT_FEATURE_SETS:
            raise ValueError(f"feature_set must be one of {ENGAGEMENT_FEATURE_SETS}, got {self.feature_set!r}")
        self.tag_codes = {c: {t: i for i, t in enumerate(sorted(train[c].unique()))} for c in TAG_COLUMNS}
        self.counts = tuple(counts_present(train))
        with_image = train[train["has_image"] == 1]
        self.image_skipped = image_skip_reason(len(with_image))
        if self.image_skipped:
            logger.warning("catboost %s: image features left out: %s", self.feature_set, self.image_skipped)
            self.image_pca = self.text_pca = self.cca = self.image_reducer = None
        else:
            self._fit_image_blocks(with_image, seed)
        if self.embedding_pca:
            k = min(self.embedding_pca, len(train) - 1)
            self.text_reducer = PCA(k, random_state=seed).fit(stack(train["text_embedding"]))
        return self

    def _fit_image_blocks(self, with_image: pd.DataFrame, seed: int) -> None:
        """The similarity's shared space (PCA per modality, then CCA) and the image reducer, on posts with an image."""
        image, text = stack(with_image["image_embedding"]), stack(with_image["text_embedding"])
        n_pca = min(self.n_pca, len(with_image) - 1)
        self.image_pca = PCA(n_pca, random_state=seed).fit(image)
        self.text_pca = PCA(n_pca, random_state=seed).fit(text)
        self.cca = CCA(n_components=min(self.n_cca, n_pca), max_iter=1000).fit(
            self.image_pca.transform(image), self.text_pca.transform(text)
        )
        if self.embedding_pca:
            k = min(self.embedding_pca, len(with_image) - 1)
            self.image_reducer = PCA(k, random_state=seed).fit(image)

    def similarity(self, frame: pd.DataFrame) -> np.ndarray:
        """Cosine similarity of image and text in the CCA space (0 where there is no image)."""
        image, text = self.cca.transform(
            self.image_pca.transform(stack(frame["image_embedding"])),
            self.text_pca.transform(stack(frame["text_embedding"])),
        )
        norms = np.linalg.norm(image, axis=1) * np.linalg.norm(text, axis=1)
        cosine = (image * text).sum(axis=1) / np.maximum(norms, 1e-12)
        return np.where(frame["has_image"].to_numpy() == 1, cosine, 0.0)

    @property
    def cat_features(self) -> list[str]:
        return list(TAG_COLUMNS)

    def image_block(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The image embedding columns (reduced when ``embedding_pca``; 0 where there is no image), or none."""
        if self.image_skipped:
            return pd.DataFrame(index=frame.index)
        image = stack(frame["image_embedding"])
        if self.embedding_pca:
            has_image = frame["has_image"].to_numpy()[:, None] == 1
            image = np.where(has_image, self.image_reducer.transform(image), 0.0)
        return pd.DataFrame(image, columns=[f"img_{i}" for i in range(image.shape[1])], index=frame.index)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        text = stack(frame["text_embedding"])
        if self.embedding_pca:
            text = self.text_reducer.transform(text)
        parts = [
            self.image_block(frame),
            pd.DataFrame(text, columns=[f"txt_{i}" for i in range(text.shape[1])], index=frame.index),
        ]
        table = pd.concat(parts, axis=1)
        if not self.image_skipped:
            table["image_text_similarity"] = self.similarity(frame)
        table["has_image"] = frame["has_image"].to_numpy()
        for col in TEXT_STATS:
            table[col] = frame[col].to_numpy()
        for col in TAG_COLUMNS:
            table[col] = frame[col].map(self.tag_codes[col]).fillna(UNSEEN).astype(int).to_numpy()
        if self.feature_set == "paper":
            table = pd.concat([table, count_features(frame, list(self.counts))], axis=1)
        return table


def image_skip_reason(n_with_image: int) -> str:
    """Why the image blocks cannot be fitted on ``n_with_image`` training posts with an image ("" when they can)."""
    if n_with_image >= MIN_IMAGE_POSTS:
        return ""
    return (
        f"{n_with_image} training posts have an image (need {MIN_IMAGE_POSTS} to fit the image PCA and the "
        "image/text CCA); has_image is kept"
    )


def feature_builder(feature_set: str, params: dict) -> TabularFeatures:
    return TabularFeatures(
        feature_set, n_pca=params["n_pca"], n_cca=params["n_cca"], embedding_pca=params.get("embedding_pca")
    )


def count_features(frame: pd.DataFrame, used: list[str] | None = None) -> pd.DataFrame:
    """The paper's engineered engagement features: raw counts, their logs and ratios (leak the label).

    ``used`` (default: all) are the counts the data has; the others get no features."""
    used = COUNT_COLUMNS if used is None else [c for c in COUNT_COLUMNS if c in used]
    counts = frame[used].astype(float)
    out = pd.DataFrame(index=frame.index)
    views = counts["views"].clip(lower=1)
    for col in used:
        out[f"count_{col}"] = counts[col]
        out[f"log_{col}"] = np.log1p(counts[col])
    interaction_counts = [c for c in ("likes", "comments", "shares", "favorites") if c in used]
    interactions = counts[interaction_counts].sum(axis=1)
    out["engagement_rate"] = interactions / views
    for col in interaction_counts:
        out[f"{col}_per_view"] = counts[col] / views
        out[f"{col}_share_of_interactions"] = counts[col] / interactions.clip(lower=1)
    return out


def make_classifier(params: dict, seed: int, iterations: int | None = None) -> CatBoostClassifier:
    task_type = catboost_task_type(params["task_type"])
    return CatBoostClassifier(
        loss_function="MultiClass",
        iterations=iterations or params["iterations"],
        learning_rate=params["learning_rate"],
        depth=params["depth"],
        bootstrap_type="Bernoulli",
        subsample=params["subsample"],
        l2_leaf_reg=params["l2_leaf_reg"],
        border_count=params["border_count"],
        random_seed=seed,
        task_type=task_type,
        thread_count=params["thread_count"] if task_type == "CPU" else None,
        verbose=False,
        allow_writing_files=False,
    )


def fit_catboost(
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_val: pd.DataFrame,
    y_val: np.ndarray,
    cat_features: list[str],
    params: dict,
    seed: int,
) -> CatBoostClassifier:
    """Fit with early stopping on the validation split; the model keeps its best iteration."""
    model = make_classifier(params, seed)
    model.fit(
        Pool(x_train, y_train, cat_features=cat_features),
        eval_set=Pool(x_val, y_val, cat_features=cat_features),
        early_stopping_rounds=params["early_stopping_rounds"],
        use_best_model=True,
    )
    logger.info("catboost: best iteration %d of %d", model.get_best_iteration(), params["iterations"])
    return model


def predict_classes(model: CatBoostClassifier, x: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict(x)).reshape(-1).astype(int)


def cross_validate(
    frame: pd.DataFrame, y: np.ndarray, feature_set: str, params: dict, iterations: int, seed: int
) -> dict[str, float]:
    """k-fold CV (the paper's 5) on train+val: each fold refits the feature builder on its own training part
    and trains ``iterations`` trees (the count early stopping chose on the validation split)."""
    folds = StratifiedKFold(n_splits=params["cv_folds"], shuffle=True, random_state=seed)
    scores: dict[str, list[float]] = {"accuracy": [], "macro_f1": [], "weighted_f1": []}
    for k, (fit_idx, held_idx) in enumerate(folds.split(np.zeros(len(y)), y)):
        builder = feature_builder(feature_set, params)
        builder.fit(frame.iloc[fit_idx], seed)
        model = make_classifier(params, seed, iterations=iterations)
        model.fit(Pool(builder.transform(frame.iloc[fit_idx]), y[fit_idx], cat_features=builder.cat_features))
        fold = classification_metrics(
            y[held_idx], predict_classes(model, builder.transform(frame.iloc[held_idx])), prefix="cv"
        )
        for name, values in scores.items():
            values.append(fold[f"cv_{name}"])
        logger.info(
            "catboost %s fold %d: accuracy %.4f macro-F1 %.4f", feature_set, k, fold["cv_accuracy"], fold["cv_macro_f1"]
        )
    out = {}
    for name, values in scores.items():
        out[f"cv_{name}_mean"] = float(np.mean(values))
        out[f"cv_{name}_std"] = float(np.std(values))
    return out
