"""The engagement pipeline on a user's own, partial data: the input check, counts the export lacks, no cover
images, no ground truth, tags as one string, and the dataset the contract names."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engagement_lab.core.inputs_check import InputsMissingError
from engagement_lab.core.results import contract_metrics
from engagement_lab.engagement.data import add_text_features, build_model_input
from engagement_lab.engagement.tabular import MIN_IMAGE_POSTS, feature_builder, image_skip_reason
from engagement_lab.engagement.targets import engagement_score, fit_targets
from engagement_lab.pipelines.engagement.nodes import (
    build_engagement_input,
    check_inputs,
    label_posts,
    min_posts,
    oracle_scores,
)
from tests.pipelines.engagement.conftest import MISSING_COUNTS, OWN_FOLDER, fast_engagement_params, partial_export

USED = ["views", "likes", "favorites"]


@pytest.fixture(scope="module")
def partial_labelled(pixelrec_run) -> tuple[pd.DataFrame, dict, dict]:
    """The partial export's model input, labelled: (labelled frame, target spec, input stats)."""
    frame, stats = build_model_input(*partial_export(pixelrec_run).values(), "pixelrec")
    labelled, spec = label_posts(frame, fast_engagement_params())
    return labelled, spec, stats


# ------------------------------------------------------------------ the input check
def test_check_inputs_names_the_sources_present_when_the_source_has_no_posts(pixelrec_run):
    posts, images = pixelrec_run.load("posts"), pixelrec_run.load("images")
    check = check_inputs(posts, images, {**fast_engagement_params(), "source": "smpd"})
    assert check["pipeline"] == "engagement" and not check["ready"]
    assert "no smpd posts" in check["reason"] and "['pixelrec']" in check["reason"]
    assert "engagement.source" in check["reason"]
    # Run by a runner that does not skip, the entry node stops with the same reason.
    tables = [pixelrec_run.load(name) for name in ("image_embeddings", "post_texts", "text_embeddings")]
    with pytest.raises(InputsMissingError, match="no smpd posts"):
        build_engagement_input(posts, images, *tables, fast_engagement_params(), input_check=check)


def test_check_inputs_is_ready_on_partial_data_and_says_what_is_there(pixelrec_run):
    tables = partial_export(pixelrec_run)
    check = check_inputs(tables["posts"], tables["images"], fast_engagement_params())
    assert check["ready"], check["reason"]
    assert check["has"]["posts_with_image"] == 0
    assert check["has"]["counts_used"] == USED and check["has"]["counts_missing"] == MISSING_COUNTS


def test_check_inputs_lacks_view_counts_and_enough_posts(pixelrec_run):
    posts, images = pixelrec_run.load("posts"), pixelrec_run.load("images")
    params = fast_engagement_params()
    no_views = posts.assign(views=pd.Series(pd.NA, index=posts.index, dtype="Int64"))
    check = check_inputs(no_views, images, params)
    assert not check["ready"] and "no view counts" in check["reason"]
    few = posts[posts["source"] == "pixelrec"].tail(min_posts(params) - 1)
    check = check_inputs(few, images, params)
    assert not check["ready"] and f"need {min_posts(params)}" in check["reason"]


# ------------------------------------------------------------- counts the export lacks
def test_posts_are_kept_when_the_export_has_no_comment_or_share_counts(pixelrec_run, partial_labelled):
    labelled, spec, stats = partial_labelled
    pixelrec = pixelrec_run.load("posts").query("source == 'pixelrec'")
    lacking = pixelrec[USED].isna().any(axis=1)  # only these have no target now
    assert stats["modelled"] == len(labelled) == len(pixelrec) - lacking.sum()
    assert stats["dropped_no_target"] == lacking.sum()
    assert not any(f"dropped_missing_{col}" in stats for col in MISSING_COUNTS)
    # The post whose comment count alone was blanked is modelled now (the export has comments elsewhere: not here).
    assert "pixelrec:11" in set(labelled["post_id"]) and "pixelrec:12" in set(labelled["post_id"])
    assert spec["counts_used"] == USED and spec["counts_missing"] == MISSING_COUNTS


def test_eq1_weights_are_refitted_on_the_counts_the_export_has(partial_labelled):
    labelled, spec, _ = partial_labelled
    train = labelled[labelled["split"] == "train"]
    assert set(spec["weights"]) == {"likes", "favorites"}
    views = train["views"].to_numpy(float)
    for col in ("likes", "favorites"):
        assert spec["weights"][col] == pytest.approx(1 - np.corrcoef(views, train[col].to_numpy(float))[0, 1])
    expected = (labelled["likes"] + 3 * labelled["favorites"]) / labelled["views"].clip(lower=1)
    assert np.allclose(labelled["engagement_score"], expected.astype(float))
    popularity = spec["weights"]["likes"] * labelled["likes"] + spec["weights"]["favorites"] * labelled["favorites"]
    assert np.allclose(labelled["target"], np.log1p(popularity.astype(float)))
    assert fit_targets(train, USED) == fit_targets(train.drop(columns=MISSING_COUNTS))
    with pytest.raises(ValueError, match="no view counts"):
        fit_targets(train, ["likes"])


