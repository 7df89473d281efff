"""The raw formats' published quirks and every injected defect, read back from the files."""

from __future__ import annotations

import csv
import io
import json
import lzma
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from engagement_lab.world.config import WorldConfig
from engagement_lab.world.export import write_smpd
from engagement_lab.world.simulate import simulate

SMPD_JSON = "smpd/train_allmetadata_json"


def read_json(path: Path):
    return json.loads(path.read_bytes().decode("utf-8", errors="replace"))


def test_smpd_numbers_are_strings_and_user_json_is_column_oriented(tiny_world):
    raw, catalog = tiny_world
    n_rows = len(catalog.load("ground_truth_posts")) + int(
        (catalog.load("ground_truth_posts")["defect"] == "duplicate_id").sum()
    )
    temporal = read_json(raw / SMPD_JSON / "train_temporalspatial_information.json")
    assert len(temporal) == n_rows
    assert all(isinstance(r["Postdate"], str) and r["Postdate"].isdigit() for r in temporal)
    posted = catalog.load("ground_truth_posts")["posted_at"]
    written = pd.to_datetime([int(r["Postdate"]) for r in temporal[: len(posted)]], unit="s", utc=True)
    assert (written == posted.dt.floor("s")).all()
    assert {r["Latitude"] for r in temporal} == {"0"}  # "0" is SMPD's "no geotag" sentinel
    users = read_json(raw / SMPD_JSON / "train_user_data.json")
    assert isinstance(users, dict) and set(users["Pid"]) == {str(i) for i in range(n_rows)}
    assert "timezone_timezone_id" in users and "timezone_id" not in users
    descriptions = list(users["user_description"].values())
    assert all(len(d.split(",")) == 8 and float(d.split(",")[0]) == float(d.split(",")[0]) for d in descriptions)
    assert "\n" in users["location_description"].values()  # empty description as a lone newline
    text = read_json(raw / SMPD_JSON / "train_text.json")
    assert "Title" in text[0] and isinstance(text[0]["Alltags"], str) and " " in text[0]["Alltags"]
    paths = (raw / "smpd/train_img_filepath.txt").read_text().splitlines()
    assert paths[0] == f"train/{text[0]['Uid']}/{text[0]['Pid']}.jpg"
    labels = (raw / "smpd/train_label.txt").read_text().splitlines()
    assert len(labels) == len(paths) == n_rows
    header = (raw / "smpd/user_additional.txt").read_text().splitlines()[0].split()
    assert header == [
        "Pathalias",
        "totalViews",
        "totalTags",
        "totalGeotagged",
        "totalFaves",
        "totalInGroup",
        "photoCount",
        "followerCount",
        "followingCount",
    ]


def test_smpd_labels_match_views_over_days(tiny_world):
    raw, catalog = tiny_world
    posts = catalog.load("ground_truth_posts")
    labels = (raw / "smpd/train_label.txt").read_text().splitlines()[: len(posts)]
    ok = posts["defect"].isin(
        ["", "sentinel", "non_utf8", "corrupt_image", "missing_image", "negative_count", "duplicate_id"]
    )
    written = pd.Series(labels)[ok.to_numpy()].astype(float).to_numpy()
    assert written == pytest.approx(posts.loc[ok, "label"].to_numpy(), abs=1e-4)


@pytest.mark.parametrize("names,orient", [("2020", "records"), ("2019", "records"), ("2020", "columns")])
def test_smpd_variants(names, orient):
    world = simulate(WorldConfig(n_users=5, n_posts=20, smpd_names=names, smpd_user_orient=orient, formats=("smpd",)))
    files, _ = write_smpd(world, {})
    root = "train_allmetadata_json" if names == "2019" else "train_all_json"
    users = json.loads(files[f"{root}/train_user_data.json"])
    if orient == "records":
        assert isinstance(users, list) and len(users) == 20 and "photo_count" in users[0]
    else:
        assert isinstance(users, dict) and len(users["photo_count"]) == 20


def test_pixelrec_counts_are_floats_as_text(tiny_world):
    raw, catalog = tiny_world
    rows = list(csv.DictReader(io.StringIO((raw / "pixelrec/item_info.csv").read_bytes().decode("utf-8", "replace"))))
    assert list(rows[0]) == [
        "item_id",
        "view_number",
        "comment_number",
        "thumbup_number",
        "share_number",
        "coin_number",
        "favorite_number",
        "barrage_number",
        "title",
        "tag",
        "description",
    ]
    clean = [r for r in rows if r["view_number"] and not r["view_number"].startswith("-")]
    assert all(r["thumbup_number"].endswith(".0") for r in clean)
    posts = catalog.load("ground_truth_posts").set_index("pixelrec_item_id")
    first = clean[0]
    assert float(first["view_number"]) == posts.loc[int(first["item_id"]), "views"]
    interactions = pd.read_csv(raw / "pixelrec/interactions.csv")
    assert list(interactions.columns) == ["item_id", "user_id", "timestamp"]
    assert set(interactions["item_id"]) <= set(posts.index)
    after = (
        pd.to_datetime(interactions["timestamp"], unit="s", utc=True)
        > posts.loc[interactions["item_id"], "posted_at"].to_numpy()
    )
    assert after.all()


