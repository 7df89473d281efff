"""The model index: a fingerprint that follows the weights, sizes that add up, loaded artifacts named by type."""

from __future__ import annotations

import torch

from engagement_lab.core.model_index import model_entry, weights_summary


def test_the_fingerprint_follows_the_weights_and_the_sizes_add_up():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    state = model.state_dict()
    summary = weights_summary(state)
    # 4*3 + 3 weights and biases, 3 + 3 BatchNorm affine, 3 + 3 running stats and one batch counter
    assert summary["parameters"] == 15 + 6 + 6 + 1 and summary["tensors"] == len(state) == 7
    assert weights_summary({k: v.clone() for k, v in state.items()}) == summary  # the same values, the same hash
    changed = {k: v.clone() for k, v in state.items()}
    changed["0.weight"][0, 0] += 1e-6
    assert weights_summary(changed)["sha256"] != summary["sha256"]
    renamed = {f"x.{k}": v for k, v in state.items()}
    assert weights_summary(renamed)["sha256"] != summary["sha256"]  # names are part of what was saved
    half = weights_summary({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()})
    assert half["parameters"] == summary["parameters"] and half["sha256"] != summary["sha256"]  # bf16 hashes too
    assert weights_summary(model)["sha256"] == summary["sha256"]  # a module in memory: its state dict


def test_an_entry_names_each_artifact_and_keeps_card_and_history():
    history = {"runs": {"0": {"history": [{"epoch": 0, "val_loss": 0.5}]}}}
    entry = model_entry(torch.nn.Linear(2, 1).state_dict(), preprocessor=[1, 2], history=history, card={"seed": 0})
    assert entry["weights"]["parameters"] == 3
    assert entry["preprocessor"] == "builtins.list"
    assert entry["history"] == history and entry["card"] == {"seed": 0}
    assert model_entry() == {}
