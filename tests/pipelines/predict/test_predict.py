"""predict on the tiny world: the sample world's example folder (known users, an unknown user, a corrupt
image, an empty caption), a CSV, and missing models."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from engagement_lab.core.raw import RawFolder
from engagement_lab.datasets import RawFolderDataset
from engagement_lab.hooks import MissingInputsHook, MissingModelError, missing_inputs, missing_inputs_error
from engagement_lab.pipelines.predict import create_pipeline
from engagement_lab.pipelines.predict.nodes import read_new_posts
from engagement_lab.predict.inputs import PredictInputError, check_image
from engagement_lab.predict.scoring import (
    embed_posts,
    flag_near_chance,
    load_dual_attention,
    load_ppcl,
    score_dual_attention,
    score_ppcl,
    user_environments,
)
from engagement_lab.world.new_posts import EXAMPLE_CASES, UNKNOWN_USERNAME
from tests.conftest import base_params, project_catalog
from tests.pipelines.predict.conftest import predict_catalog, predict_params

CLASSES = ["very_low", "low", "medium", "high", "very_high"]


@pytest.fixture(scope="module")
def folder_run(predicted):
    return predicted  # predict on the example folder, run once per session (conftest)


def test_every_example_post_is_one_row_with_what_happened(folder_run):
    root, catalog = folder_run
    table = catalog.load("predictions")
    folder = root / "data/01_raw/new_posts"
    assert len(table) == len(list(folder.rglob("*_UTC.json.xz"))) == len(EXAMPLE_CASES)
    assert table["post_ref"].is_unique and table["row"].tolist() == list(range(len(table)))
    by_reason = table.set_index("post_ref")
    corrupt = by_reason[by_reason["reason"].str.startswith("image unreadable:")]
    assert len(corrupt) == 1 and corrupt["status"].eq("error").all()
    assert f"{folder}/{corrupt.index[0]}.jpg" in corrupt["reason"].iloc[0] and "truncated" in corrupt["reason"].iloc[0]
    empty = by_reason[by_reason["reason"].str.startswith("empty caption")]
    assert len(empty) == 1 and empty["status"].eq("error").all()
    unknown = table[table["post_ref"].str.startswith(UNKNOWN_USERNAME + "/")]
    assert len(unknown) == 1 and unknown["status"].eq("scored").all() and not unknown["known_user"].any()
    assert unknown["reason"].str.startswith("unknown user").all()
    assert unknown["dual_attention_environment"].str.startswith("population").all()
    known = table[(table["status"] == "scored") & table["known_user"]]
    assert len(known) == sum(case == "known" for case, _ in EXAMPLE_CASES) and known["reason"].eq("").all()
    assert known["dual_attention_environment"].str.startswith("user (").all()
    # Counts add up, in the table and in the summary.
    summary = catalog.load("predict_summary")
    assert summary["posts"] == len(table) == sum(summary["status"].values())
    assert summary["status"] == {"error": 2, "scored": 4} and summary["unknown_users_scored"] == 1
    assert summary["reasons"] == {"image unreadable": 1, "empty caption": 1, "unknown user": 1}
    csv_table = catalog.load("predictions_csv")
    assert csv_table["post_ref"].tolist() == table["post_ref"].tolist()


def test_the_newest_predictions_are_also_at_one_stable_path(folder_run):
    """predictions_latest: the newest run's table at data/07_model_output/predictions/latest.csv, not in a version
    folder, beside the versioned parquet and CSV."""
    root, catalog = folder_run
    latest = root / "data/07_model_output/predictions/latest.csv"
    assert latest.is_file()
    assert list((root / "data/07_model_output/predictions.csv").glob("*/predictions.csv"))  # the versions stay
    newest = catalog.load("predictions_csv")  # a versioned load: the newest version, whichever run made it
    stable = pd.read_csv(latest)
    assert stable["post_ref"].tolist() == newest["post_ref"].tolist()
    assert stable.columns.tolist() == newest.columns.tolist() and "caveat" in stable.columns


def test_scored_rows_have_valid_outputs_and_errors_have_none(folder_run):
    _, catalog = folder_run
    table = catalog.load("predictions")
    scored, errors = table[table["status"] == "scored"], table[table["status"] == "error"]
    probs = scored["dual_attention_popular_probability"]
    assert probs.between(0, 1).all() and probs.notna().all()
    classes = scored[[f"engagement_p_{c}" for c in CLASSES]].to_numpy()
    assert np.all((classes >= 0) & (classes <= 1)) and np.allclose(classes.sum(axis=1), 1.0, atol=1e-6)
    assert (scored["engagement_class"] == [CLASSES[i] for i in classes.argmax(axis=1)]).all()
    for words, caption in zip(scored["dual_attention_top_attention_words"], scored["caption"], strict=True):
        shown = [w.rsplit(" (", 1)[0] for w in words.split(", ")]
        assert 1 <= len(shown) <= 3 and all(w in caption.lower() for w in shown)
        weights = [float(w.rsplit(" (", 1)[1].rstrip(")")) for w in words.split(", ")]
        assert weights == sorted(weights, reverse=True) and all(0 <= w <= 1 for w in weights)
    # PPCL was trained on SMPD posts: Instagram users are not in its user vocabulary, and their profiles give
    # followers and following (the rest of Table A1 is imputed); the unknown user has no users row at all.
    popularity = scored["ppcl_popularity"].to_numpy(float)
    assert np.isfinite(popularity).all() and popularity.std() > 0
    np.testing.assert_allclose(scored["ppcl_views_per_day"].to_numpy(float), np.exp2(popularity - 1), rtol=1e-9)
    assert not scored["ppcl_user_known_to_model"].astype(bool).any()
    assert (scored.loc[scored["known_user"], "ppcl_profile_fields"] == "followers, following").all()
    assert scored.loc[~scored["known_user"], "ppcl_profile_fields"].str.startswith("none: all imputed").all()
    model_columns = [c for c in table.columns if c.startswith(("dual_attention_", "engagement_", "ppcl_"))]
    assert errors[model_columns].isna().all().all() and errors["caveat"].eq("").all()


def test_a_class_no_better_than_chance_is_flagged_with_a_caveat(folder_run):
    """Each scored post's engagement class is flagged when its probability is within predict.chance_margin of 1/5,
    the popular/unpopular call when within it of 1/2; the caveat says so in words, and the summary counts them."""
    _, catalog = folder_run
    margin = predict_params()["chance_margin"]
    table = catalog.load("predictions")
    scored = table[table["status"] == "scored"]
    probability = scored[[f"engagement_p_{c}" for c in CLASSES]].max(axis=1)
    assert np.allclose(scored["engagement_class_probability"], probability)
    expected = (probability - 1 / len(CLASSES)) <= margin
    assert scored["engagement_near_chance"].astype(bool).tolist() == expected.tolist()
    popular = scored["dual_attention_popular_probability"]
    assert scored["dual_attention_near_chance"].astype(bool).tolist() == ((popular - 0.5).abs() <= margin).tolist()
    for _, row in scored.iterrows():
        said = f"engagement: {row['engagement_class']} at p = {row['engagement_class_probability']:.3f}, within"
        assert (said in row["caveat"]) == bool(row["engagement_near_chance"]), row["caveat"]
        assert ("dual attention: popular probability" in row["caveat"]) == bool(row["dual_attention_near_chance"])
    summary = catalog.load("predict_summary")
    assert summary["near_chance"] == {
        "margin": margin,
        "posts": {
            "engagement": int(scored["engagement_near_chance"].sum()),
            "dual_attention": int(scored["dual_attention_near_chance"].sum()),
        },
    }


def test_near_chance_is_within_the_margin_of_uniform():
    classes = {c: [0.2, 0.05, 0.19, 0.2] for c in CLASSES}
    classes["very_high"] = [0.207, 0.8, 0.26, 0.2]  # 1/5 + 0.007: chance; 0.8: not; 0.26: just past the margin
    classes["very_low"] = [0.193, 0.05, 0.16, 0.2]
    table = pd.DataFrame(
        {
            "status": ["scored", "scored", "scored", "error"],
            "engagement_class": ["very_high", "very_high", "very_high", None],
            **{f"engagement_p_{c}": v for c, v in classes.items()},
            "dual_attention_popular_probability": [0.52, 0.9, 0.44, None],
        }
    )
    table.loc[3, [f"engagement_p_{c}" for c in CLASSES]] = np.nan
    flagged = flag_near_chance(table, 0.05)
    assert flagged["engagement_near_chance"].tolist() == [True, False, False, pd.NA]
    assert flagged["dual_attention_near_chance"].tolist() == [True, False, False, pd.NA]
    assert flagged.loc[0, "caveat"] == (
        "engagement: very_high at p = 0.207, within 0.05 of chance (1/5 = 0.200); "
        "dual attention: popular probability 0.520, within 0.05 of chance (1/2)"
    )
    assert flagged.loc[1:, "caveat"].tolist() == ["", "", ""]


def test_ppcl_scores_a_post_exactly_as_training_predicted_it(trained):
    """The predict path (users table → Table A1 fields → the fitted preprocessor → the saved weights) gives
    the full model's own test predictions, post by post."""
    catalog = predict_catalog(trained)
    split = catalog.load("ppcl_split_input")
    test = split[split["split"] == "test"].reset_index(drop=True)
    features = test[["post_id", "user_id", "posted_at", "image_embedding", "text_embedding"]].rename(
        columns={"post_id": "row"}
    )
    model = load_ppcl(catalog.load("ppcl_full_model"), catalog.load("ppcl_model_card"))
    scores = score_ppcl(features, model, catalog.load("ppcl_full_preprocessor"), catalog.load("users"))
    saved = catalog.load("ppcl_full_predictions")
    expected = saved[(saved["split"] == "test") & (saved["seed"] == 0)].set_index("post_id")["prediction"]
    assert len(scores) == len(test) == len(expected)
    np.testing.assert_allclose(scores.set_index("row").loc[expected.index, "popularity"], expected, atol=1e-5)
    assert scores["user_known_to_model"].mean() > 0.5  # test posts' users mostly posted in train too


