"""The smallest trained models predict needs, fitted once per module on the tiny world, and a project
catalog under a temp root that holds them and the sample world's example folder of new posts."""

from __future__ import annotations

import shutil

import pytest
from kedro.runner import SequentialRunner

from engagement_lab.pipelines.dual_attention import create_pipeline as dual_attention_pipeline
from engagement_lab.pipelines.engagement import create_pipeline as engagement_pipeline
from engagement_lab.pipelines.ppcl import create_pipeline as ppcl_pipeline
from engagement_lab.pipelines.user_environment import create_pipeline as user_environment_pipeline
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
