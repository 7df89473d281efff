"""The sample_world pipeline end to end: determinism, layouts, counts that add up."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import FORMATS, run_sample_world, world_params


def checksums(raw: Path) -> dict[str, str]:
    return {
        str(p.relative_to(raw)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(raw.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_raw_files(tiny_world, tmp_path):
    raw, _ = tiny_world
    run_sample_world(tmp_path, world_params(preset="tiny", defect_share=0.02))
    first, second = checksums(raw), checksums(tmp_path / "data/01_raw/sample_world")
    assert len(first) > 1000
    assert first == second


def test_different_seed_gives_different_raw_files(tiny_world, tmp_path):
    raw, _ = tiny_world
    run_sample_world(tmp_path, world_params(preset="tiny", defect_share=0.02, seed=7))
    first, other = checksums(raw), checksums(tmp_path / "data/01_raw/sample_world")
    shared = set(first) & set(other)
    for name in ["smpd/train_label.txt", "pixelrec/item_info.csv", "crowdtangle/posts.csv", "crowdtangle/comments.csv"]:
        assert first[name] != other[name], name
    # Image files exist under both seeds; nearly all differ in content.
    images = [n for n in shared if n.endswith(".jpg")]
    assert sum(first[n] != other[n] for n in images) > 0.9 * len(images)


def test_every_format_is_written_with_its_layout(tiny_world):
    raw, catalog = tiny_world
    posts = catalog.load("ground_truth_posts")
    users = catalog.load("ground_truth_users")
    assert {p.name for p in raw.iterdir()} == {*FORMATS, "emotion_subset", "new_posts"}
    for name in [
        "train_category.json",
        "train_text.json",
        "train_temporalspatial_information.json",
        "train_user_data.json",
        "train_additional_information.json",
    ]:
        assert (raw / "smpd/train_allmetadata_json" / name).is_file()
    assert (raw / "pixelrec/item_info.csv").is_file() and (raw / "pixelrec/interactions.csv").is_file()
    assert (raw / "crowdtangle/posts.csv").is_file() and (raw / "crowdtangle/comments.csv").is_file()
    assert {p.name for p in (raw / "instaloader").iterdir()} == set(users["username"])
    # Images: one per post and format, less the missing ones; one folder per emotion.
    missing = int((posts["defect"] == "missing_image").sum())
    assert len(list((raw / "smpd/train").rglob("*.jpg"))) == len(posts) - missing
    assert len(list((raw / "pixelrec/cover").glob("*.jpg"))) == len(posts) - missing
    assert len(list((raw / "crowdtangle/images").glob("*.jpg"))) == len(posts) - missing
    assert len(list((raw / "instaloader").rglob("*_UTC.jpg"))) == len(posts) - missing
    assert len(list((raw / "instaloader").rglob("*_UTC.txt"))) == len(posts)
    assert len(list((raw / "emotion_subset").rglob("*.jpg"))) == 120
    assert {p.name for p in (raw / "emotion_subset").iterdir()} == {
        "joy",
        "love",
        "surprise",
        "anger",
        "sadness",
        "fear",
    }


def test_ground_truth_is_kept_apart_and_complete(tiny_world):
    raw, catalog = tiny_world
    posts = catalog.load("ground_truth_posts")
    users = catalog.load("ground_truth_users")
    assert not any("ground_truth" in str(p) or p.suffix == ".parquet" for p in raw.rglob("*"))
    components = ["follower_term", "user_term", "concept_term", "emotion_term", "novelty_term", "time_term"]
    rebuilt = 5.0 + posts[components].sum(axis=1)  # 5.0: WorldConfig.base_popularity
    assert (rebuilt - posts["oracle_score"]).abs().max() < 1e-9
    assert ((posts["oracle_score"] + posts["noise"]) - posts["latent_score"]).abs().max() < 1e-9
    for col in ["concept", "subcategory", "category", "emotion", "on_habit", "noise"]:
        assert posts[col].notna().all(), col
    assert {"user_effect", "habits", "followers"} <= set(users.columns)
    assert users["habits"].map(len).eq(3).all()


def test_summary_reports_the_world(tiny_world):
    _, catalog = tiny_world
    summary = catalog.load("sample_world_summary")
    assert summary["posts"] == 400 and summary["users"] == 30
    assert set(summary["defects"]) == set(FORMATS)
    assert summary["noise_share_realised"] == pytest.approx(0.25, abs=0.08)
    like_novelty = summary["config"]["like_novelty_effect"]
    assert summary["like_novelty_realised"] == pytest.approx(like_novelty, abs=0.3)  # ~100 off-habit posts
    json.dumps(summary)  # plain JSON, no numpy scalars


def test_metadata_only_preset_writes_no_images(tmp_path):
    params = world_params(preset="tiny", render_images=False, formats=["smpd"], emotion_subset_size=0)
    run_sample_world(tmp_path, params)
    raw = tmp_path / "data/01_raw/sample_world"
    assert not list(raw.rglob("*.jpg"))
    assert len((raw / "smpd/train_label.txt").read_text().splitlines()) == 400
    assert not [p for p in raw.rglob("*") if p.is_file() and p.parts[-2] != "smpd" and "smpd" not in p.parts]
