"""Log trained models to MLflow with signatures and register them in the model registry.

PyTorch models go through ``mlflow.pytorch.log_model`` (pyfunc input: one float matrix), CatBoost models through
``mlflow.catboost.log_model`` (pyfunc input: the fitted feature builder's table). MLflow 3 names the logged model
with ``name=`` (``artifact_path`` is deprecated). ``pip_requirements`` are given, so MLflow does not spend a
subprocess inferring them. The run is the active one (kedro-mlflow opens one per ``kedro run``); outside a run one
is started and ended here.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.models import infer_signature
from torch import nn

logger = logging.getLogger(__name__)


class MatrixInput(nn.Module):
    """A model of several tensors (e.g. image, text, has_image) as a model of one float matrix whose columns are
    those tensors side by side: MLflow's pytorch pyfunc passes a single tensor. ``widths`` are the column counts;
    a width-1 part is squeezed to a vector."""

    def __init__(self, model: nn.Module, widths: list[int]) -> None:
        super().__init__()
        self.model = model
        self.widths = list(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != sum(self.widths):
            raise ValueError(f"expected {sum(self.widths)} input columns {self.widths}, got {x.shape[1]}")
        parts = torch.split(x, self.widths, dim=1)
        return self.model(*(p.squeeze(1) if w == 1 else p for p, w in zip(parts, self.widths, strict=True)))


def _requirement(module: Any, name: str) -> str:
    return f"{name}=={module.__version__.split('+')[0]}"


@contextlib.contextmanager
def active_run():
    """The active MLflow run, or a new one for the duration (tests, plain Python)."""
    if mlflow.active_run() is not None:
        yield mlflow.active_run()
        return
    with mlflow.start_run(run_name="register_models") as run:
        yield run


def _registered(info: Any, registered_name: str, flavor: str) -> dict[str, Any]:
    version = getattr(info, "registered_model_version", None)
    return {"registered_model": registered_name, "version": int(version) if version is not None else None,
            "model_uri": info.model_uri, "run_id": info.run_id, "flavor": flavor}  # fmt: skip


def log_torch_model(model: nn.Module, name: str, input_example: np.ndarray, registered_name: str) -> dict[str, Any]:
    """Log an ``nn.Module`` (eval mode) with the signature of ``input_example`` → its output, and register it."""
    import mlflow.pytorch

    model = model.eval()
    example = np.asarray(input_example, dtype=np.float32)
    with torch.inference_mode():
        output = model(torch.from_numpy(example)).float().numpy()
    signature = infer_signature(example, output)
    info = mlflow.pytorch.log_model(model, name=name, signature=signature, input_example=example,
                                    registered_model_name=registered_name,
                                    pip_requirements=[_requirement(torch, "torch")])  # fmt: skip
    logger.info("MLflow: logged %s (pytorch) and registered %s", name, registered_name)
    return _registered(info, registered_name, "pytorch")


def log_catboost_model(model: Any, name: str, input_example: pd.DataFrame, registered_name: str) -> dict[str, Any]:
    """Log a fitted CatBoost model with the signature of its feature table → predicted class, and register it."""
    import catboost
    import mlflow.catboost

    signature = infer_signature(input_example, np.asarray(model.predict(input_example)))
    info = mlflow.catboost.log_model(model, name=name, signature=signature, input_example=input_example,
                                     registered_model_name=registered_name,
                                     pip_requirements=[_requirement(catboost, "catboost")])  # fmt: skip
    logger.info("MLflow: logged %s (catboost) and registered %s", name, registered_name)
    return _registered(info, registered_name, "catboost")
