"""Small PPCL settings for the tiny world (this package's tests and predict's)."""

from __future__ import annotations

from tests.conftest import base_params


def tiny_params() -> dict:
    params = base_params("ppcl", device="cpu", seeds=[0, 1])
    params["model"] = {**params["model"], "hidden": 32, "bottleneck": 16, "embed_dim": 8, "cross_layers": 2}
    params["train"] = {**params["train"], "epochs": 15, "patience": 4, "batch_size": 64}
    params["catboost"] = {**params["catboost"], "iterations": 40, "early_stopping_rounds": 10}
    params["preprocessing"] = {**params["preprocessing"], "n_clusters": 8}
    return params
