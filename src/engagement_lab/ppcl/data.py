"""PPCL's inputs (§3, §6.1.1, Appendix A): target, chronological split and the user features of Table A1.

* Target (Eq. 1): ``log2(views / days) + 1``. SMPD ships it as ``train_label.txt`` (canonical
  ``popularity_label``); where only ``views`` is known it is computed with ``days`` = whole days between
  ``posted_at`` and ``observed_at``. A post with neither, or with days <= 0, cannot get a target: it goes
  to the quarantine table with its reason (counted, never dropped silently).
* Split: posts sorted by ``posted_at`` (ties by post id), the first 80% train, then 10% val, 10% test.
* User features (Table A1), fitted on train rows only by :class:`Preprocessor`: categorical fields get
  vocabularies (index 0 = unseen or missing); numerical fields D are imputed with the train median,
  expanded to [D, D², √D] and min-max scaled with the train minimum and maximum. Post time fields are
  in UTC. The UISD influence levels are k-means clusters of log follower counts fitted on train posts.
* Out-of-range inputs: a val/test/new post's scaled profile fields are clipped to the train range [0, 1], and
  its standardised embeddings to each dimension's train range (scikit-learn's ``MinMaxScaler(clip=True)``). The
  chronological split puts new users in val and test; one with 5x the train maximum of a count has 29x in
  the D² column, and the linear layers extrapolated it to predictions of -2·10^5 (world 2024, issue 21).

Partial exports: a numerical field no train post has is imputed with 0 for every post (a constant input);
the imputed values per field are counted (``Preprocessor.imputed``). Without two distinct follower counts in
train there are no influence levels: every post's UISD label is -1 ("no label"), so the UISD loss is 0 and
models that list UISD train without it (``Preprocessor.influence_skipped`` says why). Without a train post
that has an image, the image input is zero for every post (``Preprocessor.images_skipped``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from engagement_lab.features.join import attach_embeddings

logger = logging.getLogger(__name__)

# Table A1. The post-level Geoaccuracy (geo_acc) is not in the canonical tables: left out.
CATEGORICAL = [
    "user_id",
    "is_pro",
    "can_buy_pro",
    "is_public",
    "timezone_id",
    "timezone_offset",
    "post_hour",
    "post_day",
    "post_month",
]
NUMERICAL = [
    "total_views",
    "total_tags",
    "total_geotagged",
    "total_faves",
    "total_in_group",
    "photo_count",
    "followers",
    "following",
    "pfirst_year",
    "pfirst_taken_year",
]
LEVELS = ["category", "subcategory", "concept"]  # coarse → fine (§5.2)
MISSING = "<missing>"
SPLITS = ("train", "val", "test")
MIN_SPLIT_POSTS = 20  # fewer posts with a target cannot be split 8:1:1
NO_LABEL = -1  # a contrastive label that makes a post neither an anchor nor a positive (ppcl.losses)


class PPCLDataError(ValueError):
    """The canonical tables cannot make PPCL's inputs (the message names the problem)."""


