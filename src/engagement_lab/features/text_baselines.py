"""Bag-of-words baselines every paper's method must beat: TF-IDF + ridge (regression) and TF-IDF + logistic
regression (classification), fitted on train, their regularisation chosen on validation.

On real data the papers' methods often sit close to these (issue 17): reporting them beside each method
says how much the method adds over the words of the post alone.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

logger = logging.getLogger(__name__)
ALPHAS = (0.1, 1.0, 10.0, 100.0)  # ridge penalties tried on validation
CS = (0.01, 0.1, 1.0, 10.0)  # inverse logistic penalties tried on validation


def _vectorizer(train_texts: list[str]) -> TfidfVectorizer:
    # Unigrams and bigrams of words and hashtags; terms in one training post only are noise at these sizes.
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=r"(?u)#?\b\w\w+\b")
    try:
        vectorizer.fit(train_texts)
    except ValueError:  # no term in two training posts: fall back to every term
        vectorizer = TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)#?\b\w\w+\b").fit(train_texts)
    return vectorizer


def tfidf_ridge(
    train_texts: list[str], train_y: np.ndarray, val_texts: list[str], val_y: np.ndarray, test_texts: list[str]
) -> tuple[np.ndarray, float]:
    """Test predictions of TF-IDF + ridge, the penalty with the lowest validation MAE; and that penalty."""
    vectorizer = _vectorizer(train_texts)
    x_train, x_val, x_test = (vectorizer.transform(t) for t in (train_texts, val_texts, test_texts))
    scores = {a: np.abs(Ridge(alpha=a).fit(x_train, train_y).predict(x_val) - val_y).mean() for a in ALPHAS}
    alpha = min(scores, key=scores.get)
    logger.info(
        "TF-IDF + ridge: %d terms, alpha %.3g (validation MAE %.4f)", len(vectorizer.vocabulary_), alpha, scores[alpha]
    )
    return Ridge(alpha=alpha).fit(x_train, train_y).predict(x_test), alpha


def tfidf_logistic(
    train_texts: list[str],
    train_y: np.ndarray,
    val_texts: list[str],
    val_y: np.ndarray,
    test_texts: list[str],
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """Test class predictions of TF-IDF + multinomial logistic regression, C chosen on validation accuracy."""
    vectorizer = _vectorizer(train_texts)
    x_train, x_val, x_test = (vectorizer.transform(t) for t in (train_texts, val_texts, test_texts))

    def fit(c: float) -> LogisticRegression:
        return LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x_train, train_y)

    scores = {c: float((fit(c).predict(x_val) == val_y).mean()) for c in CS}
    best = max(scores, key=scores.get)
    logger.info(
        "TF-IDF + logistic: %d terms, C %.3g (validation accuracy %.3f)",
        len(vectorizer.vocabulary_),
        best,
        scores[best],
    )
    return fit(best).predict(x_test), best