def test_dual_attention_scores_a_post_exactly_as_training_predicted_it(trained):
    """The predict path (caption → tokens → LDA topics, the user's history environment, the fitted
    preprocessor, the saved weights) gives the full model's own test predictions, post by post: a held-out
    post's training environment is its user's history, and its topics come from the same LDA."""
    catalog = predict_catalog(trained)
    model_input = catalog.load("user_environment_model_input")
    test = model_input[model_input["split"] == "test"].reset_index(drop=True)
    features = test[["post_id", "user_id", "caption", "image"]].rename(
        columns={"post_id": "row", "image": "image_embedding"}
    )
    model = load_dual_attention(
        catalog.load("dual_attention_full_model"), catalog.load("dual_attention_full_history")["config"]
    )
    scores = score_dual_attention(
        features,
        model,
        catalog.load("dual_attention_preprocessor"),
        user_environments(model_input, True),
        catalog.load("user_environment_lda"),
        3,
    )
    saved = catalog.load("dual_attention_full_predictions")
    expected = saved[(saved["split"] == "test") & (saved["seed"] == saved["seed"].min())].set_index("post_id")["prob"]
    assert len(scores) == len(test) == len(expected)
    np.testing.assert_allclose(scores.set_index("row").loc[expected.index, "popular_probability"], expected, atol=1e-5)


