"""PPCL on a user's own, partial SMPD export: no cover images, no follower counts, no ground truth; the input
check; and the dataset the contract names. Node by node, with two models (``full`` and ``no_cl``) and one seed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engagement_lab.core.inputs_check import InputsMissingError
from engagement_lab.pipelines.ppcl.nodes import (
    build_ppcl_input,
    check_inputs,
    evaluate,
    split_posts,
    train_catboost,
    train_tfidf_ridge,
    train_variant,
)
from engagement_lab.ppcl.data import NO_LABEL, Preprocessor
from engagement_lab.ppcl.tabular import TabularFeatures
from tests.pipelines.ppcl.conftest import tiny_params

CANONICAL = ["posts", "users", "images", "image_embeddings", "post_texts", "text_embeddings"]
OWN_FOLDER = "/data/own/smpd"
TWO_MODELS = ("full", "no_cl")


def partial_export(catalog) -> dict[str, pd.DataFrame]:
    """The canonical tables as an SMPD export without the image archive and without follower counts gives them."""
    tables = {name: catalog.load(name) for name in CANONICAL}
    posts = tables["posts"].copy()
    posts["image_path"] = pd.Series(pd.NA, index=posts.index, dtype="string")
    users = tables["users"].copy()
    users["followers"] = pd.Series(pd.NA, index=users.index, dtype="Int64")
    no_images = {"images": tables["images"].iloc[:0], "image_embeddings": tables["image_embeddings"].iloc[:0]}
    return {**tables, "posts": posts, "users": users, **no_images}


def partial_params() -> dict:
    params = tiny_params()
    params["seeds"] = [0]
    params["models"] = {name: params["models"][name] for name in TWO_MODELS}
    return params


@pytest.fixture(scope="module")
def partial_ppcl(tiny_featured):
    """check → model input → split → ``full`` and ``no_cl`` → CatBoost → evaluate, on the partial export with
    no ground truth (``None``, as its missing file loads)."""
    params = partial_params()
    tables = partial_export(tiny_featured)
    check = check_inputs(tables["posts"], tables["users"], tables["images"], params)
    model_input, _, stats = build_ppcl_input(*tables.values(), params, input_check=check)
    split = split_posts(model_input, params)
    trained = {name: train_variant(split, params, params["models"][name]) for name in TWO_MODELS}
    _, catboost_predictions = train_catboost(split, params)
    tfidf_predictions = train_tfidf_ridge(split, tables["post_texts"])
    sources = {"smpd": {"folder": OWN_FOLDER, "files": 8, "posts": int(stats["posts"])}}
    predictions = [trained[name][2] for name in TWO_MODELS]
    results, logged, table = evaluate(
        split, None, stats, sources, params, catboost_predictions, tfidf_predictions, *predictions
    )
    return {
        "check": check,
        "split": split,
        "stats": stats,
        "trained": trained,
        "results": results,
        "logged": logged,
        "table": table,
    }


def test_check_inputs_names_the_sources_present_when_the_source_has_no_posts(tiny_featured):
    tables = {name: tiny_featured.load(name) for name in CANONICAL}
    params = {**tiny_params(), "source": "flickr"}
    check = check_inputs(tables["posts"], tables["users"], tables["images"], params)
    assert check["pipeline"] == "ppcl" and not check["ready"]
    assert "no flickr posts" in check["reason"] and "ppcl.source" in check["reason"]
    assert "'smpd'" in check["reason"] and "'pixelrec'" in check["reason"]
    with pytest.raises(InputsMissingError, match="no flickr posts"):
        build_ppcl_input(*tables.values(), params, input_check=check)
    few = tables["posts"][tables["posts"]["source"] == "smpd"].head(12)
    check = check_inputs(few, tables["users"], tables["images"], tiny_params())
    assert not check["ready"] and "the 8:1:1 split needs 20" in check["reason"]


def test_check_inputs_is_ready_without_images_and_follower_counts(partial_ppcl):
    check = partial_ppcl["check"]
    assert check["ready"], check["reason"]
    assert check["has"]["posts_with_image"] == 0 and check["has"]["posts_with_followers"] == 0
    assert check["has"]["posts_with_target"] == partial_ppcl["stats"]["modelled"]


def test_followers_are_imputed_from_train_and_uisd_has_no_labels_without_them(partial_ppcl):
    split, stats = partial_ppcl["split"], partial_ppcl["stats"]
    assert stats["without_followers"] == stats["modelled"]
    _, preprocessor, _, card = partial_ppcl["trained"]["full"]
    train = split[split["split"] == "train"]
    assert preprocessor.imputed["followers"] == len(train) and preprocessor.medians["followers"] == 0.0
    assert "follower counts" in preprocessor.influence_skipped and preprocessor.n_influence_levels == 0
    arrays = preprocessor.transform(split)
    assert (arrays["influence"] == NO_LABEL).all()
    assert np.isfinite(arrays["dense"]).all()
    assert card["preprocessor"]["influence_skipped"] == preprocessor.influence_skipped
    uisd_losses = [h["train_uisd"] for h in card["runs"]["0"]["history"]]
    assert uisd_losses and all(loss == 0.0 for loss in uisd_losses)  # no labels: UISD adds nothing


def test_without_any_image_the_image_input_is_zero(partial_ppcl):
    split = partial_ppcl["split"]
    assert partial_ppcl["stats"]["without_image"] == len(split) and (split["has_image"] == 0).all()
    _, preprocessor, _, _ = partial_ppcl["trained"]["full"]
    assert preprocessor.images_skipped
    # A later post with an image (a cover the export has after all) cannot blow up the standardisation.
    later = split.head(3).copy()
    later["image_embedding"] = [np.ones(len(later["image_embedding"].iloc[0]), dtype=np.float32)] * 3
    assert not np.any(preprocessor.transform(later)["image"])
    features = TabularFeatures(preprocessor, n_components=4).fit(split[split["split"] == "train"], seed=0)
    table = features.transform(split)
    assert features.image_pca is None and not any(c.startswith("image_pc") for c in table)


def test_the_contract_is_written_without_ground_truth_and_names_the_users_folder(partial_ppcl):
    results, logged = partial_ppcl["results"], partial_ppcl["logged"]
    assert results["dataset"] == f"smpd: {OWN_FOLDER}"
    assert results["oracle"] == {} and "no ground truth" in results["oracle_omitted"]
    assert "oracle" not in set(partial_ppcl["table"]["model"])
    assert set(results["models"]) == {*TWO_MODELS, "catboost", "tfidf_ridge", "mean_prediction"}
    assert not any("fraction_of_oracle" in metric for m in results["models"].values() for metric in m)
    assert all(math.isfinite(v["value"]) for v in logged.values()) and not any(k.startswith("oracle.") for k in logged)
    assert any("UISD not learned" in note for note in results["notes"])
    assert results["split_sizes"]["input_without_followers"] == results["split_sizes"]["input_modelled"]


def test_models_without_images_and_followers_are_compared_with_the_mean(partial_ppcl):
    models = partial_ppcl["results"]["models"]
    mean = models["mean_prediction"]
    for name in (*TWO_MODELS, "catboost"):
        assert math.isfinite(models[name]["test_mae"]) and math.isfinite(models[name]["test_src"])
    # Text, the user id and the other profile fields are left: the full model still beats the train mean.
    assert models["full"]["test_mae"] < mean["test_mae"]
    assert models["full"]["test_mse"] < mean["test_mse"]


def test_followers_missing_for_some_posts_are_imputed_with_the_train_median(tiny_featured):
    params = tiny_params()
    model_input, _, _ = build_ppcl_input(*(tiny_featured.load(name) for name in CANONICAL), params)
    split = split_posts(model_input, params)
    train_rows = np.flatnonzero((split["split"] == "train").to_numpy())
    split.loc[split.index[train_rows[:10]], "followers"] = pd.NA
    split.loc[split["split"] == "test", "followers"] = pd.NA  # never seen by the fit
    train = split[split["split"] == "train"]
    preprocessor = Preprocessor(n_clusters=4).fit(train)
    assert preprocessor.imputed["followers"] == train["followers"].isna().sum() >= 10
    assert preprocessor.medians["followers"] == float(train["followers"].astype("Float64").median())
    assert preprocessor.influence_skipped == "" and preprocessor.n_influence_levels == 4
    levels = preprocessor.influence_levels(split[split["split"] == "test"])
    assert (levels >= 0).all() and len(set(levels)) == 1  # every test post gets the median's level
