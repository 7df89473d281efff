"""§IV-E/F analyses: k-means of image features with the unpopular ratio R and the paper's iterative
picking, and the word/emoji statistics m_p − m_n."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from gensim.parsing.preprocessing import STOPWORDS
from sklearn.cluster import KMeans

from engagement_lab.dual_attention.text import token_kind

logger = logging.getLogger(__name__)

PRONOUNS = frozenset(
    "i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his himself she her "
    "hers herself it its itself they them their theirs themselves this that these those who whom whose which what "
    "anyone someone everyone something anything everything nothing".split()
)
PREPOSITIONS = frozenset(
    "about above across after against along among around at before behind below beneath beside between beyond by "
    "down during except for from in inside into near of off on onto out outside over past since through "
    "throughout till to toward towards under until up upon with within without".split()
)
ARTICLES_AND_CONJUNCTIONS = frozenset("a an the and or but nor so yet is are was were be been am".split())


def iterative_kmeans(
    features: np.ndarray, unpopular: np.ndarray, n_clusters: int, threshold: float, min_size: int, seed: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """The paper's picking strategy (§IV-E2), keeping ``n_clusters`` classes in all.

    1. cluster the remaining images into K classes (K = n_clusters − classes picked so far) and
       compute each class's unpopular ratio R; 2. pick the classes with |R − 0.5| > ``threshold``
       (and at least ``min_size`` images); 3. repeat on the rest until no class qualifies; the picked
       and the last remaining classes are the result. Returns the class of each image and a table
       (cluster, round, picked, size, R, centroid)."""
    features = np.asarray(features, dtype=np.float64)
    unpopular = np.asarray(unpopular).astype(float)
    assign = np.full(len(features), -1)
    remaining = np.arange(len(features))
    rows, next_id, round_ = [], 0, 0
    while True:
        k = n_clusters - next_id
        if k < 1 or len(remaining) < k:
            break
        km = KMeans(n_clusters=k, n_init=4, random_state=seed + round_).fit(features[remaining])
        ratio = np.array([unpopular[remaining][km.labels_ == c].mean() for c in range(k)])
        size = np.bincount(km.labels_, minlength=k)
        picked = (np.abs(ratio - 0.5) > threshold) & (size >= min_size)
        last = not picked.any() or k - picked.sum() < 1
        for c in range(k):
            if picked[c] or last:
                members = remaining[km.labels_ == c]
                assign[members] = next_id
                rows.append(
                    {
                        "cluster": next_id,
                        "round": round_,
                        "picked": bool(picked[c]),
                        "size": int(size[c]),
                        "R": float(ratio[c]),
                        "centroid": km.cluster_centers_[c],
                    }
                )
                next_id += 1
        if last:
            break
        remaining = remaining[~picked[km.labels_]]
        round_ += 1
    logger.info(
        "Iterative k-means: %d classes after %d rounds, %d picked", next_id, round_ + 1, sum(r["picked"] for r in rows)
    )
    return assign, pd.DataFrame(rows)


def nearest_cluster(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Assign held-out images to the nearest centroid."""
    d = ((np.asarray(features)[:, None, :] - np.asarray(centroids)[None, :, :]) ** 2).sum(-1)
    return d.argmin(axis=1)


def is_filtered(token: str) -> bool:
    """The paper's filter: symbols, pronouns, prepositions (and articles, conjunctions, stop words)."""
    kind = token_kind(token)
    if kind == "symbol":
        return True
    if kind != "word":
        return False
    return token in PRONOUNS or token in PREPOSITIONS or token in ARTICLES_AND_CONJUNCTIONS or token in STOPWORDS


def text_statistics(tokens: Sequence[Sequence[str]], label: np.ndarray, min_count: int = 3) -> pd.DataFrame:
    """Occurrences m_p (popular captions) and m_n (unpopular captions) per text, ranked by m_p − m_n.

    Words (and hashtags) fall into top 25 % / median 50 % / bottom 25 % of their ranking,
    emoji into top 50 % / bottom 50 % (§IV-F). Filtered texts are dropped."""
    label = np.asarray(label).astype(int)
    pos = Counter(t for doc, y in zip(tokens, label, strict=True) if y == 1 for t in doc)
    neg = Counter(t for doc, y in zip(tokens, label, strict=True) if y == 0 for t in doc)
    rows = [{"text": t, "kind": token_kind(t), "m_p": pos[t], "m_n": neg[t]} for t in set(pos) | set(neg)]
    table = pd.DataFrame(rows, columns=["text", "kind", "m_p", "m_n"])
    table = table[~table["text"].map(is_filtered) & (table["m_p"] + table["m_n"] >= min_count)].copy()
    table["kind"] = table["kind"].replace({"hashtag": "word", "mention": "word"})
    table["m_p_minus_m_n"] = table["m_p"] - table["m_n"]
    table = table.sort_values(["kind", "m_p_minus_m_n", "text"], ascending=[True, False, True], ignore_index=True)
    table["rank_share"] = table.groupby("kind").cumcount() / table.groupby("kind")["text"].transform("size")
    stage = np.where(
        table["rank_share"] < 0.25, "top 25%", np.where(table["rank_share"] < 0.75, "median 50%", "bottom 25%")
    )
    emoji_stage = np.where(table["rank_share"] < 0.5, "top 50%", "bottom 50%")
    table["stage"] = np.where(table["kind"] == "emoji", emoji_stage, stage)
    return table.drop(columns="rank_share")