def test_unknown_user_gets_the_population_prediction(folder_run):
    """The unknown user's probability is the population-environment one: the same post under any other
    unknown id gives it; under a known user's history it changes."""
    _, catalog = folder_run
    table = catalog.load("predictions").set_index("row")
    posts = read_new_posts(catalog.load("raw_new_posts"), None, predict_params(), base_params("ingestion"))
    features = embed_posts(posts, catalog.load("params:features"))
    envs = user_environments(catalog.load("user_environment_model_input"), True)
    model = load_dual_attention(
        catalog.load("dual_attention_full_model"), catalog.load("dual_attention_full_history")["config"]
    )
    preprocessor = catalog.load("dual_attention_preprocessor")
    topic_model = catalog.load("user_environment_lda")
    unknown = features[features["row"].isin(table.index[~table["known_user"]])]
    stranger = unknown.assign(user_id="instaloader:somebody-else")
    population = score_dual_attention(stranger, model, preprocessor, envs, topic_model, 3)
    population = population["popular_probability"].to_numpy()
    assert population == pytest.approx(table.loc[unknown["row"], "dual_attention_popular_probability"].to_numpy())
    known_id = table.loc[table["known_user"] & (table["status"] == "scored"), "user_id"].iloc[0]
    adopted = score_dual_attention(unknown.assign(user_id=known_id), model, preprocessor, envs, topic_model, 3)
    assert abs(adopted["popular_probability"].iloc[0] - population[0]) > 1e-6


