"""Log trained models to MLflow with signatures and register them in the model registry.

The models that score new posts (``ppcl.full``, ``dual_attention.full``, ``engagement.catboost_pre_publication``)
are not registered here: their own pipelines register them, from the run that trained them, as MLflow models of raw
posts (``engagement_lab.predict.serving``). PyTorch models go through ``mlflow.pytorch.log_model`` (pyfunc input: one float matrix), CatBoost models through
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
    """A model of several tensors as a model of one float matrix whose columns are those tensors side by side:
    MLflow's pytorch pyfunc passes a single tensor.

    ``parts`` are (name, column count) in column order; a width-1 part is squeezed to a vector and the parts
    named in ``integer`` are rounded to int64 (token ids, lengths, category codes). ``call`` says how the model
    takes them: ``"positional"`` (``model(*parts)``), ``"keywords"`` (``model(**parts)``) or ``"batch"``
    (``model(parts)``, one dict). ``output`` picks one entry of a dict output; ``probability`` applies a sigmoid
    (a logit → the probability a user reads)."""

    CALLS = ("positional", "keywords", "batch")

    def __init__(
        self,
        model: nn.Module,
        parts: list[tuple[str, int]],
        integer: tuple[str, ...] = (),
        call: str = "positional",
        output: str | None = None,
        probability: bool = False,
    ) -> None:
        super().__init__()
        if call not in self.CALLS:
            raise ValueError(f"call must be one of {self.CALLS}, got {call!r}")
        if unknown := set(integer) - {name for name, _ in parts}:
            raise ValueError(f"integer parts {sorted(unknown)} are not among the parts {[n for n, _ in parts]}")
        self.model = model
        self.parts = [(str(name), int(width)) for name, width in parts]
        self.integer = tuple(integer)
        self.call, self.output, self.probability = call, output, probability

    @property
    def width(self) -> int:
        return sum(width for _, width in self.parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.width:
            raise ValueError(f"expected {self.width} input columns {self.parts}, got shape {tuple(x.shape)}")
        values = {}
        for (name, width), columns in zip(self.parts, torch.split(x, [w for _, w in self.parts], dim=1), strict=True):
            part = columns.squeeze(1) if width == 1 else columns
            values[name] = part.round().long() if name in self.integer else part
        if self.call == "positional":
            out = self.model(*values.values())
        elif self.call == "keywords":
            out = self.model(**values)
        else:
            out = self.model(values)
        out = out[self.output] if self.output is not None else out
        return torch.sigmoid(out) if self.probability else out


def side_by_side(arrays: dict[str, np.ndarray]) -> tuple[list[tuple[str, int]], np.ndarray]:
    """Named arrays of n rows (vectors count as one column) → :class:`MatrixInput`'s parts and the float32
    matrix of them side by side, in the dict's order."""
    columns = {name: np.asarray(a, dtype=np.float32).reshape(len(a), -1) for name, a in arrays.items()}
    return [(name, c.shape[1]) for name, c in columns.items()], np.concatenate(list(columns.values()), axis=1)


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
    return {
        "registered_model": registered_name,
        "version": int(version) if version is not None else None,
        "model_uri": info.model_uri,
        "run_id": info.run_id,
        "flavor": flavor,
    }


def log_torch_model(
    model: nn.Module, name: str, input_example: np.ndarray, registered_name: str, serialization_format: str = "pt2"
) -> dict[str, Any]:
    """Log an ``nn.Module`` (eval mode) with the signature of ``input_example`` → its output, and register it.

    ``pt2`` (MLflow 3's default: ``torch.export``) loads without this project's code; ``pickle`` is for models
    that ``torch.export`` cannot trace (the LSTM's ``pack_padded_sequence`` takes data-dependent lengths) and
    needs ``engagement_lab`` importable where it is loaded."""
    import mlflow.pytorch

    model = model.eval()
    example = np.asarray(input_example, dtype=np.float32)
    with torch.inference_mode():
        output = model(torch.from_numpy(example)).float().numpy()
    signature = infer_signature(example, output)
    info = mlflow.pytorch.log_model(
        model,
        name=name,
        signature=signature,
        input_example=example,
        registered_model_name=registered_name,
        serialization_format=serialization_format,
        pip_requirements=[_requirement(torch, "torch")],
    )
    logger.info("MLflow: logged %s (pytorch, %s) and registered %s", name, serialization_format, registered_name)
    return _registered(info, registered_name, "pytorch")


