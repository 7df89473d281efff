"""The ppcl pipeline on the tiny world: contract, saved artefacts, and the model against its baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import MemoryDataset
from kedro.runner import SequentialRunner

from engagement_lab.core.registry import PPCL_MODELS
from engagement_lab.pipelines.ppcl import create_pipeline
from engagement_lab.pipelines.ppcl.nodes import build_ppcl_input, split_posts
from engagement_lab.ppcl.data import PPCLDataError, Preprocessor
from engagement_lab.ppcl.model import load_model
from engagement_lab.ppcl.train import Split, predict
from tests.conftest import add_params
from tests.pipelines.ppcl.conftest import tiny_params

CANONICAL = ["posts", "users", "images", "image_embeddings", "post_texts", "text_embeddings"]


@pytest.fixture(scope="module")
def ppcl_run(tiny_featured):
    catalog = tiny_featured
    for name in ("ppcl_model_input", "ppcl_split_input"):  # shared session catalog: plain memory copies
        catalog[name] = MemoryDataset(copy_mode="assign")
    add_params(catalog, "ppcl", tiny_params())
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


def test_contract_has_every_model_with_seed_statistics_and_the_oracle(ppcl_run):
    results = ppcl_run.load("ppcl_metrics")
    assert results["pipeline"] == "ppcl" and results["seed"] == [0, 1]
    assert results["dataset"].startswith("smpd: ") and "oracle_omitted" not in results  # the folder ingestion read
    assert set(results["models"]) == {*PPCL_MODELS, "catboost", "tfidf_ridge", "mean_prediction"}
    sizes = results["split_sizes"]
    posts, quarantined = sizes["input_posts"], sizes["input_quarantined"]
    assert sizes["train"] + sizes["val"] + sizes["test"] == sizes["input_modelled"] == posts - quarantined
    assert quarantined >= 1  # the tiny world injects zero-day and missing-label posts
    assert abs(sizes["test"] - 0.1 * sizes["input_modelled"]) <= 1
    assert sizes["train_full_100k"] == round(sizes["train"] / 3)
    for name in (*PPCL_MODELS, "catboost"):
        metrics = results["models"][name]
        for key in ("test_mae", "test_mae_std", "test_mse", "test_src", "test_src_std", "val_mae"):
            assert np.isfinite(metrics[key]), (name, key)
        assert metrics["seeds"] == 2
    assert {"test_mae", "test_mse", "test_src"} <= set(results["oracle"])
    quarantine = ppcl_run.load("ppcl_quarantine")
    assert len(quarantine) == quarantined and quarantine["reason"].notna().all()


def test_full_model_beats_the_mean_and_reaches_a_share_of_the_oracle(ppcl_run):
    results = ppcl_run.load("ppcl_metrics")
    full, mean, oracle = results["models"]["full"], results["models"]["mean_prediction"], results["oracle"]
    assert full["test_mae"] < mean["test_mae"]
    assert full["test_mse"] < mean["test_mse"]
    assert full["test_src"] > 0.5 * oracle["test_src"]  # ~320 training posts, 30 users


def test_saved_full_model_reloads_and_reproduces_its_predictions(ppcl_run):
    state = ppcl_run.load("ppcl_full_model")
    preprocessor = ppcl_run.load("ppcl_full_preprocessor")
    card = ppcl_run.load("ppcl_model_card")
    assert isinstance(preprocessor, Preprocessor) and card["catalog"]["weights"] == "ppcl_full_model"
    model = load_model(state, card)
    # The runner released the in-memory split: rebuild it from the canonical tables (deterministic).
    model_input, _, _ = build_ppcl_input(*(ppcl_run.load(name) for name in CANONICAL), tiny_params())
    split = split_posts(model_input, tiny_params())
    test = split[split["split"] == "test"]
    pred = predict(model, Split.from_arrays(preprocessor.transform(test)), torch.device("cpu"))
    saved = ppcl_run.load("ppcl_full_predictions")
    saved = saved[(saved["split"] == "test") & (saved["seed"] == 0)]
    np.testing.assert_allclose(pred, saved["prediction"].to_numpy(), rtol=1e-4, atol=1e-4)
    figure = ppcl_run.load("ppcl_feature_plot")
    assert len(figure.data) == 2 and len(figure.data[0].x) == len(test)
    table = ppcl_run.load("ppcl_full_pred_vs_true")
    assert len(table) == len(test)
    # The model index read every model's files back: the saved weights' own sizes, types and cards.
    index = ppcl_run.load("ppcl_model_index")
    assert list(index) == [*PPCL_MODELS, "catboost"]
    assert index["full"]["weights"]["parameters"] == sum(t.numel() for t in state.values())
    assert index["full"]["preprocessor"] == "engagement_lab.ppcl.data.Preprocessor"
    assert index["full"]["card"] == ppcl_run.load("ppcl_full_card")
    assert index["catboost"]["model"] == "catboost.core.CatBoostRegressor"


def test_a_missing_source_is_named(tiny_featured):
    frames = {name: tiny_featured.load(name) for name in CANONICAL}
    with pytest.raises(PPCLDataError, match="source == 'flickr'"):
        build_ppcl_input(*frames.values(), {"source": "flickr"})
    texts = frames["post_texts"]
    frames["post_texts"] = texts[~texts["post_id"].str.startswith("smpd:")].copy()
    with pytest.raises(PPCLDataError, match="no text embedding"):
        build_ppcl_input(*frames.values(), {"source": "smpd"})
    assert isinstance(frames["posts"], pd.DataFrame)
