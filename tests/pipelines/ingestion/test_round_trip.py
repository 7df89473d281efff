"""The world written in four formats ingests to the same facts, field by field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import NATIVE_ID

# What each format carries, as (canonical column, truth column).
FIELDS = {
    "smpd": [
        ("title", "title"),
        ("category", "category"),
        ("subcategory", "subcategory"),
        ("concept", "concept"),
        ("posted_at", "posted_at"),
        ("observed_at", "observed_at"),
        ("popularity_label", "label"),
    ],
    "pixelrec": [
        ("title", "title"),
        ("caption", "description"),
        ("views", "views"),
        ("likes", "likes"),
        ("comments", "comments"),
        ("shares", "shares"),
        ("favorites", "favorites"),
        ("coins", "coins"),
        ("barrage", "barrage"),
    ],
    "crowdtangle": [
        ("caption", "caption"),
        ("posted_at", "posted_at"),
        ("likes", "likes"),
        ("comments", "comments"),
        ("shares", "shares"),
        ("reaction_haha", "reaction_haha"),
        ("reaction_sorry", "reaction_sorry"),
        ("reaction_angry", "reaction_angry"),
        ("reaction_wow", "reaction_wow"),
        ("reaction_love", "reaction_love"),
    ],
    "instaloader": [("caption", "caption"), ("posted_at", "posted_at"), ("likes", "likes"), ("comments", "comments")],
}


def joined(catalog, source: str) -> pd.DataFrame:
    """Canonical posts of one source joined to the truth of their clean posts."""
    truth = catalog.load("ground_truth_posts")
    truth = truth[truth["defect"] == ""].assign(native_id=lambda d: d[NATIVE_ID[source]].astype(str))
    posts = catalog.load("posts")
    posts = posts[posts["source"] == source]
    return posts.merge(truth, on="native_id", suffixes=("", "_truth"))


@pytest.mark.parametrize("source", list(FIELDS))
def test_every_clean_post_round_trips(tiny_ingested, source):
    catalog = tiny_ingested
    table = joined(catalog, source)
    clean = int((catalog.load("ground_truth_posts")["defect"] == "").sum())
    assert len(table) == clean  # every clean post, once
    for canonical, truth in FIELDS[source]:
        got = table[canonical]
        want = table[f"{truth}_truth"] if f"{truth}_truth" in table else table[truth]
        if canonical == "posted_at":
            assert (got == want.dt.floor("s")).all(), canonical
        elif canonical == "popularity_label":
            assert np.allclose(got.astype(float), want, atol=1e-4), canonical
        else:
            assert (got.astype(str) == want.astype(str)).all(), (source, canonical)


@pytest.mark.parametrize("source", ["smpd", "pixelrec"])
def test_tags_round_trip(tiny_ingested, source):
    table = joined(tiny_ingested, source)
    assert (table["tags"].map(list) == table["tags_truth"].map(list)).all()


def test_users_round_trip(tiny_ingested):
    catalog = tiny_ingested
    truth = catalog.load("ground_truth_users")
    users = catalog.load("users")
    smpd = users[users["source"] == "smpd"].merge(truth, left_on="native_id", right_on="smpd_uid", suffixes=("", "_t"))
    assert len(smpd) == len(truth)
    for column in ["followers", "following", "total_views", "total_faves", "timezone_id", "timezone_offset"]:
        assert (smpd[column].astype(str) == smpd[f"{column}_t"].astype(str)).all(), column
    assert (smpd["photo_firstdate"] == pd.to_datetime(smpd["photo_firstdate_t"], unit="s", utc=True)).all()
    assert np.allclose(np.stack(smpd["user_description"]), np.stack(smpd["user_description_t"]), atol=1e-5)
    insta = users[users["source"] == "instaloader"].merge(truth, on="username", suffixes=("", "_t"))
    assert len(insta) == len(truth) and (insta["followers"] == insta["followers_t"]).all()
    pages = users[users["source"] == "crowdtangle"].merge(
        truth, left_on="native_id", right_on=truth["fb_page_id"].astype(str), suffixes=("", "_t")
    )
    assert len(pages) == len(truth) and (pages["followers"] == pages["followers_t"]).all()


def test_comments_and_images_round_trip(tiny_ingested):
    catalog = tiny_ingested
    truth = catalog.load("ground_truth_posts")
    comments = catalog.load("comments")
    expected = truth["comments"].clip(upper=30).sum()
    assert len(comments) == expected
    images = catalog.load("images")
    # Every format: one decodable image per post, less the corrupt and the missing ones.
    per_source = images.groupby("source").size()
    n_bad = int(truth["defect"].isin(["corrupt_image", "missing_image"]).sum())
    assert (per_source == len(truth) - n_bad).all() and len(per_source) == 4
    # The same picture under four formats has one content hash.
    assert images.groupby("sha1")["source"].nunique().eq(4).all()
    assert set(images["width"]) == {64}
