"""The gradient-boosted baseline (CatBoost, the SMP Challenge's strong baseline) on PPCL's features:
the Table A1 user fields (categorical as CatBoost categories, numerical as [D, D², √D]) and PCA
components of the standardised image and text embeddings, everything fitted on train. Without a train post
that has an image (``Preprocessor.images_skipped``) there are no image components."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from catboost import CatBoostRegressor, Pool
from sklearn.decomposition import PCA

from engagement_lab.core.training import catboost_task_type
from engagement_lab.ppcl.data import CATEGORICAL, NUMERICAL, Preprocessor, _as_text

logger = logging.getLogger(__name__)


@dataclass
class TabularFeatures:
    preprocessor: Preprocessor
    n_components: int = 32
    image_pca: PCA | None = None
    text_pca: PCA | None = None

    def fit(self, train: pd.DataFrame, seed: int) -> TabularFeatures:
        arrays = self.preprocessor.transform(train)
        k = min(self.n_components, len(train) - 1, arrays["image"].shape[1])
        with_images = not self.preprocessor.images_skipped
        self.image_pca = PCA(n_components=k, random_state=seed).fit(arrays["image"]) if with_images else None
        self.text_pca = PCA(n_components=min(k, arrays["text"].shape[1]), random_state=seed).fit(arrays["text"])
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        arrays = self.preprocessor.transform(frame)
        out = pd.DataFrame({c: _as_text(frame[c]).to_numpy() for c in CATEGORICAL})
        dense = arrays["dense"]
        names = [f"{c}{s}" for s in ("", "_sq", "_sqrt") for c in NUMERICAL]
        out[names] = dense
        if self.image_pca is not None:
            image = self.image_pca.transform(arrays["image"])
            out[[f"image_pc{i}" for i in range(image.shape[1])]] = image
        text = self.text_pca.transform(arrays["text"])
        out[[f"text_pc{i}" for i in range(text.shape[1])]] = text
        return out


def fit_catboost(
    x_train: pd.DataFrame, y_train: np.ndarray, x_val: pd.DataFrame, y_val: np.ndarray, params: dict, seed: int
) -> CatBoostRegressor:
    """RMSE regression with early stopping on validation; the model keeps its best iteration."""
    task_type = catboost_task_type(params["task_type"])
    model = CatBoostRegressor(
        loss_function="RMSE",
        iterations=params["iterations"],
        learning_rate=params["learning_rate"],
        depth=params["depth"],
        l2_leaf_reg=params["l2_leaf_reg"],
        random_seed=seed,
        task_type=task_type,
        thread_count=params["thread_count"] if task_type == "CPU" else None,
        verbose=False,
        allow_writing_files=False,
    )
    model.fit(
        Pool(x_train, y_train, cat_features=CATEGORICAL),
        eval_set=Pool(x_val, y_val, cat_features=CATEGORICAL),
        early_stopping_rounds=params["early_stopping_rounds"],
        use_best_model=True,
    )
    logger.info("catboost: best iteration %d of %d", model.get_best_iteration(), params["iterations"])
    return model
