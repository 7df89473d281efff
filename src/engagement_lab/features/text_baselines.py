"""Bag-of-words baselines every paper's method must beat: TF-IDF + ridge (regression) and TF-IDF + logistic
regression (classification), fitted on train, their regularisation chosen on validation.

On real data the papers' methods often sit close to these (issue 17): reporting them beside each method
says how much a method adds over the words of the post alone.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline

logger = logging.getLogger(__name__)
ALPHAS = (0.1, 1.0, 10.0, 100.0)  # ridge penalties tried on validation
CS = (0.01, 0.1, 1.0, 10.0)  # inverse logistic penalties tried on validation
TOKENS = r"(?u)#?\b\w\w+\b"  # words and hashtags


def _vectorizer(train_texts: list[str]) -> TfidfVectorizer:
    """Unigrams and bigrams seen in two training posts or more (all terms when too few are)."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=TOKENS)
    try:
        return vectorizer.fit(train_texts)
    except ValueError:  # no term in two training posts
        return TfidfVectorizer(sublinear_tf=True, token_pattern=TOKENS).fit(train_texts)


def tfidf_ridge(train_texts: list[str], train_y: np.ndarray, val_texts: list[str], val_y: np.ndarray) -> Pipeline:
    """TF-IDF + ridge fitted on train, with the penalty of lowest validation MAE."""
    vectorizer = _vectorizer(train_texts)
    x_train, x_val = vectorizer.transform(train_texts), vectorizer.transform(val_texts)
    mae = {a: float(np.abs(Ridge(alpha=a).fit(x_train, train_y).predict(x_val) - val_y).mean()) for a in ALPHAS}
    alpha = min(mae, key=mae.get)
    logger.info(
        "TF-IDF + ridge: %d terms, alpha %g (validation MAE %.4f)", len(vectorizer.vocabulary_), alpha, mae[alpha]
    )
    return make_pipeline(vectorizer, Ridge(alpha=alpha).fit(x_train, train_y))


def tfidf_logistic(
    train_texts: list[str], train_y: np.ndarray, val_texts: list[str], val_y: np.ndarray, seed: int = 0
) -> Pipeline:
    """TF-IDF + multinomial logistic regression fitted on train, with the C of best validation accuracy."""
    vectorizer = _vectorizer(train_texts)
    x_train, x_val = vectorizer.transform(train_texts), vectorizer.transform(val_texts)
    fitted = {c: LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x_train, train_y) for c in CS}
    accuracy = {c: float((model.predict(x_val) == val_y).mean()) for c, model in fitted.items()}
    best = max(accuracy, key=accuracy.get)
    logger.info(
        "TF-IDF + logistic: %d terms, C %g (validation accuracy %.3f)",
        len(vectorizer.vocabulary_),
        best,
        accuracy[best],
    )
    return make_pipeline(vectorizer, fitted[best])
