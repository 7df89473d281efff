"""Each injected defect, in each format, ends where it should: rejected with its reason,
or repaired with the value and why. Nothing is lost."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from engagement_lab.ingestion.common import IngestionError
from engagement_lab.pipelines.ingestion import create_pipeline
from tests.conftest import NATIVE_ID, base_params, run_ingestion, run_sample_world, world_params

# (defect, format) → (table, field, reason, action) in the quarantine.
OUTCOMES = {
    ("corrupt_image", "smpd"): ("images", "image", "image does not decode", "rejected"),
    ("corrupt_image", "pixelrec"): ("images", "image", "image does not decode", "rejected"),
    ("corrupt_image", "crowdtangle"): ("images", "image", "image does not decode", "rejected"),
    ("corrupt_image", "instaloader"): ("images", "image", "image does not decode", "rejected"),
    ("missing_image", "smpd"): ("posts", "image", "image file missing: post kept without image", "repaired"),
    ("missing_image", "pixelrec"): ("posts", "image", "image file missing: post kept without image", "repaired"),
    ("missing_image", "crowdtangle"): ("posts", "image", "image file missing: post kept without image", "repaired"),
    ("missing_image", "instaloader"): ("posts", "image", "image file missing: post kept without image", "repaired"),
    ("sentinel", "smpd"): ("users", "photo_count", "sentinel read as missing", "repaired"),
    ("duplicate_id", "smpd"): ("posts", "Pid", "duplicate Pid: first record kept", "rejected"),
    ("duplicate_id", "pixelrec"): ("posts", "item_id", "duplicate item_id: first record kept", "rejected"),
    ("duplicate_id", "crowdtangle"): ("posts", "native_id", "duplicate native_id: first record kept", "rejected"),
    ("negative_count", "smpd"): ("users", "photo_count", "negative count, read as missing", "repaired"),
    ("negative_count", "pixelrec"): ("posts", "view_number", "negative count, read as missing", "repaired"),
    ("negative_count", "crowdtangle"): ("posts", "Likes", "negative count, read as missing", "repaired"),
    ("negative_count", "instaloader"): (
        "posts",
        "edge_media_preview_like",
        "negative count, read as missing",
        "repaired",
    ),
    ("missing_count", "smpd"): ("posts", "label", "value missing", "repaired"),
    ("missing_count", "pixelrec"): ("posts", "view_number", "value missing", "repaired"),
    ("missing_count", "crowdtangle"): ("posts", "Likes", "value missing", "repaired"),
    ("missing_count", "instaloader"): ("posts", "edge_media_preview_like", "value missing", "repaired"),
    ("non_utf8", "smpd"): ("posts", "Title", "non-UTF-8 bytes decoded as latin-1", "repaired"),
    ("non_utf8", "pixelrec"): ("posts", "title", "non-UTF-8 bytes decoded as latin-1", "repaired"),
    ("non_utf8", "crowdtangle"): ("posts", "Message", "non-UTF-8 bytes decoded as latin-1", "repaired"),
    ("non_utf8", "instaloader"): ("posts", "caption", "non-UTF-8 bytes decoded as latin-1", "repaired"),
    ("zero_days", "smpd"): (
        "posts",
        "Postdate",
        "zero days since posting: label log2(views/days)+1 undefined, set missing",
        "repaired",
    ),
}


@pytest.mark.parametrize(("defect", "source"), list(OUTCOMES))
def test_defect_outcome(tiny_ingested, defect, source):
    catalog = tiny_ingested
    table, field, reason, action = OUTCOMES[(defect, source)]
    truth = catalog.load("ground_truth_posts")
    hit = truth[truth["defect"] == defect]
    quarantine = catalog.load("quarantine")
    rows = quarantine[
        (quarantine["source"] == source) & (quarantine["reason"] == reason) & (quarantine["field"] == field)
    ]
    assert len(rows) == len(hit) == 8, rows
    assert set(rows["table"]) == {table} and set(rows["action"]) == {action}
    posts = catalog.load("posts")
    mine = posts[(posts["source"] == source) & posts["native_id"].isin(hit[NATIVE_ID[source]].astype(str))]
    # A rejected duplicate leaves its first copy; a repaired post stays, with the repair applied.
    assert len(mine) == len(hit)
    if defect == "non_utf8":
        text = {"smpd": "title", "pixelrec": "title", "crowdtangle": "caption", "instaloader": "caption"}[source]
        assert mine[text].str.endswith("café crème").all()
        assert rows["value"].str.endswith("café crème").all()
    if defect in ("negative_count", "missing_count") and source != "smpd":
        count = {"pixelrec": "views", "crowdtangle": "likes", "instaloader": "likes"}[source]
        assert mine[count].isna().all()
    if defect == "missing_image":
        assert mine["image_path"].isna().all()
    if defect in ("zero_days", "missing_count") and source == "smpd":
        assert mine["popularity_label"].isna().all()


def test_sentinels_and_string_numbers_are_typed(tiny_ingested):
    users = tiny_ingested.load("users")
    smpd = users[users["source"] == "smpd"]
    assert str(smpd["photo_count"].dtype) == "Int64" and str(smpd["is_pro"].dtype) == "boolean"
    posts = tiny_ingested.load("posts")
    assert (
        str(posts["views"].dtype) == "Int64" and posts.loc[posts["source"] == "pixelrec", "views"].notna().mean() > 0.9
    )
    # "0" geo and "None" sentinels never become zeros.
    assert not (smpd["photo_count"] == 0).any()


def test_nothing_is_lost(tiny_ingested):
    reconciliation = tiny_ingested.load("ingestion_reconciliation")
    assert reconciliation["balanced"].all()
    assert set(zip(reconciliation["source"], reconciliation["table"], strict=True)) >= {
        ("smpd", "posts"),
        ("smpd", "images"),
        ("smpd", "users"),
        ("pixelrec", "posts"),
        ("pixelrec", "images"),
        ("pixelrec", "interactions"),
        ("crowdtangle", "posts"),
        ("crowdtangle", "comments"),
        ("crowdtangle", "images"),
        ("instaloader", "posts"),
        ("instaloader", "users"),
        ("instaloader", "images"),
    }
    posts = reconciliation[reconciliation["table"] == "posts"].set_index("source")
    assert (posts.loc[["smpd", "pixelrec", "crowdtangle"], "records_in"] == 408).all()  # 400 + 8 duplicates
    assert (posts.loc[["smpd", "pixelrec", "crowdtangle"], "rejected"] == 8).all()


@pytest.mark.slow
def test_nothing_is_lost_on_the_demo_world_with_defects(tmp_path):
    catalog = run_sample_world(tmp_path, world_params(preset="demo", defect_share=0.01))
    run_ingestion(catalog)
    reconciliation = catalog.load("ingestion_reconciliation")
    assert reconciliation["balanced"].all() and len(reconciliation) == 12 + 4  # and one files line per source
    files = reconciliation[reconciliation["table"] == "files"]
    assert (files["ignored"] == 0).all() and (files["rejected"] == 0).all()  # the world writes only its layouts
    quarantine = catalog.load("quarantine")
    assert (quarantine["action"] == "rejected").sum() == reconciliation["rejected"].sum()
    posts = catalog.load("posts")
    assert posts.groupby("source").size().eq(3000).all()


def test_strict_mode_names_file_record_and_field(tiny_world):
    _, catalog = tiny_world
    with pytest.raises(
        IngestionError, match=r"strict ingestion: \d+ issue\(s\); first: smpd file \S+ record .+ field \S+: "
    ):
        run_ingestion(catalog, strict=True)


def test_strict_mode_passes_a_clean_world(tmp_path):
    catalog = run_sample_world(tmp_path, world_params(preset="tiny", formats=["smpd", "pixelrec"]))
    run_ingestion(catalog, strict=True, sources=["smpd", "pixelrec"])
    assert set(catalog.load("posts")["source"]) == {"smpd", "pixelrec"}
    assert len(catalog.load("quarantine")) == 0


def test_a_selected_source_without_data_is_named(tmp_path):
    catalog = run_sample_world(
        tmp_path, world_params(preset="tiny", formats=["smpd"], render_images=False, emotion_subset_size=0)
    )
    with pytest.raises(
        IngestionError, match="pixelrec is selected in ingestion.sources but .*pixelrec is missing or empty"
    ):
        run_ingestion(catalog, sources=["smpd", "pixelrec"])
    run_ingestion(catalog, sources=["smpd"])
    assert len(catalog.load("posts")) == 400


def test_unknown_source_is_named(tiny_world):
    _, catalog = tiny_world
    with pytest.raises(IngestionError, match=r"unknown sources \['flickr'\]"):
        run_ingestion(catalog, sources=["smpd", "flickr"])


@pytest.mark.parametrize(("names", "orient"), [("2020", "records"), ("2019", "records")])
def test_smpd_variants_ingest_the_same(tmp_path, names, orient):
    catalog = run_sample_world(
        tmp_path, world_params(preset="tiny", formats=["smpd"], smpd_names=names, smpd_user_orient=orient)
    )
    run_ingestion(catalog, sources=["smpd"])
    users = catalog.load("users")
    truth = catalog.load("ground_truth_users")
    assert len(users) == len(truth)
    assert users["photo_count"].astype(int).tolist() == truth.sort_values("smpd_uid")["photo_count"].tolist()


def test_pipeline_slice_runs_on_a_memory_catalog(tiny_world):
    """The template reads one source with only its raw folder and the parameters."""
    _, world_catalog = tiny_world
    catalog = DataCatalog()
    catalog["raw_pixelrec"] = world_catalog.load("sample_world_pixelrec")  # the folder the sample world wrote
    catalog["params:ingestion"] = base_params("ingestion")
    out = SequentialRunner().run(create_pipeline().only_nodes_with_namespaces(["ingestion.pixelrec"]), catalog)
    ingested = out["ingested_pixelrec"].load()
    assert len(ingested.tables["posts"]) == 400 and ingested.records_in["posts"] == 408
    rejected = ingested.issues[ingested.issues["action"] == "rejected"]
    assert len(rejected) == 16  # 8 duplicate items, 8 corrupt covers
