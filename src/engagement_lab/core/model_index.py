"""A pipeline's model index: one JSON per modelling pipeline that lists every model its variants saved.

Each variant's training node writes its own files (weights, preprocessor, card, history). The index node of the
pipeline reads them all back, so a saved file that does not load fails the run that wrote it, and records per
model what a person comparing runs asks first: how large the weights are, a fingerprint that changes when they
change, the best epochs and the per-epoch history (the report draws its training curves from the index). In kedro
viz the per-variant files then stay inside the pipeline's box, and the index is the pipeline's one model output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def state_dict_of(model_or_state: Any) -> Any:
    """A torch module's ``state_dict``, or the state dict given: what a saved-model reader or writer takes, since a
    run whose catalog keeps models in memory hands over the module itself (no torch import: start-up)."""
    return model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state


def weights_summary(state: Any) -> dict[str, Any]:
    """Tensor count, parameter count and a SHA-256 over names, shapes and values of a torch ``state_dict`` (or of
    a module's, ``state_dict_of``)."""
    state = state_dict_of(state)
    digest, parameters = hashlib.sha256(), 0
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        parameters += tensor.numel()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16: hash its exact float32 widening
            tensor = tensor.float()
        digest.update(tensor.numpy().tobytes())
    return {"tensors": len(state), "parameters": int(parameters), "sha256": digest.hexdigest()}


def artifact_type(value: Any) -> str:
    """The loaded object's class, as ``module.QualName`` (a preprocessor or a tabular model)."""
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def model_entry(
    weights: Any = None,
    *,
    history: Any = None,
    card: Mapping[str, Any] | None = None,
    **artifacts: Any,
) -> dict[str, Any]:
    """One model's record: its weights' summary, its other saved artifacts' types, its card and its history."""
    entry: dict[str, Any] = {}
    if weights is not None:
        entry["weights"] = weights_summary(weights)
    entry.update({name: artifact_type(value) for name, value in artifacts.items()})
    if card is not None:
        entry["card"] = dict(card)
    if history is not None:
        entry["history"] = history
    return entry
