"""The register_* nodes: saved models → MLflow (pytorch and catboost flavours) with signatures, registered in a
SQLite model registry, loaded back by name and giving the same predictions as the models themselves. The models
predict scores with are not among them: their own pipelines register them as models of raw posts
(tests/pipelines/predict/test_registry.py)."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from catboost import CatBoostClassifier

from engagement_lab.core.registry import (
    SCORING_DUAL_ATTENTION_MODEL,
    SCORING_ENGAGEMENT_FEATURE_SET,
    SCORING_PPCL_MODEL,
)
from engagement_lab.engagement.models import FusionClassifier, ModelConfig
from engagement_lab.pipelines.demo import project_pipelines
from engagement_lab.pipelines.engagement.nodes import register_models as register_engagement_models
from engagement_lab.pipelines.reporting.nodes import register_vise_backbones
from engagement_lab.vise.models import small_resnet
from tests.conftest import base_params

IMAGE_DIM, TEXT_DIM = 8, 4


class _Features:
    """Stands in for the fitted TabularFeatures of an engagement CatBoost pickle."""

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        image = np.stack(frame["image_embedding"].to_numpy())
        return pd.DataFrame({"image_0": image[:, 0], "image_1": image[:, 1], "tag": frame["tag"].astype(str)})


def _labelled(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "post_id": [f"pixelrec:{i}" for i in range(n)],
            "split": ["train"] * (n - 10) + ["test"] * 10,
            "image_embedding": list(rng.normal(size=(n, IMAGE_DIM)).astype(np.float32)),
            "text_embedding": list(rng.normal(size=(n, TEXT_DIM)).astype(np.float32)),
            "has_image": np.r_[np.ones(n - 1), 0.0],  # the last test post has no cover image
            "target": rng.normal(size=n),
            "engagement_class": rng.integers(0, 5, n),
            "tag": rng.choice(["cat", "dog", "car"], n),
        }
    )


def test_register_models_logs_signatures_and_registers_each_flavour(registry):
    torch.manual_seed(0)
    labelled = _labelled()
    config = ModelConfig(image_dim=IMAGE_DIM, text_dim=TEXT_DIM, d_model=8, n_tokens=2, n_heads=2, dropout=0.0)
    fusion = FusionClassifier(config).eval()
    features = _Features()
    train = labelled[labelled["split"] == "train"]
    catboost = CatBoostClassifier(
        iterations=20,
        depth=2,
        verbose=False,
        thread_count=1,
        random_seed=0,
        allow_writing_files=False,
        cat_features=["tag"],
    ).fit(features.transform(train), train["engagement_class"])
    backbone = small_resnet()  # as build_backbone("resnet_small") makes it
    settings = base_params("registry", input_example_rows=3)

    engagement = register_engagement_models(
        settings,
        labelled,
        {"fusion_concat": {"model": config.to_dict()}},
        catboost_paper={"features": features, "model": catboost, "feature_set": "paper"},
        fusion_concat=fusion.state_dict(),
        fusion_gated=None,  # its pipeline has not run
    )
    backbones = register_vise_backbones(
        settings,
        {"config": {"backbone": "resnet_small", "image_size": 32}},
        vise={k: v.clone() for k, v in backbone.state_dict().items()},
    )
    result = {
        "registered": engagement["registered"] + backbones["registered"],
        "skipped": engagement["skipped"] + backbones["skipped"],
    }

    assert result["skipped"] == ["engagement.fusion_gated"]
    names = {row["registered_model"]: row for row in result["registered"]}
    assert set(names) == {"engagement.catboost_paper", "engagement.fusion_concat", "pretraining.vise"}
    assert {row["flavor"] for row in result["registered"]} == {"catboost", "pytorch"}
    for name in names:
        assert registry.get_registered_model(name).name == name
        versions = registry.search_model_versions(f"name='{name}'")
        assert [int(v.version) for v in versions] == [1] and versions[0].run_id == names[name]["run_id"]

    # Loaded back from the registry by name: a signature, and the models' own predictions.
    test = labelled[labelled["split"] == "test"]
    loaded = mlflow.pyfunc.load_model("models:/engagement.fusion_concat/1")
    assert list(loaded.metadata.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, IMAGE_DIM + TEXT_DIM + 1]
    matrix = np.concatenate(
        [
            np.stack(test["image_embedding"]),
            np.stack(test["text_embedding"]),
            test["has_image"].to_numpy(np.float32)[:, None],
        ],
        axis=1,
    ).astype(np.float32)
    with torch.inference_mode():
        expected = fusion(
            torch.from_numpy(matrix[:, :IMAGE_DIM]),
            torch.from_numpy(matrix[:, IMAGE_DIM:-1]),
            torch.from_numpy(matrix[:, -1]),
        ).numpy()
    np.testing.assert_allclose(loaded.predict(matrix), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(Exception, match="13|columns|shape"):  # the signature guards the input width
        loaded.predict(matrix[:, :-1])

    cb = mlflow.pyfunc.load_model("models:/engagement.catboost_paper/1")
    assert [c["name"] for c in cb.metadata.signature.inputs.to_dict()] == ["image_0", "image_1", "tag"]
    x = features.transform(test)
    np.testing.assert_array_equal(np.ravel(cb.predict(x)), np.ravel(catboost.predict(x)))

    vise = mlflow.pyfunc.load_model("models:/pretraining.vise/1")
    images = np.random.default_rng(1).random((2, 3, 32, 32), dtype=np.float32)
    with torch.inference_mode():
        features_expected = backbone.eval()(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(vise.predict(images), features_expected, rtol=1e-4, atol=1e-5)


def test_registry_can_be_switched_off():
    settings = base_params("registry", enabled=False)
    result = register_engagement_models(settings, None, None, fusion_concat={"w": torch.zeros(1)})
    assert result == {"registered": [], "skipped": ["engagement.fusion_concat"]}


def test_the_models_predict_scores_with_are_registered_by_the_pipelines_that_train_them():
    """Each is logged by a ``register_scorer`` node at the end of its own pipeline (so into the MLflow run that
    trained it), with its test figures as an input; the other registry nodes leave them out. The other engagement
    models are registered by the engagement pipeline too (the run that trained them), not by reporting."""
    pipelines = project_pipelines()
    scoring = {
        "ppcl": f"ppcl_{SCORING_PPCL_MODEL}_model",
        "dual_attention": f"dual_attention_{SCORING_DUAL_ATTENTION_MODEL}_model",
        "engagement": f"engagement_catboost_{SCORING_ENGAGEMENT_FEATURE_SET}_model",
    }
    registry_inputs = {
        name
        for pipeline in ("reporting", "engagement")
        for node in pipelines[pipeline].nodes
        if node.name in ("reporting.register_vise_backbones", "engagement.register_models")
        for name in node.inputs
    }
    assert len(registry_inputs) > 5 and registry_inputs.isdisjoint(scoring.values())
    assert "registered_engagement_models" in pipelines["engagement"].all_outputs()
    assert "registered_engagement_models" not in pipelines["reporting"].all_outputs()
    test_figures = {  # the results contract, or (engagement) the model's scores the contract is made of
        "ppcl": "ppcl_metrics",
        "dual_attention": "dual_attention_metrics",
        "engagement": f"engagement_catboost_{SCORING_ENGAGEMENT_FEATURE_SET}_scores",
    }
    for pipeline, model in scoring.items():
        [node] = [n for n in pipelines[pipeline].nodes if n.name == f"{pipeline}.register_scorer"]
        assert {model, test_figures[pipeline], f"params:{pipeline}"} <= set(node.inputs) and len(node.inputs) <= 10
        assert node.outputs == [f"{pipeline}_registered_scorer"]
