"""PPCL's losses against hand computations, and which encoder each loss's gradient reaches."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from engagement_lab.ppcl.losses import hierarchical_supcon, level_weights, rnc, supcon
from engagement_lab.ppcl.model import ModelConfig, PPCLModel
from engagement_lab.ppcl.train import TrainConfig, step_loss


def _cos(f: np.ndarray) -> np.ndarray:
    z = f / np.linalg.norm(f, axis=1, keepdims=True)
    return z @ z.T


def supcon_by_hand(f: np.ndarray, labels: list[int], tau: float) -> float:
    """Eq. 19 written out with loops, averaged over anchors with positives; label -1 = unlabelled."""
    s, n, losses = _cos(f) / tau, len(labels), []
    for i in range(n):
        positives = [p for p in range(n) if p != i and labels[i] >= 0 and labels[p] == labels[i]]
        if not positives:
            continue
        denominator = sum(math.exp(s[i, a]) for a in range(n) if a != i)
        losses.append(-sum(math.log(math.exp(s[i, p]) / denominator) for p in positives) / len(positives))
    return sum(losses) / len(losses)


def rnc_by_hand(f: np.ndarray, y: list[float], tau: float) -> float:
    """Eq. 26 written out: for each anchor i and j ≠ i, the denominator runs over k ≠ i no closer than j."""
    s, n, total = _cos(f) / tau, len(y), 0.0
    for i in range(n):
        row = 0.0
        for j in range(n):
            if j == i:
                continue
            far = [k for k in range(n) if k != i and abs(y[i] - y[k]) >= abs(y[i] - y[j])]
            row += -math.log(math.exp(s[i, j]) / sum(math.exp(s[i, k]) for k in far))
        total += row / (n - 1)
    return total / n


FEATURES = np.array([[1.0, 0.2, 0.0], [0.9, 0.1, 0.3], [-0.5, 1.0, 0.2], [0.1, -0.4, 1.0], [0.3, 0.3, -0.8]])


def test_supcon_matches_hand_computation():
    labels = [0, 0, 1, 1, 2]  # the last sample has no positive: not an anchor, still a negative
    got = supcon(torch.tensor(FEATURES), torch.tensor(labels), temperature=0.5).item()
    assert got == pytest.approx(supcon_by_hand(FEATURES, labels, 0.5), rel=1e-4, abs=1e-6)
    unlabelled = [0, 0, -1, -1, 1]
    got = supcon(torch.tensor(FEATURES), torch.tensor(unlabelled), temperature=0.1).item()
    assert got == pytest.approx(supcon_by_hand(FEATURES, unlabelled, 0.1), rel=1e-4, abs=1e-6)


def test_supcon_is_zero_not_nan_without_a_positive_pair():
    # Every label -1 (UISD without follower counts) or all distinct (UID, no augmentation): no anchor.
    features = torch.tensor(FEATURES, requires_grad=True)
    for labels in ([-1] * 5, [0, 1, 2, 3, 4]):
        loss = supcon(features, torch.tensor(labels))
        assert loss.item() == 0.0
        loss.backward()
        assert torch.isfinite(features.grad).all() and not features.grad.any()


def test_hierarchical_weights_are_one_over_l_squared_from_the_finest_level():
    assert level_weights(3) == pytest.approx([1 / 9, 1 / 4, 1.0])  # category, subcategory, concept
    levels = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3], [0, 0, 0]])
    got = hierarchical_supcon(torch.tensor(FEATURES), torch.tensor(levels), temperature=0.2).item()
    by_hand = sum(w * supcon_by_hand(FEATURES, list(levels[:, i]), 0.2) for i, w in enumerate([1 / 9, 1 / 4, 1]))
    assert got == pytest.approx(by_hand / 3, rel=1e-4, abs=1e-6)


def test_rnc_matches_hand_computation_with_ties():
    y = [1.0, 2.0, 2.0, 4.0, 1.5]  # a tie in distance from anchor 0 (samples 1 and 2)
    got = rnc(torch.tensor(FEATURES), torch.tensor(y), temperature=2.0).item()
    assert got == pytest.approx(rnc_by_hand(FEATURES, y, 2.0), rel=1e-4, abs=1e-6)
    rng = np.random.default_rng(0)
    f, y = rng.normal(size=(9, 4)), rng.integers(0, 4, 9).astype(float).tolist()
    assert rnc(torch.tensor(f), torch.tensor(y), 0.5).item() == pytest.approx(
        rnc_by_hand(f, y, 0.5), rel=1e-4, abs=1e-6
    )


def _tiny_model_and_batch(n: int = 12):
    torch.manual_seed(0)
    cfg = ModelConfig(
        image_dim=6,
        text_dim=5,
        n_dense=6,
        cardinalities=[5, 3, 4],
        hidden=8,
        bottleneck=4,
        embed_dim=3,
        cross_layers=2,
        dropout=0.1,
    )
    g = torch.Generator().manual_seed(1)
    batch = {
        "image": torch.randn(n, 6, generator=g),
        "text": torch.randn(n, 5, generator=g),
        "dense": torch.rand(n, 6, generator=g),
        "sparse": torch.randint(0, 3, (n, 3), generator=g),
        "levels": torch.stack([torch.arange(n) % 2, torch.arange(n) % 4, torch.arange(n) % 6], 1),
        "influence": torch.arange(n) % 3,
        "user": torch.arange(n) % 4,
        "y": torch.randn(n, generator=g),
    }
    return PPCLModel(cfg), batch


def _grad_norms(model: PPCLModel) -> dict[str, float]:
    out = {}
    for part in ("post_encoder", "user_encoder", "popularity_encoder", "head"):
        grads = [p.grad for p in getattr(model, part).parameters() if p.grad is not None]
        out[part] = float(sum(g.abs().sum() for g in grads)) if grads else 0.0
    return out


@pytest.mark.parametrize(
    ("task", "reached"),
    [
        ("crd", {"post_encoder"}),
        ("uisd", {"user_encoder"}),
        ("uid", {"popularity_encoder"}),
        ("rnc", {"post_encoder", "user_encoder", "popularity_encoder"}),
    ],
)
def test_each_contrastive_loss_reaches_only_its_encoder(task, reached):
    model, batch = _tiny_model_and_batch()
    cfg = TrainConfig(tasks=[task], reg_weight=0.0, alpha=[1.0, 1.0, 1.0])  # the contrastive term alone
    loss, parts = step_loss(model.train(), batch, cfg)
    loss.backward()
    norms = _grad_norms(model)
    for part, norm in norms.items():
        if part in reached:
            assert norm > 0, f"{task} should reach {part}"
        else:
            assert norm == 0, f"{task} leaked into {part}: {norms}"
    assert task in parts


def test_no_cl_and_no_aug_do_not_run_two_views():
    model, batch = _tiny_model_and_batch()
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    step_loss(model.train(), batch, TrainConfig(tasks=[]))
    step_loss(model.train(), batch, TrainConfig(augment=False))
    step_loss(model.train(), batch, TrainConfig())
    assert len(calls) == 1 + 1 + 2


def test_train_config_rejects_unknown_tasks():
    with pytest.raises(ValueError, match="tasks"):
        TrainConfig(tasks=["crd", "rnc"])
    with pytest.raises(ValueError, match="sampler"):
        TrainConfig(sampler="balanced")


def test_user_encoder_crosses_every_field_pair():
    model, _ = _tiny_model_and_batch()
    pairs = set(zip(model.user_encoder.pair_a.tolist(), model.user_encoder.pair_b.tolist(), strict=True))
    assert pairs == set(itertools.combinations(range(3), 2))
    assert len(model.user_encoder.dense_cross) == 2