def test_instaloader_metadata_is_xz_json(tiny_world):
    raw, catalog = tiny_world
    posts = catalog.load("ground_truth_posts").set_index("ig_shortcode")
    meta_files = sorted((raw / "instaloader").rglob("*_UTC.json.xz"))
    assert len(meta_files) == len(posts)
    meta = json.loads(lzma.decompress(meta_files[0].read_bytes()))
    node = meta["node"]
    assert meta["instaloader"]["node_type"] == "Post"
    truth = posts.loc[node["shortcode"]]
    assert meta_files[0].name == truth["posted_at"].strftime("%Y-%m-%d_%H-%M-%S_UTC") + ".json.xz"
    if truth["defect"] not in ("missing_count", "negative_count"):
        assert node["edge_media_preview_like"]["count"] == truth["likes"]
    profiles = [p for p in (raw / "instaloader").rglob("*.json.xz") if "_UTC" not in p.name]
    assert len(profiles) == len(catalog.load("ground_truth_users"))


def test_crowdtangle_reactions_and_comments(tiny_world):
    raw, catalog = tiny_world
    posts_csv = pd.read_csv(raw / "crowdtangle/posts.csv", encoding="latin-1")
    for col in [
        "Likes",
        "Comments",
        "Shares",
        "Love",
        "Wow",
        "Haha",
        "Sad",
        "Angry",
        "Care",
        "Followers at Posting",
        "Post Created",
        "Message",
        "Link",
        "Facebook Id",
    ]:
        assert col in posts_csv.columns, col
    comments = pd.read_csv(raw / "crowdtangle/comments.csv")
    assert list(comments.columns) == ["id", "post_id", "parent_id", "post_created", "text"]
    truth = catalog.load("ground_truth_posts")
    assert set(comments["post_id"]) <= set(truth["fb_post_id"])
    per_post = comments.groupby("post_id").size()
    expected = truth.set_index("fb_post_id")["comments"].clip(upper=30)
    assert (per_post == expected.loc[per_post.index]).all()
    replies = comments.dropna(subset=["parent_id"])
    assert len(replies) > 0 and replies["parent_id"].isin(comments["id"]).all()


def test_every_defect_kind_is_written_and_recorded(tiny_world):
    raw, catalog = tiny_world
    defects = catalog.load("ground_truth_defects")
    posts = catalog.load("ground_truth_posts")
    assert set(defects["kind"]) == set(WorldConfig().defect_kinds)
    per_format = defects.groupby("format")["kind"].apply(set).to_dict()
    assert per_format["instaloader"] == set(WorldConfig().defect_kinds) - {"duplicate_id", "sentinel", "zero_days"}
    assert defects["post_id"].isin(posts["post_id"]).all()
    by_kind = {k: posts.loc[posts["defect"] == k] for k in WorldConfig().defect_kinds}
    assert all(len(v) == 8 for v in by_kind.values())  # 2% of 400 posts each

    # Corrupt images do not decode; missing images are absent; clean ones decode.
    for post in by_kind["corrupt_image"].itertuples():
        with pytest.raises(OSError):
            Image.open(raw / "pixelrec/cover" / f"{post.pixelrec_item_id}.jpg").load()
    for post in by_kind["missing_image"].itertuples():
        assert not (raw / "pixelrec/cover" / f"{post.pixelrec_item_id}.jpg").exists()
    clean = posts.loc[posts["defect"] == ""].iloc[0]
    Image.open(raw / "pixelrec/cover" / f"{clean.pixelrec_item_id}.jpg").load()

    # Non-UTF-8 bytes sit in the text fields of every format.
    for path in ["smpd/train_allmetadata_json/train_text.json", "pixelrec/item_info.csv", "crowdtangle/posts.csv"]:
        with pytest.raises(UnicodeDecodeError):
            (raw / path).read_bytes().decode("utf-8")
    assert b"caf\xe9" in (raw / "smpd/train_allmetadata_json/train_text.json").read_bytes()

    # Zero days: posted on the observation day, label infinite; sentinels as "None".
    labels = (raw / "smpd/train_label.txt").read_text().splitlines()
    for post in by_kind["zero_days"].itertuples():
        assert post.days == 0 and labels[post.post_id] == "inf"
    for post in by_kind["missing_count"].itertuples():
        assert labels[post.post_id] == ""
    users = read_json(raw / SMPD_JSON / "train_user_data.json")
    for post in by_kind["sentinel"].itertuples():
        assert users["photo_count"][str(post.post_id)] == "None" and users["ispro"][str(post.post_id)] == "None"
    for post in by_kind["negative_count"].itertuples():
        assert int(users["photo_count"][str(post.post_id)]) < 0

    # Duplicates: the same id twice in SMPD, PixelRec and CrowdTangle.
    pids = [r["Pid"] for r in read_json(raw / SMPD_JSON / "train_category.json")]
    dup = by_kind["duplicate_id"]
    assert all(pids.count(p) == 2 for p in dup["smpd_pid"])
    assert len(pids) == len(posts) + len(dup)