def log_catboost_model(model: Any, name: str, input_example: pd.DataFrame, registered_name: str) -> dict[str, Any]:
    """Log a fitted CatBoost model with the signature of its feature table → predicted class, and register it."""
    import catboost
    import mlflow.catboost

    signature = infer_signature(input_example, np.asarray(model.predict(input_example)))
    info = mlflow.catboost.log_model(
        model,
        name=name,
        signature=signature,
        input_example=input_example,
        registered_model_name=registered_name,
        pip_requirements=[_requirement(catboost, "catboost")],
    )
    logger.info("MLflow: logged %s (catboost) and registered %s", name, registered_name)
    return _registered(info, registered_name, "catboost")


# ------------------------------------------------------------------------------- each pipeline's saved models
# Each function logs one pipeline's saved models to the active run and registers them as
# ``<prefix><pipeline>.<model>``; a model whose pipeline has not run (None) or that lacks a companion is skipped.
# ``section`` is the ``registry`` parameters (conf/base/parameters_registry.yml).


def _outcome(registered: list[dict[str, Any]], skipped: list[str]) -> dict[str, Any]:
    logger.info("reporting: registered %d models, skipped (not run) %s", len(registered), skipped)
    return {"registered": registered, "skipped": skipped}


def _disabled(section: dict[str, Any], names: list[str]) -> dict[str, Any] | None:
    if section.get("enabled", True):
        return None
    logger.info("reporting: model registry disabled (registry.enabled)")
    return {"registered": [], "skipped": sorted(names)}


def register_engagement_models(
    models: dict[str, Any], labelled: pd.DataFrame | None, model_card: dict[str, Any] | None, section: dict[str, Any]
) -> dict[str, Any]:
    """The engagement models by name (``catboost_paper``, ``fusion_gated``, ...): CatBoost bundles with their
    feature table as input, torch models with [image | text | has_image] as one matrix."""
    from engagement_lab.reporting.saved_models import engagement_arrays, engagement_model

    names = [f"engagement.{name}" for name in models]
    if (off := _disabled(section, names)) is not None:
        return off
    rows, registered, skipped = section["input_example_rows"], [], []
    with active_run():
        for name, saved in models.items():
            registered_name = f"{section['prefix']}engagement.{name}"
            if saved is None or labelled is None:
                skipped.append(f"engagement.{name}")
                continue
            test = labelled[labelled["split"] == "test"].head(rows)
            if name.startswith("catboost_"):
                registered.append(
                    log_catboost_model(saved["model"], name, saved["features"].transform(test), registered_name)
                )
                continue
            model = engagement_model(name, saved, model_card)
            if model is None:
                skipped.append(f"engagement.{name}")
                continue
            arrays = engagement_arrays(test)
            parts, example = side_by_side({"image": arrays.image, "text": arrays.text, "has_image": arrays.has_image})
            registered.append(log_torch_model(MatrixInput(model, parts), name, example, registered_name))
    return _outcome(registered, skipped)


def register_vise_backbones(
    backbones: dict[str, Any], pretraining_config: dict[str, Any], section: dict[str, Any]
) -> dict[str, Any]:
    """The pretrained VisE backbones by task set (``vise``, ...), each a model of a batch of images."""
    from engagement_lab.reporting.saved_models import vise_backbone

    names = [f"pretraining.{name}" for name in backbones]
    if (off := _disabled(section, names)) is not None:
        return off
    registered, skipped = [], []
    with active_run():
        for name, state in backbones.items():
            if state is None:
                skipped.append(f"pretraining.{name}")
                continue
            model, example = vise_backbone(state, pretraining_config, section["input_example_rows"])
            registered.append(
                log_torch_model(model, f"{name}_backbone", example, f"{section['prefix']}pretraining.{name}")
            )
    return _outcome(registered, skipped)
