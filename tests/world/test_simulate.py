"""The planted structure is really there, measured from the raw files as a user would see them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engagement_lab.world.config import EMOTIONS, build_config
from engagement_lab.world.simulate import EMOTION_WORDS, simulate
from tests.conftest import run_sample_world, world_params

NOISE_SHARE = 0.25


@pytest.fixture(scope="module")
def medium_world(tmp_path_factory):
    """6,000 posts in SMPD and CrowdTangle formats, no images: enough for stable statistics."""
    root = tmp_path_factory.mktemp("medium")
    params = world_params(
        preset="demo",
        n_users=400,
        n_posts=6000,
        render_images=False,
        emotion_subset_size=0,
        formats=["smpd", "crowdtangle"],
        defect_share=0.0,
        noise_share=NOISE_SHARE,
    )
    catalog = run_sample_world(root, params)
    raw = root / "data/01_raw/sample_world"
    smpd = raw / "smpd/train_allmetadata_json"
    table = pd.DataFrame(json.loads((smpd / "train_additional_information.json").read_text()))
    table["label"] = np.loadtxt(raw / "smpd/train_label.txt")
    table = table.merge(pd.DataFrame(json.loads((smpd / "train_category.json").read_text())), on=["Pid", "Uid"])
    followers = pd.read_csv(raw / "smpd/user_additional.txt", sep=" ")
    table = table.merge(followers, on="Pathalias", how="left")
    truth = catalog.load("ground_truth_posts").assign(Pid=lambda d: d["smpd_pid"])
    table = table.merge(truth[["Pid", "oracle_score", "emotion", "on_habit", "fb_post_id", "concept_id"]], on="Pid")
    facebook = pd.read_csv(raw / "crowdtangle/posts.csv")
    facebook["fb_post_id"] = facebook["Facebook Id"].astype(str) + "_" + facebook["URL"].str.rsplit("/", n=1).str[1]
    facebook = facebook.merge(truth[["fb_post_id", "emotion"]], on="fb_post_id")
    comments = pd.read_csv(raw / "crowdtangle/comments.csv")
    comments["emotion"] = truth.set_index("fb_post_id").loc[comments["post_id"], "emotion"].to_numpy()
    return table, facebook, catalog, comments


def test_raw_tables_line_up(medium_world):
    table, facebook, _, _ = medium_world
    assert len(table) == 6000 and len(facebook) == 6000
    assert table["followerCount"].notna().all()


def test_follower_count_drives_popularity(medium_world):
    table, _, _, _ = medium_world
    r = np.corrcoef(np.log(table["followerCount"]), table["label"])[0, 1]
    assert 0.4 < r < 0.9  # a strong planted term, not the only one


def test_follower_counts_are_log_normal(medium_world):
    _, _, catalog, _ = medium_world
    log_f = np.log(catalog.load("ground_truth_users")["followers"])
    config = build_config(world_params())
    assert log_f.mean() == pytest.approx(config.followers_log_mean, abs=0.2)
    assert log_f.std() == pytest.approx(config.followers_log_sd, abs=0.15)
    assert abs(pd.Series(log_f).skew()) < 0.3


def test_noise_share_of_label_variance_matches_the_parameter(medium_world):
    table, _, _, _ = medium_world
    residual = table["label"] - table["oracle_score"]
    share = residual.var() / table["label"].var()
    assert share == pytest.approx(NOISE_SHARE, abs=0.03)
    assert abs(residual.mean()) < 0.05  # the oracle is unbiased on the raw label


def test_concepts_have_different_appeal(medium_world):
    table, _, catalog, _ = medium_world
    taxonomy = catalog.load("ground_truth_taxonomy").set_index("concept_id")
    # Residual of the label after the follower term, averaged per concept, tracks the planted appeal.
    slope = np.polyfit(np.log(table["followerCount"]), table["label"], 1)
    residual = table["label"] - np.polyval(slope, np.log(table["followerCount"]))
    per_concept = residual.groupby(table["Concept"]).mean()
    appeal = taxonomy.set_index("concept")["appeal"].loc[per_concept.index]
    assert np.corrcoef(per_concept, appeal)[0, 1] > 0.6


def test_novelty_lifts_off_habit_posts(medium_world):
    table, _, catalog, _ = medium_world
    users = catalog.load("ground_truth_users")
    effect = build_config(world_params()).novelty_effect
    # Compare within users, so follower and user effects cancel.
    centred = table["label"] - table.groupby("Uid")["label"].transform("mean")
    lift = centred[~table["on_habit"]].mean() - centred[table["on_habit"]].mean()
    assert lift == pytest.approx(effect, abs=0.2)
    assert 0.15 < (~table["on_habit"]).mean() < 0.35
    assert len(users) == 400


def test_novelty_lifts_the_like_rate_and_leaves_every_other_draw(medium_world):
    _, _, catalog, _ = medium_world
    posts = catalog.load("ground_truth_posts")
    config = build_config(world_params())
    assert config.like_novelty_effect > 0
    # Likes per view: log2 of the off-habit rate over the on-habit rate, on top of the views' novelty.
    rate = posts.groupby("on_habit")["likes"].sum() / posts.groupby("on_habit")["views"].sum()
    lift = np.log2(rate[False] / rate[True])
    assert lift == pytest.approx(config.like_novelty_effect, abs=0.15)

    # Without the lift the world draws the same views, counts and reactions; likes differ off habit only.
    small = world_params(preset="tiny", render_images=False)
    lifted = simulate(build_config(small)).posts
    flat = simulate(build_config({**small, "like_novelty_effect": 0.0})).posts
    off = ~lifted["on_habit"]
    assert off.any() and (lifted.loc[off, "likes"] != flat.loc[off, "likes"]).mean() > 0.5
    pd.testing.assert_frame_equal(lifted.loc[~off], flat.loc[~off])
    pd.testing.assert_frame_equal(lifted.drop(columns="likes"), flat.drop(columns="likes"))


def test_reaction_mix_follows_the_emotion(medium_world):
    _, facebook, _, _ = medium_world
    buttons = {"joy": "Haha", "love": "Love", "surprise": "Wow", "anger": "Angry", "sadness": "Sad"}
    shares = facebook.groupby("emotion")[["Haha", "Sad", "Angry", "Wow", "Love"]].sum()
    shares = shares.div(shares.sum(axis=1), axis=0)
    for emotion, button in buttons.items():
        assert shares.loc[emotion].idxmax() == button, emotion
        assert shares.loc[emotion, button] > 0.55
    assert shares.loc["fear", ["Sad", "Wow"]].sum() > 0.6


def test_engagement_counts_correlate_with_views_differently(medium_world):
    _, _, catalog, _ = medium_world
    posts = catalog.load("ground_truth_posts")
    logs = np.log1p(posts[["views", "likes", "favorites", "comments", "shares"]])
    r = logs.corr()["views"]
    assert r["likes"] > r["favorites"] > r["comments"] > 0.5
    assert r["shares"] < r["likes"]


def test_comment_words_carry_the_emotion(medium_world):
    comments = medium_world[3]
    for emotion in EMOTIONS:
        own = "|".join(EMOTION_WORDS[emotion])
        texts = comments.loc[comments["emotion"] == emotion, "text"]
        hit = texts.str.contains(rf"\b(?:{own})\b").mean()
        assert hit > 0.7, emotion
