"""The results contract: names that MLflow keys can hold, plain floats, and the metric keys."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engagement_lab.core.results import contract_metrics, results_contract


def test_contract_is_plain_json_and_its_metrics_are_prefixed_by_model():
    results = results_contract(
        "ppcl",
        "sample_world:demo",
        {"train": 80, "val": 10, "test": 10},
        42,
        {"full": {"test_mae": np.float32(0.5), "test_src": np.float64(0.9)}, "no_cl": {"test_mae": 0.7}},
        oracle={"test_src": 0.95},
    )
    assert json.loads(json.dumps(results)) == results
    assert contract_metrics(results) == {
        "full.test_mae": {"value": 0.5, "step": 0},
        "full.test_src": {"value": pytest.approx(0.9), "step": 0},
        "no_cl.test_mae": {"value": pytest.approx(0.7), "step": 0},
        "oracle.test_src": {"value": 0.95, "step": 0},
    }


def test_a_dotted_model_name_is_refused_and_nan_stays_out_of_mlflow():
    with pytest.raises(ValueError, match="'w/o CL'"):
        results_contract("ppcl", "d", {}, 0, {"w/o CL": {"test_mae": 1.0}})
    results = results_contract("ppcl", "d", {}, 0, {"full": {"test_src": float("nan"), "test_mae": 1.0}})
    assert np.isnan(results["models"]["full"]["test_src"])
    assert list(contract_metrics(results)) == ["full.test_mae"]