def _write_csv(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "posts.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["image_path", "caption", "user_id"])
        writer.writeheader()
        writer.writerows(rows)


def test_csv_input_scores_good_rows_and_names_each_problem(trained):
    root = trained
    catalog = predict_catalog(root, input="csv")
    posts = catalog.load("posts")
    source = root / "data/01_raw/new_posts"
    images = sorted(p for p in source.rglob("*_UTC.jpg") if check_image(p.read_bytes(), str(p), 32) is None)
    known = posts.loc[posts["source"] == "instaloader", "user_id"].iloc[0]
    split = catalog.load("ppcl_split_input")
    smpd_user = split.loc[split["split"] == "train", "user_id"].iloc[0]  # a user PPCL trained on
    folder = root / "data/01_raw/new_posts_csv"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "img").mkdir(parents=True)
    shutil.copy(images[0], folder / "img/a.jpg")
    (folder / "img/bad.jpg").write_bytes(b"this is not a jpeg")
    _write_csv(
        folder,
        [
            {"image_path": "img/a.jpg", "caption": "sunny #beach day", "user_id": known.split(":", 1)[1]},  # native id
            {"image_path": str(images[1]), "caption": "absolute path #city", "user_id": "stranger_42"},
            {"image_path": "img/missing.jpg", "caption": "no file", "user_id": known},
            {"image_path": "img/bad.jpg", "caption": "garbage bytes", "user_id": known},
            {"image_path": "img/a.jpg", "caption": "   ", "user_id": known},
            {"image_path": "img/a.jpg", "caption": "sunny #beach day", "user_id": smpd_user},
        ],
    )
    SequentialRunner().run(create_pipeline(), catalog)
    table = catalog.load("predictions")
    assert len(table) == 6 and table["status"].tolist() == ["scored", "scored", "error", "error", "error", "scored"]
    assert table["known_user"].tolist() == [True, False, True, True, True, True]
    assert table.loc[0, "user_id"] == known and table.loc[0, "reason"] == ""
    assert table.loc[1, "reason"].startswith("unknown user")
    assert table.loc[2, "reason"] == f"image missing: {folder}/img/missing.jpg does not exist"
    assert table.loc[3, "reason"].startswith(f"image unreadable: {folder}/img/bad.jpg: cannot identify image file")
    assert table.loc[4, "reason"].startswith("empty caption")
    assert table.loc[[0, 1, 5], "dual_attention_popular_probability"].between(0, 1).all()
    # PPCL knows the SMPD user (its embedding and full profile) and no one else; the same post differs.
    assert table["ppcl_user_known_to_model"].tolist()[:2] + [table.loc[5, "ppcl_user_known_to_model"]] == [
        False,
        False,
        True,
    ]
    assert "total_views" in table.loc[5, "ppcl_profile_fields"]
    assert table.loc[5, "ppcl_popularity"] != pytest.approx(table.loc[0, "ppcl_popularity"])
    # The stable copy is this run's table now.
    assert catalog.load("predictions_latest")["post_ref"].tolist() == table["post_ref"].tolist()


def test_bad_csv_and_empty_folder_are_named():
    params, ingestion = predict_params(input="csv"), base_params("ingestion")
    no_columns = RawFolder("/x", {"posts.csv": lambda: b"path,text\na.jpg,hi\n"})
    with pytest.raises(PredictInputError, match=r"lacks the columns \['image_path', 'caption', 'user_id'\]"):
        read_new_posts(RawFolder("/y", {}), no_columns, params, ingestion)
    with pytest.raises(PredictInputError, match="exactly one .csv"):
        read_new_posts(RawFolder("/y", {}), RawFolder("/x", {}), params, ingestion)
    with pytest.raises(PredictInputError, match="folder /y is empty or missing"):
        read_new_posts(RawFolder("/y", {}), RawFolder("/x", {}), predict_params(), ingestion)
    with pytest.raises(PredictInputError, match="predict.input must be one of"):
        read_new_posts(RawFolder("/y", {}), RawFolder("/x", {}), predict_params(input="parquet"), ingestion)


def test_missing_models_name_the_entry_and_the_pipeline_to_run(tmp_path):
    catalog: DataCatalog = project_catalog(tmp_path)
    text = str(missing_inputs_error(catalog, missing_inputs(catalog, create_pipeline())))
    lines = [line.strip() for line in text.splitlines()]
    for entry, pipeline in (
        ("dual_attention_full_model", "dual_attention"),
        ("dual_attention_preprocessor", "dual_attention"),
        ("engagement_catboost_pre_publication_model", "engagement"),
        ("ppcl_full_model", "ppcl"),
        ("ppcl_full_preprocessor", "ppcl"),
    ):
        assert any(line.startswith(entry) and f"`kedro run --pipelines={pipeline}`" in line for line in lines), text
    with pytest.raises(MissingModelError, match="dual_attention_full_model .* does not exist"):
        MissingInputsHook().before_pipeline_run({}, create_pipeline(), catalog)


def test_hook_passes_when_the_models_exist(trained):
    catalog = predict_catalog(trained)
    assert missing_inputs(catalog, create_pipeline()) == []
    MissingInputsHook().before_pipeline_run({}, create_pipeline(), catalog)  # does not raise


def test_metadata_that_does_not_parse_is_an_error_row(tiny_world, tmp_path):
    raw, _ = tiny_world
    folder = tmp_path / "new_posts"
    shutil.copytree(raw / "new_posts", folder)
    broken = sorted(folder.rglob("*_UTC.json.xz"))[0]
    broken.write_bytes(b"not xz at all")
    posts = read_new_posts(RawFolderDataset(path=str(folder)).load(), None, predict_params(), base_params("ingestion"))
    assert len(posts) == len(EXAMPLE_CASES) and posts["row"].tolist() == list(range(len(posts)))
    row = posts[posts["post_ref"] == str(broken.relative_to(folder)).removesuffix(".json.xz")]
    assert len(row) == 1 and row["status"].iloc[0] == "error"
    assert row["reason"].iloc[0].startswith("post rejected: json: metadata does not parse")
