"""The smallest trained models predict needs, fitted once per session on the tiny world, and a project
catalog under a temp root that holds them and the sample world's example folder of new posts; predict run once on
that folder; the three scorers registered as MLflow models of raw posts in a temporary store."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro.runner import SequentialRunner

from engagement_lab.pipelines.dual_attention import create_pipeline as dual_attention_pipeline
from engagement_lab.pipelines.dual_attention.nodes import register_scorer as register_dual_attention_scorer
from engagement_lab.pipelines.engagement import create_pipeline as engagement_pipeline
from engagement_lab.pipelines.engagement.nodes import register_scorer as register_engagement_scorer
from engagement_lab.pipelines.ppcl import create_pipeline as ppcl_pipeline
from engagement_lab.pipelines.ppcl.nodes import register_scorer as register_ppcl_scorer
from engagement_lab.pipelines.predict import create_pipeline as predict_pipeline
from engagement_lab.pipelines.user_environment import create_pipeline as user_environment_pipeline
from engagement_lab.predict.serving import PROFILE_FIELDS
from tests.conftest import FAST_FEATURES, add_params, base_params, project_catalog
from tests.pipelines.engagement.conftest import fast_engagement_params
from tests.pipelines.ppcl.conftest import tiny_params as tiny_ppcl_params

TABLES = ("posts", "users", "images", "image_embeddings", "post_texts", "text_embeddings", "ground_truth_posts")
# Only the models predict reads: the full dual-attention model (one seed, few epochs), the
# pre-publication CatBoost (small) and PPCL's full model (one seed, small), with what they are built from.
TRAIN_NODES = (
    "user_environment.check_user_environment_inputs",
    "user_environment.select_posts",
    "user_environment.label_and_split",
    "user_environment.fit_topic_model",
    "user_environment.build_model_input",
    "dual_attention.prepare_dual_attention_inputs",
    "dual_attention.export_dual_attention_preprocessor",
    "dual_attention.full.train",
    "engagement.check_engagement_inputs",
    "engagement.build_engagement_input",
    "engagement.label_posts",
    "engagement.catboost_pre_publication.train_catboost",
    "ppcl.check_ppcl_inputs",
    "ppcl.build_ppcl_input",
    "ppcl.split_ppcl_posts",
    "ppcl.full.train",
    "ppcl.ppcl_model_card",
)


def predict_params(**overrides) -> dict:
    return base_params("predict", device="cpu", **overrides)


def user_environment_params() -> dict:
    params = base_params("user_environment")
    params["lda"] = {**params["lda"], "num_topics": 20, "passes": 3, "iterations": 50}
    return params


def predict_catalog(root, **overrides):
    """A fresh project catalog at ``root`` (its own save version) with the parameters predict reads."""
    catalog = project_catalog(root)
    add_params(catalog, "predict", predict_params(**overrides))
    catalog["params:features"] = base_params("features", **FAST_FEATURES)
    catalog["params:ingestion"] = base_params("ingestion")
    catalog["params:user_environment"] = user_environment_params()
    return catalog


@pytest.fixture(scope="session")
def trained(tiny_world, tiny_featured, tmp_path_factory):
    """The root of a project holding the tiny world's tables, its example new posts and the trained models."""
    raw, _ = tiny_world
    root = tmp_path_factory.mktemp("predict")
    # As a user would: their new posts in data/01_raw/new_posts (raw_new_posts).
    shutil.copytree(raw / "new_posts", root / "data/01_raw/new_posts")
    catalog = project_catalog(root)
    for name in TABLES:
        catalog.save(name, tiny_featured.load(name))
    da = base_params("dual_attention", seeds=[0], device="cpu")
    da["train"] = {**da["train"], "epochs": 3}
    add_params(catalog, "user_environment", user_environment_params())
    add_params(catalog, "dual_attention", da)
    catalog["params:engagement"] = fast_engagement_params()
    add_params(catalog, "ppcl", {**tiny_ppcl_params(), "seeds": [0]})
    training = (
        user_environment_pipeline() + dual_attention_pipeline() + engagement_pipeline() + ppcl_pipeline()
    ).only_nodes(*TRAIN_NODES)
    SequentialRunner().run(training, catalog)
    return root


