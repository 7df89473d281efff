"""PPCL's inputs: target and quarantine, chronological split, train-only fitting, and §5.6's sampler."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engagement_lab.ppcl.data import (
    NUMERICAL,
    PPCLDataError,
    Preprocessor,
    chronological_split,
    popularity_target,
    train_subset,
)
from engagement_lab.ppcl.sampler import HierarchicalBatchSampler, RandomBatchSampler


def _levels(n_cat=3, n_sub=3, n_con=3, per=4) -> np.ndarray:
    rows = [
        (c, c * n_sub + s, (c * n_sub + s) * n_con + k)
        for c in range(n_cat)
        for s in range(n_sub)
        for k in range(n_con)
        for _ in range(per)
    ]
    return np.array(rows)


def test_hierarchical_batches_have_the_block_structure_of_section_5_6():
    levels = _levels()
    sampler = HierarchicalBatchSampler(levels, batch_size=32, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == int(np.ceil(len(levels) / 32))
    for batch in batches:
        assert len(batch) == 32
        b0, b1, b2, b3 = batch.reshape(4, 8)
        # b1: same category, another subcategory; b2: same subcategory, another concept; b3: same concept.
        assert (levels[b1, 0] == levels[b0, 0]).all() and (levels[b1, 1] != levels[b0, 1]).all()
        assert (levels[b2, 1] == levels[b0, 1]).all() and (levels[b2, 2] != levels[b0, 2]).all()
        assert (levels[b3, 2] == levels[b0, 2]).all() and (b3 != b0).all()
    assert sampler.fallbacks == 0
    anchors = np.concatenate([b[:8] for b in batches])
    assert len(np.unique(anchors)) == len(anchors)  # anchors come from one permutation per epoch


def test_hierarchical_sampler_relaxes_and_counts_when_a_level_has_no_partner():
    # Category 1 has one subcategory with one concept and one post: no partner at any level.
    levels = np.vstack([_levels(n_cat=1), [[1, 99, 999]]])
    sampler = HierarchicalBatchSampler(levels, batch_size=len(levels) * 4, seed=1)
    batch = next(iter(sampler))
    block = len(batch) // 4
    lonely = np.flatnonzero(batch[:block] == len(levels) - 1)
    assert len(lonely) == 1
    partners = batch.reshape(4, block)[1:, lonely[0]]
    assert (partners != len(levels) - 1).all()  # never the anchor itself
    assert sampler.fallbacks == 3


def test_random_sampler_visits_every_post_once_per_epoch():
    sampler = RandomBatchSampler(50, 16, seed=0)
    seen = np.concatenate(list(sampler))
    assert sorted(seen) == list(range(50))


def _posts(n=40) -> pd.DataFrame:
    posted = pd.Timestamp("2015-03-01", tz="UTC") + pd.to_timedelta(np.arange(n)[::-1] * 5, unit="D")
    return pd.DataFrame(
        {
            "post_id": [f"smpd:{i}" for i in range(n)],
            "posted_at": posted,
            "observed_at": pd.Timestamp("2016-07-15", tz="UTC"),
            "views": pd.array(np.arange(n) * 10 + 10, dtype="Int64"),
            "popularity_label": pd.array([pd.NA] * n, dtype="Float64"),
        }
    )


def test_target_is_log2_views_per_day_plus_one_and_bad_rows_get_a_reason():
    posts = _posts(4)
    posts.loc[1, "views"] = pd.NA
    posts.loc[2, "posted_at"] = pd.Timestamp("2016-07-14 20:00", tz="UTC")  # 0 whole days online
    posts.loc[3, "popularity_label"] = 7.5  # SMPD's own label wins
    target, reason = popularity_target(posts)
    days = (posts.loc[0, "observed_at"] - posts.loc[0, "posted_at"]).days
    assert target[0] == pytest.approx(np.log2(10 / days) + 1)
    assert np.isnan(target[1]) and "no view count" in reason[1]
    assert np.isnan(target[2]) and "days" in reason[2]
    assert target[3] == 7.5 and pd.isna(reason[3]) and pd.isna(reason[0])


def test_split_is_chronological_8_1_1():
    frame = _posts(40).sample(frac=1.0, random_state=0)
    split = chronological_split(frame, {"train": 0.8, "val": 0.1, "test": 0.1})
    assert split.value_counts().to_dict() == {"train": 32, "val": 4, "test": 4}
    times = {s: frame.loc[split == s, "posted_at"] for s in ("train", "val", "test")}
    assert times["train"].max() < times["val"].min() and times["val"].max() < times["test"].min()
    with pytest.raises(PPCLDataError, match="summing to 1"):
        chronological_split(frame, {"train": 0.8, "val": 0.1})


def _profiles(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: pd.array(rng.integers(0, 1000, n), dtype="Int64") for c in NUMERICAL})
    frame["followers"] = pd.array(np.exp(rng.normal(6, 1.5, n)).round(), dtype="Int64")
    for c in ("user_id", "is_pro", "can_buy_pro", "is_public", "timezone_id", "timezone_offset"):
        frame[c] = pd.array(rng.integers(0, 5, n).astype(str), dtype="string")
    frame["post_hour"], frame["post_day"], frame["post_month"] = rng.integers(0, 24, n), rng.integers(0, 7, n), 3
    for level, k in (("category", 2), ("subcategory", 4), ("concept", 8)):
        frame[level] = pd.array(rng.integers(0, k, n).astype(str), dtype="string")
    frame["image_embedding"] = list(rng.normal(size=(n, 6)).astype(np.float32))
    frame["text_embedding"] = list(rng.normal(size=(n, 4)).astype(np.float32))
    frame["target"] = rng.normal(size=n)
    return frame


def test_preprocessor_is_fitted_on_train_rows_only():
    train, test = _profiles(200, 0), _profiles(50, 1)
    test["followers"] *= 100  # wild test values must not move anything fitted
    test.loc[0, "user_id"] = "never-seen"
    fitted = Preprocessor(n_clusters=10).fit(train)
    refit = Preprocessor(n_clusters=10).fit(train)
    arrays = fitted.transform(pd.concat([train, test], ignore_index=True))
    np.testing.assert_allclose(fitted.minimum, refit.minimum)
    # min-max of [D, D², √D] uses the train range, and values outside it are clipped to it: the 100x test
    # followers (10^4x in the D² column) sit at the train maximum instead of extrapolating the network.
    dense = arrays["dense"]
    assert dense.min() >= 0 and dense.max() <= 1
    followers = NUMERICAL.index("followers")
    assert (dense[200:, followers] == 1).mean() > 0.5 and (dense[200:, followers + len(NUMERICAL)] == 1).mean() > 0.5
    assert dense.shape[1] == 3 * len(NUMERICAL)
    assert arrays["sparse"][200, 0] == 0 and arrays["user"][200] == -1  # unseen user → index 0 / label -1
    centres = np.sort(fitted.kmeans.cluster_centers_[:, 0])
    assert centres.max() <= np.log1p(train["followers"].astype(float)).max() + 1e-9
    assert (np.diff(fitted.cluster_order[np.argsort(fitted.kmeans.cluster_centers_[:, 0])]) == 1).all()
    np.testing.assert_allclose(arrays["image"][:200].mean(0), 0, atol=1e-5)  # standardised with train stats


def test_embeddings_outside_the_train_range_are_clipped_to_it():
    train, test = _profiles(200, 0), _profiles(5, 1)
    test["image_embedding"] = [np.full(6, 80.0, dtype=np.float32)] * 5  # far outside the train values
    fitted = Preprocessor(n_clusters=4).fit(train)
    image = fitted.transform(test)["image"]
    np.testing.assert_allclose(image, np.broadcast_to(fitted.image_range[1], image.shape), rtol=1e-6)
    assert fitted.transform(train)["image"].max() == pytest.approx(float(fitted.image_range[1].max()), rel=1e-6)


def test_a_missing_content_label_is_no_label_not_a_class():
    train = _profiles(40, 0)
    train["concept"] = train["concept"].astype("string")
    train.loc[:4, "concept"] = pd.NA
    fitted = Preprocessor(n_clusters=4).fit(train)
    levels = fitted.transform(train)["levels"]
    assert (levels[:5, 2] == -1).all() and (levels[5:, 2] >= 0).all()
    assert "<missing>" not in fitted.level_vocab["concept"]


def test_preprocessor_names_a_negative_count():
    train = _profiles(30, 0)
    train.loc[3, "total_faves"] = -5
    with pytest.raises(PPCLDataError, match="total_faves"):
        Preprocessor(n_clusters=3).fit(train)


def test_train_subsets_are_nested_and_keep_val_and_test():
    frame = _posts(60)
    frame["split"] = chronological_split(frame, {"train": 0.8, "val": 0.1, "test": 0.1})
    third, two_thirds = train_subset(frame, 1 / 3, 0), train_subset(frame, 2 / 3, 0)
    assert (third["split"] == "train").sum() == 16 and (two_thirds["split"] == "train").sum() == 32
    assert set(third.index) <= set(two_thirds.index)
    for part in (third, two_thirds):
        assert (part["split"] != "train").sum() == 12
