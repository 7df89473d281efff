"""The models predict scores with, registered by reporting's register_* nodes: each loads back from the MLflow
registry by name with a signature and gives the trained model's own test predictions from one float matrix."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd

from engagement_lab.dual_attention.inputs import INPUTS, encode_model_input
from engagement_lab.pipelines.reporting.nodes import register_dual_attention_model, register_ppcl_model
from tests.conftest import base_params
from tests.pipelines.predict.conftest import predict_catalog


def _test_rows(predictions: pd.DataFrame, key: str) -> pd.Series:
    first = predictions[(predictions["split"] == "test") & (predictions["seed"] == predictions["seed"].min())]
    return first.set_index("post_id")[key]


def test_dual_attention_and_ppcl_register_and_reproduce_their_test_predictions(trained, registry):
    catalog = predict_catalog(trained)
    params = base_params("reporting")
    params["registry"]["input_example_rows"] = 4
    companions = {
        "dual_attention_history": catalog.load("dual_attention_full_history"),
        "dual_attention_preprocessor": catalog.load("dual_attention_preprocessor"),
        "user_environment_model_input": catalog.load("user_environment_model_input"),
        "ppcl_card": catalog.load("ppcl_full_card"),
        "ppcl_preprocessor": catalog.load("ppcl_full_preprocessor"),
        "ppcl_split_input": catalog.load("ppcl_split_input"),
    }
    dual_attention = register_dual_attention_model(
        params,
        catalog.load("dual_attention_full_model"),
        companions["dual_attention_history"],
        companions["dual_attention_preprocessor"],
        companions["user_environment_model_input"],
    )
    ppcl = register_ppcl_model(
        params,
        catalog.load("ppcl_full_model"),
        companions["ppcl_card"],
        companions["ppcl_preprocessor"],
        companions["ppcl_split_input"],
    )
    result = {"registered": dual_attention["registered"] + ppcl["registered"], "skipped": dual_attention["skipped"]}
    assert result["skipped"] == []
    assert {row["registered_model"]: row["flavor"] for row in result["registered"]} == {
        "dual_attention.full": "pytorch",
        "ppcl.full": "pytorch",
    }
    for name in ("dual_attention.full", "ppcl.full"):
        assert [int(v.version) for v in registry.search_model_versions(f"name='{name}'")] == [1]

    # Dual attention: [image | token ids | length | image env | topic env] → popular probability.
    model_input = companions["user_environment_model_input"]
    test = model_input[model_input["split"] == "test"].reset_index(drop=True)
    encoded = encode_model_input(companions["dual_attention_preprocessor"], test)
    matrix = np.concatenate([encoded[k].reshape(len(test), -1).astype(np.float32) for k in INPUTS], axis=1)
    loaded = mlflow.pyfunc.load_model("models:/dual_attention.full/1")
    assert list(loaded.metadata.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, matrix.shape[1]]
    expected = _test_rows(catalog.load("dual_attention_full_predictions"), "prob").loc[test["post_id"]]
    np.testing.assert_allclose(np.ravel(loaded.predict(matrix)), expected.to_numpy(), atol=1e-5)

    # PPCL: [image | text | dense user fields | categorical codes] → log2(views/day) + 1.
    split = companions["ppcl_split_input"]
    ppcl_test = split[split["split"] == "test"].reset_index(drop=True)
    arrays = companions["ppcl_preprocessor"].transform(ppcl_test)
    matrix = np.concatenate([arrays[k].astype(np.float32) for k in ("image", "text", "dense", "sparse")], axis=1)
    loaded = mlflow.pyfunc.load_model("models:/ppcl.full/1")
    expected = _test_rows(catalog.load("ppcl_full_predictions"), "prediction").loc[ppcl_test["post_id"]]
    np.testing.assert_allclose(np.ravel(loaded.predict(matrix)), expected.to_numpy(), atol=1e-4)