def popularity_target(posts: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Eq. 1 per post and, where it cannot be computed, the reason (else <NA>)."""
    days = (posts["observed_at"] - posts["posted_at"]).dt.days
    views = posts["views"].astype("Float64") if "views" in posts else pd.Series(pd.NA, index=posts.index)
    label = posts["popularity_label"].astype("Float64") if "popularity_label" in posts else views * np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        computed = np.log2(views.astype(float) / days.astype(float).where(days > 0)) + 1
    computed = pd.Series(computed, index=posts.index).where(np.isfinite)
    target = label.astype(float).where(label.notna(), computed)
    reason = pd.Series(pd.NA, index=posts.index, dtype="string")
    no_time = posts["posted_at"].isna() | posts["observed_at"].isna()
    reason[target.isna() & views.notna() & (views <= 0)] = "views <= 0: log2(views/days) undefined"
    reason[target.isna() & (days <= 0)] = "days since posting <= 0: log2(views/days)+1 undefined"
    reason[target.isna() & no_time] = "posted_at or observed_at missing: days unknown"
    reason[target.isna() & reason.isna()] = "no popularity label and no view count"
    return target.astype(float), reason


def build_model_input(
    posts: pd.DataFrame,
    users: pd.DataFrame,
    images: pd.DataFrame,
    image_embeddings: pd.DataFrame,
    post_texts: pd.DataFrame,
    text_embeddings: pd.DataFrame,
    source: str,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """One row per ``source`` post with a target: profile fields, post time fields (UTC), content labels
    and both embeddings. Returns (model input, quarantine rows, counts)."""
    chosen = posts[posts["source"] == source].reset_index(drop=True)
    if chosen.empty:
        raise PPCLDataError(
            f"no posts with source == {source!r} (sources present: {sorted(posts['source'].dropna().unique())}); "
            "ingest SMPD data (ingestion.sources) or set ppcl.source"
        )
    target, reason = popularity_target(chosen)
    bad = reason.notna()
    quarantine = pd.DataFrame(
        {"post_id": chosen.loc[bad, "post_id"].astype("string"), "stage": "ppcl", "reason": reason[bad]}
    ).reset_index(drop=True)
    stats = {"posts": len(chosen), "quarantined": int(bad.sum())}
    for why, n in quarantine["reason"].value_counts().items():
        logger.warning("ppcl: %d %s posts quarantined: %s", n, source, why)
    frame = chosen[~bad].assign(target=target[~bad]).reset_index(drop=True)

    profile = users[users["source"] == source] if "source" in users else users
    frame, stats["without_profile"] = add_user_fields(frame, profile)
    if stats["without_profile"]:
        logger.warning(
            "ppcl: %d posts have no users row: profile fields missing (imputed / unseen category)",
            stats["without_profile"],
        )
    for level in LEVELS:
        frame[level] = frame[level].astype("string") if level in frame else pd.NA

    frame = attach_embeddings(frame, images, image_embeddings, post_texts, text_embeddings, source, PPCLDataError)
    stats["without_image"] = int((frame["has_image"] == 0).sum())
    stats["without_followers"] = int(frame["followers"].isna().sum())
    stats["modelled"] = len(frame)
    keep = [
        "post_id",
        "user_id",
        "posted_at",
        "target",
        *LEVELS,
        *CATEGORICAL[1:],
        *NUMERICAL,
        "has_image",
        "image_embedding",
        "text_embedding",
    ]
    return frame[keep], quarantine, stats


def add_user_fields(posts: pd.DataFrame, users: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Table A1's fields beside each post: its user's profile (the ``users`` row with its ``user_id``; fields
    the row or the table lacks are NA, which the fitted :class:`Preprocessor` imputes) and the post's hour,
    day of week and month in UTC. Returns the frame and the number of posts without a ``users`` row."""
    profile = users.drop_duplicates("user_id")
    wanted = [
        c
        for c in ["user_id", *CATEGORICAL[1:6], *NUMERICAL[:8], "photo_firstdate", "photo_firstdatetaken"]
        if c in profile.columns
    ]
    frame = posts.merge(profile[wanted], on="user_id", how="left", indicator=True)
    without_profile = int((frame["_merge"] == "left_only").sum())
    frame = frame.drop(columns="_merge")
    for col in [*CATEGORICAL[1:6], *NUMERICAL[:8]]:
        if col not in frame:
            frame[col] = pd.NA
    frame["pfirst_year"] = _year(frame.get("photo_firstdate"))
    frame["pfirst_taken_year"] = _year(frame.get("photo_firstdatetaken"))
    posted = frame["posted_at"].dt.tz_convert("UTC") if frame["posted_at"].dt.tz else frame["posted_at"]
    frame["post_hour"], frame["post_day"], frame["post_month"] = posted.dt.hour, posted.dt.day_of_week, posted.dt.month
    return frame, without_profile


def _year(values: pd.Series | None) -> pd.Series:
    if values is None:
        return pd.Series(dtype="Float64")
    return pd.to_datetime(values, utc=True).dt.year.astype("Float64")


def chronological_split(frame: pd.DataFrame, fractions: dict[str, float]) -> pd.Series:
    """8:1:1 (or ``fractions``) by post time: the earliest posts train, the latest test."""
    total = sum(fractions.values())
    if set(fractions) != set(SPLITS) or abs(total - 1.0) > 1e-6:
        raise PPCLDataError(f"split fractions must be train/val/test summing to 1, got {fractions}")
    if len(frame) < MIN_SPLIT_POSTS:
        raise PPCLDataError(f"need at least {MIN_SPLIT_POSTS} posts with a target to split, got {len(frame)}")
    order = np.lexsort((frame["post_id"].astype(str).to_numpy(), frame["posted_at"].to_numpy()))
    n_train = round(fractions["train"] * len(frame))
    n_val = round(fractions["val"] * len(frame))
    split = np.empty(len(frame), dtype=object)
    split[order[:n_train]] = "train"
    split[order[n_train : n_train + n_val]] = "val"
    split[order[n_train + n_val :]] = "test"
    return pd.Series(split, index=frame.index, name="split", dtype="string")


def train_subset(frame: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """The data-efficiency rows: a seeded random ``fraction`` of the train posts (nested: a smaller
    fraction is a subset of a larger one), val and test unchanged."""
    if not 0 < fraction <= 1:
        raise PPCLDataError(f"train_fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return frame
    train = np.flatnonzero((frame["split"] == "train").to_numpy())
    order = np.random.default_rng(seed).permutation(train)
    drop = order[max(1, round(fraction * len(train))) :]
    return frame.drop(index=frame.index[drop])


@dataclass
class Preprocessor:
    """Everything fitted on train that turns a post into model inputs (what ``predict`` needs)."""

    n_clusters: int = 40
    influence_scale: str = "log"  # log | raw: the follower counts k-means sees
    standardize_embeddings: bool = True
    seed: int = 0
    vocab: dict[str, dict[str, int]] = field(default_factory=dict)
    medians: dict[str, float] = field(default_factory=dict)
    minimum: np.ndarray | None = None
    maximum: np.ndarray | None = None
    level_vocab: dict[str, dict[str, int]] = field(default_factory=dict)
    kmeans: KMeans | None = None
    cluster_order: np.ndarray | None = None
    image_mean: np.ndarray | None = None
    image_std: np.ndarray | None = None
    text_mean: np.ndarray | None = None
    text_std: np.ndarray | None = None
    image_range: np.ndarray | None = None  # (2, dim): train minimum and maximum of the standardised embedding
    text_range: np.ndarray | None = None
    train_rows: int = 0
    imputed: dict[str, int] = field(default_factory=dict)  # train posts whose field was imputed, per field
    # Class-level defaults (not factories), so preprocessors pickled before these fields existed still load.
    influence_skipped: str = ""  # why there are no UISD influence levels ("" = k-means fitted)
    images_skipped: str = ""  # why the image input is zero for every post ("" = images used)

    def fit(self, train: pd.DataFrame) -> Preprocessor:
        if train.empty:
            raise PPCLDataError("the preprocessor needs train posts")
        self.train_rows = len(train)
        self.vocab = {c: _vocabulary(_as_text(train[c])) for c in CATEGORICAL}
        # A missing content label is no label (-1 in transform), not a class of its own.
        self.level_vocab = {c: _vocabulary(train[c].dropna().astype(str), start=0) for c in LEVELS}
        self._fit_medians(train)
        expanded = self._expand(train)
        self.minimum, self.maximum = expanded.min(axis=0), expanded.max(axis=0)
        self._fit_influence(train)
        self._fit_embedding_scales(train)
        return self

    def _fit_medians(self, train: pd.DataFrame) -> None:
        """Train medians of the numerical fields (0 for a field no train post has), and the imputed counts."""
        for col in NUMERICAL:
            values = train[col].astype("Float64")
            if (values < 0).any():
                raise PPCLDataError(f"numerical user field {col!r} has negative values: √D is undefined")
            self.medians[col] = float(values.median()) if values.notna().any() else 0.0
        self.imputed = {col: int(train[col].isna().sum()) for col in NUMERICAL if train[col].isna().any()}
        if absent := [col for col, n in self.imputed.items() if n == len(train)]:
            logger.warning("ppcl: no train post has %s: imputed with 0 for every post (a constant input)", absent)
        if partial := {col: n for col, n in self.imputed.items() if n < len(train)}:
            logger.info("ppcl: train posts with a field imputed by its train median: %s", partial)

    def _fit_influence(self, train: pd.DataFrame) -> None:
        """UISD's influence levels: k-means of (log) follower counts on train, unless they cannot be formed."""
        self.influence_skipped = influence_skip_reason(train)
        if self.influence_skipped:
            logger.warning("ppcl: UISD has no influence levels: %s", self.influence_skipped)
            self.kmeans, self.cluster_order = None, None
            return
        followers = self._influence(train)
        k = min(self.n_clusters, len(np.unique(followers)))
        self.kmeans = KMeans(n_clusters=k, n_init=4, random_state=self.seed).fit(followers[:, None])
        self.cluster_order = np.argsort(np.argsort(self.kmeans.cluster_centers_[:, 0]))  # 0 = least followed

    def _fit_embedding_scales(self, train: pd.DataFrame) -> None:
        """Train mean and std of each embedding (for standardisation); no image in train: image input off."""
        with_image = int(train["has_image"].sum()) if "has_image" in train else len(train)
        self.images_skipped = "" if with_image else "no train post has an image: the image input is 0 for every post"
        if self.images_skipped:
            logger.warning("ppcl: %s", self.images_skipped)
        image, text = _stack(train["image_embedding"]), _stack(train["text_embedding"])
        self.image_mean, self.image_std = image.mean(0), image.std(0) + 1e-6
        self.text_mean, self.text_std = text.mean(0), text.std(0) + 1e-6
        image, text = self._standardise(image, text)
        self.image_range = np.stack([image.min(0), image.max(0)])
        self.text_range = np.stack([text.min(0), text.max(0)])

    def _standardise(self, image: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.standardize_embeddings:
            return image, text
        return (image - self.image_mean) / self.image_std, (text - self.text_mean) / self.text_std

    def _influence(self, frame: pd.DataFrame) -> np.ndarray:
        followers = frame["followers"].astype("Float64").fillna(self.medians["followers"]).to_numpy(dtype=float)
        return np.log1p(followers) if self.influence_scale == "log" else followers

    def _expand(self, frame: pd.DataFrame) -> np.ndarray:
        columns = []
        for col in NUMERICAL:
            values = frame[col].astype("Float64")
            if (values < 0).any():
                raise PPCLDataError(f"numerical user field {col!r} has negative values: √D is undefined")
            d = values.fillna(self.medians[col]).to_numpy(dtype=float)
            columns.append(d)
        d = np.stack(columns, axis=1)
        return np.concatenate([d, d**2, np.sqrt(d)], axis=1)

    @property
    def n_dense(self) -> int:
        return 3 * len(NUMERICAL)

    @property
    def cardinalities(self) -> list[int]:
        return [len(self.vocab[c]) + 1 for c in CATEGORICAL]

    @property
    def n_influence_levels(self) -> int:
        return 0 if self.kmeans is None else len(self.kmeans.cluster_centers_)

    def transform(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Model inputs and contrastive labels of ``frame`` (any split); unseen labels are -1."""
        if self.minimum is None:
            raise PPCLDataError("the preprocessor is not fitted")
        cat = np.stack(
            [_as_text(frame[c]).map(self.vocab[c]).fillna(0).to_numpy(dtype=np.int64) for c in CATEGORICAL], axis=1
        )
        span = np.where(self.maximum > self.minimum, self.maximum - self.minimum, 1.0)
        dense = np.clip((self._expand(frame) - self.minimum) / span, 0.0, 1.0).astype(np.float32)
        image, text = self._standardise(_stack(frame["image_embedding"]), _stack(frame["text_embedding"]))
        if self.image_range is not None:  # None: fitted before the clip existed
            image, text = np.clip(image, *self.image_range), np.clip(text, *self.text_range)
        if self.images_skipped:
            image = np.zeros_like(image)
        levels = np.stack(
            [_as_text(frame[c]).map(self.level_vocab[c]).fillna(-1).to_numpy(dtype=np.int64) for c in LEVELS], axis=1
        )
        return {
            "image": image.astype(np.float32),
            "text": text.astype(np.float32),
            "dense": dense,
            "sparse": cat,
            "levels": levels,
            "influence": self.influence_levels(frame),
            "user": cat[:, 0] - 1,  # the user_id vocabulary code; -1 = unseen in train
            "y": frame["target"].to_numpy(dtype=np.float32) if "target" in frame else np.zeros(len(frame), "f4"),
        }

    def influence_levels(self, frame: pd.DataFrame) -> np.ndarray:
        """Each post's UISD label: its influence level (0 = least followed), or -1 for all without levels."""
        if self.kmeans is None:
            return np.full(len(frame), NO_LABEL, dtype=np.int64)
        return self.cluster_order[self.kmeans.predict(self._influence(frame)[:, None])].astype(np.int64)

    def summary(self) -> dict:
        return {
            "categorical": CATEGORICAL,
            "numerical": NUMERICAL,
            "levels": LEVELS,
            "cardinalities": self.cardinalities,
            "n_dense": self.n_dense,
            "n_influence_levels": self.n_influence_levels,
            "influence_scale": self.influence_scale,
            "train_rows": self.train_rows,
            "medians": self.medians,
            "imputed": self.imputed,
            "influence_skipped": self.influence_skipped,
            "images_skipped": self.images_skipped,
        }


def influence_skip_reason(train: pd.DataFrame) -> str:
    """Why UISD's influence levels cannot be formed from these train posts ("" when they can)."""
    followers = train["followers"].astype("Float64").dropna()
    if followers.nunique() >= 2:
        return ""
    return (
        f"{followers.nunique()} distinct follower counts among the {len(train)} train posts (users.followers "
        "missing?): UISD labels are -1 (no label), so its loss is 0 and models listing UISD train without it"
    )


def _as_text(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna(MISSING).astype(object)


def _vocabulary(values: pd.Series, start: int = 1) -> dict[str, int]:
    return {v: i + start for i, v in enumerate(sorted(values.unique()))}


def _stack(column: pd.Series) -> np.ndarray:
    return np.stack(column.to_numpy()).astype(np.float32)