def test_a_post_missing_a_count_the_export_has_is_still_dropped(pixelrec_run):
    tables = partial_export(pixelrec_run)
    posts = tables["posts"]
    posts.loc[posts["post_id"] == "pixelrec:20", "likes"] = pd.NA
    frame, stats = build_model_input(*tables.values(), "pixelrec")
    assert "pixelrec:20" not in set(frame["post_id"]) and stats["dropped_missing_likes"] >= 1
    assert pd.isna(engagement_score(posts.set_index("post_id").loc[["pixelrec:20"]], USED)).all()


# ----------------------------------------------------------------- no cover images
def test_catboost_features_leave_the_image_blocks_out_without_images(partial_labelled):
    labelled, _, stats = partial_labelled
    assert stats["with_image"] == 0 and stats["without_image"] == len(labelled)
    assert not np.any(np.stack(labelled["image_embedding"]))
    train, test = labelled[labelled["split"] == "train"], labelled[labelled["split"] == "test"]
    builder = feature_builder("paper", fast_engagement_params()["catboost"]).fit(train, seed=0)
    assert builder.image_skipped == image_skip_reason(0) != ""
    table = builder.transform(test)
    assert not any(c.startswith("img_") for c in table) and "image_text_similarity" not in table
    assert (table["has_image"] == 0).all() and any(c.startswith("txt_") for c in table)
    assert {"count_likes", "likes_per_view"} <= set(table) and not any("comments" in c for c in table)
    assert np.isfinite(table.drop(columns=builder.cat_features).to_numpy(float)).all()
    assert image_skip_reason(MIN_IMAGE_POSTS) == ""


def test_tags_given_as_one_string_are_split_at_spaces_and_commas():
    frame = pd.DataFrame({"tags": ["cat dog,  sun", None, ["a", "b"], ""], "title": ["t"] * 4, "caption": [None] * 4})
    out = add_text_features(frame)
    assert out.loc[0, ["tag_1", "tag_2", "tag_3", "n_tags"]].tolist() == ["cat", "dog", "sun", 3]
    assert out.loc[1, "n_tags"] == 0 and out.loc[2, "tag_2"] == "b" and out.loc[3, "n_tags"] == 0


# ------------------------------------------------------------------ no ground truth
def test_without_ground_truth_the_oracle_is_omitted_with_the_reason(partial_labelled, pixelrec_run):
    labelled, _, _ = partial_labelled
    params = fast_engagement_params()
    oracle = oracle_scores(labelled, None, params)
    assert oracle["scores"] == {} and "no ground truth" in oracle["omitted"]
    # A ground truth that does not describe these posts (another world's) is not used either.
    truth = pixelrec_run.load("ground_truth_posts")
    other = truth.assign(pixelrec_item_id=truth["pixelrec_item_id"].astype(str) + "0000")
    assert oracle_scores(labelled, other, params)["scores"] == {}


# ---------------------------------------------------------- the whole pipeline, partial
@pytest.mark.slow
def test_the_pipeline_runs_on_a_partial_export_and_writes_the_contract(partial_run):
    metrics = partial_run.load("engagement_metrics")
    assert metrics["dataset"] == f"pixelrec: {OWN_FOLDER}"
    assert metrics["counts_used"] == USED and metrics["counts_missing"] == MISSING_COUNTS
    assert metrics["target_spec"]["counts_missing"] == MISSING_COUNTS
    sizes = metrics["split_sizes"]
    assert sizes["with_image"] == 0 and sizes["without_image"] == sizes["modelled"] > 0
    assert metrics["oracle"] == {} and "no ground truth" in metrics["oracle_omitted"]
    assert "test_r2_fraction_of_oracle" not in metrics["models"]["multimodal_regression"]
    assert any("comments, shares" in note for note in metrics["notes"])
    assert any("image/text similarity left out" in note for note in metrics["notes"])
    logged = contract_metrics(metrics)
    assert not any(key.startswith("oracle.") for key in logged)
    assert all(math.isfinite(v["value"]) for v in logged.values())


@pytest.mark.slow
def test_models_without_images_are_compared_with_the_baselines(partial_run):
    models = partial_run.load("engagement_metrics")["models"]
    majority = models["majority_class"]["test_macro_f1"]
    # Text, tags and text statistics alone: the pre-publication CatBoost still beats the majority class.
    assert models["catboost_pre_publication"]["test_macro_f1"] > majority + 0.05
    # The counts still give the label away, without comments and shares too.
    assert models["catboost_paper"]["test_macro_f1"] > models["catboost_pre_publication"]["test_macro_f1"] + 0.2
    for name in ("fusion_concat", "fusion_cross_attention", "fusion_gated"):
        assert math.isfinite(models[name]["test_macro_f1"]) and models[name]["test_macro_f1"] >= majority
    regression = models["multimodal_regression"]
    assert math.isfinite(regression["test_r2"]) and math.isfinite(models["mean_prediction"]["test_r2"])
