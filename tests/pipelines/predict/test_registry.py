"""The models predict scores with, registered by their own pipelines' ``register_scorer`` nodes as MLflow models of
raw posts: each loads back from the registry by name with a named signature, its card, tags and test metrics, and
scores raw posts exactly as the predict pipeline does, a bad row becoming an error row."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from engagement_lab.core.raw import RawFolder
from engagement_lab.pipelines.dual_attention.nodes import register_scorer as register_dual_attention_scorer
from engagement_lab.pipelines.engagement.nodes import register_scorer as register_engagement_scorer
from engagement_lab.pipelines.ppcl.nodes import register_scorer as register_ppcl_scorer
from engagement_lab.predict.inputs import check_image, check_post, posts_frame
from engagement_lab.predict.scoring import embed_posts, load_ppcl, score_ppcl
from engagement_lab.predict.serving import TRUSTED
from tests.conftest import PROJECT, base_params
from tests.ingestion.raw_folders import png_claiming
from tests.pipelines.predict.conftest import predict_catalog, profiles, request_frame, tracking

NAMES = ("ppcl.full", "dual_attention.full", "engagement.catboost_pre_publication")
CLASSES = ["very_low", "low", "medium", "high", "very_high"]


def test_each_scorer_is_registered_from_one_run_with_its_card_tags_and_test_metrics(scorers):
    uri, registered = scorers
    runs = set()
    with tracking(uri) as client:
        for name in NAMES:
            assert registered[name]["skipped"] == []
            [row] = registered[name]["registered"]
            assert (row["registered_model"], row["version"], row["flavor"]) == (name, 1, "python_function")
            version = client.get_model_version(name, "1")
            runs.add(version.run_id)
            pipeline, model = name.split(".", 1)
            assert version.tags["pipeline"] == pipeline and version.tags["model"] == model
            if pipeline == "engagement":  # the contract's dataset label and seed, from the ingestion record
                assert version.tags["dataset"] == "pixelrec: data/01_raw/sample_world/pixelrec"
                assert version.tags["seed"] == str(base_params("engagement")["seed"])
            else:
                assert version.tags["dataset"] == f"{pipeline}: tiny world" and version.tags["seed"] == "[0]"
            assert float(version.tags["test_score"]) == 0.5 and "val_score" not in version.tags  # test figures only
            assert version.description.startswith(f"{name}: scores raw posts with the predict pipeline's code")
            assert client.get_registered_model(name).description == version.description

            info = mlflow.models.get_model_info(f"models:/{name}/1")
            assert info.metadata["scorer"] == name and info.metadata["test_metrics"]["test_score"] == 0.5
            required = {c["name"]: c.get("required", True) for c in info.signature.inputs.to_dict()}
            assert [required[c] for c in ("caption", "image_path", "user_id", "post_ref", "posted_at")] == [
                True,
                True,
                True,
                False,
                False,
            ]
            assert ("followers" in required) == (pipeline == "ppcl") and not required.get("followers", False)
            outputs = [c["name"] for c in info.signature.outputs.to_dict()]
            assert outputs[:3] == ["post_ref", "status", "reason"] and len(outputs) > 3

            # Logged as code with the package as code_paths: nothing pickled, requirements pinned.
            folder = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/1"))
            files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
            assert "code/engagement_lab/predict/serving.py" in files and not any(f.endswith(".pkl") for f in files)
            assert "model_code_path" in info.flavors["python_function"]
            requirements = (folder / "requirements.txt").read_text().split()
            assert {r.split("==")[0] for r in requirements} >= {"mlflow", "torch", "pandas", "skops"}
            assert all("==" in r for r in requirements)
    assert len(runs) == 1  # one kedro run, one MLflow run: each model registered from the run that made it


def test_the_cards_are_the_models_own(scorers, trained):
    uri, _ = scorers
    catalog = predict_catalog(trained)
    with tracking(uri):
        metadata = {name: mlflow.models.get_model_info(f"models:/{name}/1").metadata["card"] for name in NAMES}
    assert metadata["ppcl.full"]["model"] == catalog.load("ppcl_model_card")["model"]
    assert metadata["dual_attention.full"]["config"] == catalog.load("dual_attention_full_history")["config"]
    assert metadata["engagement.catboost_pre_publication"]["classes"] == CLASSES
    assert metadata["engagement.catboost_pre_publication"]["target_spec"] == catalog.load("engagement_target_spec")


def test_dual_attention_and_engagement_score_the_example_posts_as_predict_did(scorers, predicted):
    uri, _ = scorers
    root, catalog = predicted
    table = catalog.load("predictions")
    request = request_frame(table, catalog.load("users"), root / "data/01_raw/new_posts")
    with tracking(uri):
        dual = mlflow.pyfunc.load_model("models:/dual_attention.full/1").predict(request)
        engagement = mlflow.pyfunc.load_model("models:/engagement.catboost_pre_publication/1").predict(request)
    scored = (table["status"] == "scored").to_numpy()
    for out in (dual, engagement):
        assert out["post_ref"].tolist() == table["post_ref"].tolist()
        assert out["status"].tolist() == table["status"].tolist()
        for served, expected in zip(out.loc[~scored, "reason"], table.loc[~scored, "reason"], strict=True):
            assert served.split(":")[0] == expected.split(":")[0], (served, expected)
        assert out.loc[~scored, out.columns[3:]].isna().all().all()  # error rows carry no scores
    np.testing.assert_allclose(
        dual.loc[scored, "popular_probability"].astype(float),
        table.loc[scored, "dual_attention_popular_probability"].astype(float),
        atol=1e-5,
    )
    for column in ("top_attention_words", "environment"):
        assert dual.loc[scored, column].tolist() == table.loc[scored, f"dual_attention_{column}"].tolist()
    assert engagement.loc[scored, "class"].tolist() == table.loc[scored, "engagement_class"].tolist()
    probabilities = [f"p_{c}" for c in CLASSES]
    np.testing.assert_allclose(
        engagement.loc[scored, probabilities].astype(float).to_numpy(),
        table.loc[scored, [f"engagement_{p}" for p in probabilities]].astype(float).to_numpy(),
        atol=1e-5,
    )


def test_ppcl_scores_each_post_with_its_own_profile_and_names_each_bad_row(scorers, trained, tmp_path):
    """A user PPCL trained on, with the full profile of their ``users`` row, then the same post with twice the
    followers: each as predict scores it with that profile. Then one bad row of each kind."""
    uri, _ = scorers
    catalog = predict_catalog(trained)
    split, users = catalog.load("ppcl_split_input"), catalog.load("users")
    user = split.loc[split["split"] == "train", "user_id"].iloc[0]
    images = sorted((trained / "data/01_raw/new_posts").rglob("*_UTC.jpg"))
    image = next(str(p) for p in images if check_image(p.read_bytes(), str(p), 32) is None)
    (bomb := tmp_path / "bomb.png").write_bytes(png_claiming(20_000, 20_000))
    post = {"caption": "sunny #beach day", "image_path": image, "user_id": user, "posted_at": "2024-05-04T18:30:00Z"}
    profile = profiles(users, pd.Series([user])).iloc[0].to_dict()
    doubled = {**profile, "followers": 2 * profile["followers"]}
    request = pd.DataFrame(
        [
            {"post_ref": "full profile", **post, **profile},
            {"post_ref": "twice the followers", **post, **doubled},
            {"post_ref": "no caption", **post, **profile, "caption": None},
            {"post_ref": "no user", **post, "user_id": None},
            {"post_ref": "bomb", **post, "image_path": str(bomb)},
            {"post_ref": "bad time", **post, "posted_at": "yesterday-ish"},
            {"post_ref": "negative followers", **post, "followers": -5.0},
        ]
    )
    request = request.astype(object).where(request.notna(), None)  # unknown fields are null, as JSON sends them
    with tracking(uri):
        out = mlflow.pyfunc.load_model("models:/ppcl.full/1").predict(request)
    assert out["status"].tolist() == ["scored", "scored", "error", "error", "error", "error", "error"]
    assert out["reason"].tolist()[:4] == ["", "", "empty caption: the caption is blank", "missing user_id"]
    assert out.loc[4, "reason"].startswith(f"image unreadable: {bomb}: image too large to decode")
    assert out.loc[5, "reason"].startswith("bad posted_at: 'yesterday-ish' is not an ISO time")
    assert out.loc[6, "reason"] == "bad profile field: followers: -5.0 is not a whole number >= 0"
    assert out.loc[:1, "user_known_to_model"].tolist() == [True, True]
    assert "total_views" in out.loc[0, "profile_fields"]

    # predict's path: the checked row, the frozen encoders, score_ppcl with the users table.
    model = load_ppcl(catalog.load("ppcl_full_model"), catalog.load("ppcl_model_card"))
    preprocessor = catalog.load("ppcl_full_preprocessor")
    checked = posts_frame([check_post(post, "r", RawFolder("/", {}), "instaloader", 32)])
    features = embed_posts(checked, catalog.load("params:features"))
    more = users.assign(followers=users["followers"].where(users["user_id"] != user, 2 * users["followers"]))
    for i, table in enumerate((users, more)):
        expected = score_ppcl(features, model, preprocessor, table).iloc[0]
        assert out.loc[i, "popularity"] == pytest.approx(expected["popularity"], abs=1e-5)
        assert out.loc[i, "views_per_day"] == pytest.approx(expected["views_per_day"], rel=1e-5)
        assert out.loc[i, "profile_fields"] == expected["profile_fields"]
    assert out.loc[0, "popularity"] != pytest.approx(out.loc[1, "popularity"], abs=1e-6)


def test_registration_can_be_switched_off(registry):
    off = {"serving": {**base_params("ppcl")["serving"], "enabled": False}}
    empty = pd.DataFrame({"encoder": pd.Series(dtype="string")})
    results = [
        register_ppcl_scorer(None, None, None, None, empty, off),
        register_dual_attention_scorer(
            None, None, None, None, None, None, empty, off, {"environment_includes_unlabelled": True}
        ),
        register_engagement_scorer(None, None, None, None, empty, {**base_params("engagement"), **off}),
    ]
    assert [r["skipped"] for r in results] == [[name] for name in NAMES]
    assert all(r["registered"] == [] for r in results)
    assert registry.search_registered_models() == []


def test_the_served_models_trust_what_the_catalog_trusts():
    entries = {}
    for path in (PROJECT / "conf/base").glob("catalog*.yml"):
        entries.update(yaml.safe_load(path.read_text()))
    trusted = {
        "ppcl_preprocessor": '"ppcl_{model}_preprocessor"',
        "dual_attention_preprocessor": "dual_attention_preprocessor",
        "lda": "user_environment_lda",
        "engagement_bundle": '"engagement_catboost_{feature_set}_model"',
    }
    for key, entry in trusted.items():
        assert TRUSTED[key] == entries[entry.strip('"')]["load_args"]["trusted"], key
