"""The training scaffold: early stopping keeps the best weights, a resumed run ends where a straight one
does, checkpoints load with ``weights_only=True``, and the layers import only downwards."""

from __future__ import annotations

import ast
import copy
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from engagement_lab.core.training import Checkpoint, Fit, FitConfig, fit, seed_everything

SRC = Path(__file__).resolve().parents[2] / "src" / "engagement_lab"


class Toy:
    """A small regression with dropout and noisy inputs that draw on torch's, numpy's and Python's global
    generators, so a resumed run matches a straight one only if the checkpoint restores all three."""

    def __init__(self) -> None:
        seed_everything(0, python=True, numpy=True)
        self.model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)
        data = torch.Generator().manual_seed(1)
        self.x = torch.randn(96, 4, generator=data)
        self.y = self.x @ torch.randn(4, 1, generator=data) + 0.1 * torch.randn(96, 1, generator=data)

    def batches(self, epoch: int) -> tuple[torch.Tensor, ...]:
        # The order follows from the epoch, so a resumed epoch sees the data a straight one does.
        return torch.randperm(len(self.x), generator=torch.Generator().manual_seed(epoch)).split(16)

    def train_step(self, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        noise = torch.from_numpy(np.random.standard_normal((len(idx), 4))).float() * random.random()
        loss = F.mse_loss(self.model(self.x[idx] + 0.05 * noise), self.y[idx])
        return loss, {"loss": loss.item()}

    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        with torch.no_grad():
            return {"val_mse": F.mse_loss(self.model(self.x), self.y).item()}

    def fit(self, config: FitConfig, **kwargs) -> Fit:
        return fit(self.model, self.optimizer, config, self.batches, self.train_step, self.evaluate, **kwargs)


def lr_at(step: int) -> float:
    return 0.05 * (0.9 ** (step // 6))


def scripted(toy: Toy, scores: list[float], key: str) -> tuple[Callable[[], dict[str, float]], list[dict]]:
    """An ``evaluate`` that returns ``scores`` in turn and keeps the weights each one was given for."""
    seen, it = [], iter(scores)

    def evaluate() -> dict[str, float]:
        seen.append(copy.deepcopy(toy.model.state_dict()))
        return {key: next(it)}

    return evaluate, seen


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name, tensor in a.items():
        assert torch.equal(tensor, b[name]), name


def test_early_stopping_stops_after_patience_and_restores_the_best_epochs_weights():
    toy = Toy()
    evaluate, seen = scripted(toy, [3.0, 1.0, 2.0, 5.0, 0.5, 0.1], "val_loss")
    config = FitConfig(epochs=6, select="val_loss", patience=2)
    result = fit(toy.model, toy.optimizer, config, toy.batches, toy.train_step, evaluate)
    assert [row["epoch"] for row in result.history] == [0, 1, 2, 3]  # two epochs without a better score
    assert [row["val_loss"] for row in result.history] == [3.0, 1.0, 2.0, 5.0]
    assert (result.best_epoch, result.best_score, result.steps) == (1, 1.0, 4 * 6)
    assert_same_weights(toy.model.state_dict(), seen[1])
    assert not torch.equal(seen[3]["0.weight"], seen[1]["0.weight"])  # it did train on after the best epoch


def test_a_larger_score_can_be_the_better_one_and_without_patience_every_epoch_runs():
    toy = Toy()
    evaluate, seen = scripted(toy, [0.1, 0.5, 0.3, 0.2], "val_f1")
    config = FitConfig(epochs=4, select="val_f1", maximize=True)
    result = fit(toy.model, toy.optimizer, config, toy.batches, toy.train_step, evaluate)
    assert len(result.history) == 4 and (result.best_epoch, result.best_score) == (1, 0.5)
    assert_same_weights(toy.model.state_dict(), seen[1])


def test_a_resumed_run_ends_where_a_straight_one_does(tmp_path):
    config = FitConfig(epochs=6, select="val_mse", patience=3)
    straight = Toy()
    expected = straight.fit(config, lr_at=lr_at)

    def interrupt(epochs_done: int, metrics: dict[str, float]) -> None:
        if epochs_done == 2:
            raise KeyboardInterrupt  # killed after epoch 2's checkpoint was written

    checkpoint = Checkpoint(tmp_path / "toy.pt", {"lr": 0.05}, data="toy")
    with pytest.raises(KeyboardInterrupt):
        Toy().fit(config, lr_at=lr_at, checkpoint=checkpoint, on_epoch_end=interrupt)
    np.random.seed(123)  # whatever ran in between, the checkpoint's generator states win
    random.seed(123)
    resumed = Toy()
    torch.manual_seed(123)
    result = resumed.fit(config, lr_at=lr_at, checkpoint=checkpoint)

    assert result.history == expected.history
    assert (result.best_epoch, result.best_score, result.steps) == (
        expected.best_epoch,
        expected.best_score,
        expected.steps,
    )
    assert_same_weights(resumed.model.state_dict(), straight.model.state_dict())
    assert resumed.optimizer.param_groups[0]["lr"] == lr_at(expected.steps)


def test_a_checkpoint_loads_with_weights_only_and_holds_everything_to_resume(tmp_path, caplog):
    path = tmp_path / "toy.pt"
    Toy().fit(FitConfig(epochs=2, select="val_mse"), lr_at=lr_at, checkpoint=Checkpoint(path, {"lr": 0.05}))
    saved = torch.load(path, weights_only=True)
    assert {"model", "optimizer", "scaler", "step", "epoch", "rng", "config", "history", "best"} <= saved.keys()
    assert (saved["epoch"], saved["step"], saved["config"]) == (2, 12, {"lr": 0.05})
    assert {"torch", "cuda", "python", "numpy"} <= saved["rng"].keys()
    assert saved["best"]["state"].keys() == saved["model"].keys()

    # A finished run returns at once; one for another config trains from scratch.
    before = path.stat().st_mtime_ns
    done = Toy().fit(FitConfig(epochs=2, select="val_mse"), lr_at=lr_at, checkpoint=Checkpoint(path, {"lr": 0.05}))
    assert path.stat().st_mtime_ns == before and len(done.history) == 2
    Toy().fit(FitConfig(epochs=1), checkpoint=Checkpoint(path, {"lr": 0.01}))
    assert "another config or data set" in caplog.text
    assert torch.load(path, weights_only=True)["config"] == {"lr": 0.01}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_the_scaffold_imports_nothing_above_it_and_the_training_code_no_kedro():
    assert not {m for m in imported_modules(SRC / "core" / "training.py") if m.startswith("engagement_lab")}
    for paper in ("vise", "ppcl", "engagement", "dual_attention"):
        above = {
            m
            for m in imported_modules(SRC / paper / "train.py")
            if m.split(".")[0] in ("kedro", "mlflow")
            or m.startswith(("engagement_lab.hooks", "engagement_lab.pipelines"))
        }
        assert not above, (paper, above)