@pytest.fixture(scope="session")
def predicted(trained):
    """predict run once on the example folder of new posts: the project root and its catalog (``predictions``)."""
    catalog = predict_catalog(trained)
    SequentialRunner().run(predict_pipeline(), catalog)
    return trained, catalog


@contextlib.contextmanager
def tracking(uri: str):
    """MLflow pointed at the store ``uri`` for the block (tracking and registry), then back."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield mlflow.MlflowClient()
    finally:
        mlflow.set_tracking_uri(previous)


FIGURES = {"test_score": 0.5, "test_score_std": 0.01, "val_score": 0.4}


def contract(pipeline: str, model: str) -> dict:
    """A results contract with the model's test (and validation) figures, as evaluate writes one."""
    return {"pipeline": pipeline, "dataset": f"{pipeline}: tiny world", "seed": [0], "models": {model: FIGURES}}


@pytest.fixture(scope="session")
def scorers(trained, tmp_path_factory):
    """The three scorers registered by their pipelines' ``register_scorer`` nodes, in one run (as kedro-mlflow
    opens one per ``kedro run``) of a temporary SQLite store. Returns the store's URI and each node's output."""
    folder = tmp_path_factory.mktemp("scorers")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    catalog = predict_catalog(trained)
    embeddings = catalog.load("image_embeddings")
    while mlflow.active_run() is not None:  # one the training run's metric datasets left in the default store
        mlflow.end_run()
    with tracking(uri):
        experiment = mlflow.create_experiment("serving", artifact_location=(folder / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            registered = {
                "ppcl.full": register_ppcl_scorer(
                    catalog.load("ppcl_full_model"),
                    catalog.load("ppcl_model_card"),
                    catalog.load("ppcl_full_preprocessor"),
                    contract("ppcl", "full"),
                    embeddings,
                    base_params("ppcl"),
                ),
                "dual_attention.full": register_dual_attention_scorer(
                    catalog.load("dual_attention_full_model"),
                    catalog.load("dual_attention_full_history"),
                    catalog.load("dual_attention_preprocessor"),
                    catalog.load("user_environment_model_input"),
                    catalog.load("user_environment_lda"),
                    contract("dual_attention", "full"),
                    embeddings,
                    base_params("dual_attention"),
                    catalog.load("params:user_environment"),
                ),
                "engagement.catboost_pre_publication": register_engagement_scorer(
                    catalog.load("engagement_catboost_pre_publication_model"),
                    FIGURES,  # the model's test scores, as the engagement pipeline's report puts them in the contract
                    catalog.load("engagement_target_spec"),
                    {"pixelrec": {"folder": "data/01_raw/sample_world/pixelrec"}},
                    embeddings,
                    base_params("engagement"),
                ),
            }
    return uri, registered


def profiles(users: pd.DataFrame, user_ids: pd.Series) -> pd.DataFrame:
    """The PPCL profile fields of each user's ``users`` row as a request sends them: numbers, booleans, text and
    ISO times, ``None`` where the row has none (or the user has no row)."""
    rows = users.drop_duplicates("user_id").set_index("user_id").reindex(user_ids.astype(str))
    out = pd.DataFrame(index=range(len(rows)))
    for field in PROFILE_FIELDS:
        values = rows[field] if field in rows else pd.Series(pd.NA, index=rows.index)
        if str(values.dtype).startswith("datetime"):
            values = values.map(lambda t: t.isoformat() if pd.notna(t) else None)
        out[field] = [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in values]
    return out.astype(object)


def request_frame(predictions: pd.DataFrame, users: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """predict's example posts (read from the instaloader ``folder``) as a request to a served scorer: what predict
    read for each post (reference, caption, user id, time), the path of its image (predict leaves it out where the
    image does not decode) and the profile fields of its user's ``users`` row."""
    posts = predictions[["post_ref", "caption", "image_path", "user_id"]].astype(object).reset_index(drop=True)
    posts["image_path"] = [
        path if isinstance(path, str) else str(folder / f"{ref}.jpg")
        for path, ref in zip(posts["image_path"], posts["post_ref"], strict=True)
    ]
    posts["posted_at"] = [t.isoformat() if pd.notna(t) else None for t in predictions["posted_at"]]
    posts = pd.concat([posts, profiles(users, predictions["user_id"])], axis=1)
    return posts.where(posts.notna(), None)
