"""VisE training: Eq. 1's loss, resuming a killed run, and the same code under torchrun (DDP)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from engagement_lab.datasets import TorchStateDictDataset
from engagement_lab.features.encoders import torch_threads
from engagement_lab.vise.models import build_backbone, vise_loss
from engagement_lab.vise.train import TrainConfig, train
from tests.conftest import PROJECT, project_catalog, run_torchrun

N_CLASSES = {"comments": 4, "reactions": 3}
# The synthetic labels are colours: no hue jitter here.
# Bit-equal weights need the same float summation order in the killed child and in this process: one
# thread in both (an earlier test or the CI box may leave this process on another count; CI failed so).
RESUME_THREADS = 1
CONFIG = TrainConfig(image_size=32, epochs=3, batch_size=16, device="cpu", seed=0, learning_rate=0.05, hue_jitter=0.0)


@pytest.fixture(scope="module")
def labels(tmp_path_factory) -> pd.DataFrame:
    """48 small JPEGs whose colour decides the labels, with soft comment and hard reaction targets."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(48):
        label = i % 3
        pixels = np.full((32, 32, 3), 40, np.uint8)
        pixels[..., label] = 220
        pixels = np.clip(pixels + rng.integers(-30, 30, pixels.shape), 0, 255).astype(np.uint8)
        path = folder / f"{i}.jpg"
        Image.fromarray(pixels).save(path)
        comments = [label, label, int(rng.integers(0, 4))] if i % 8 else []  # some posts have no comments
        rows.append(
            {
                "post_id": f"p{i}",
                "image_path": str(path),
                "comment_clusters": comments,
                "n_comments": len(comments),
                "reaction_cluster": label if i % 5 else -1,
            }
        )
    return pd.DataFrame(rows)


def test_soft_target_cross_entropy_and_missing_signals():
    logits = {"comments": torch.tensor([[2.0, 0.0], [0.0, 1.0]]), "reactions": torch.tensor([[1.0, 0.0], [0.0, 3.0]])}
    comment_targets = torch.tensor([[0.5, 0.5], [0.0, 0.0]])  # the second post has no comments
    reaction_targets = torch.tensor([-1, 1])  # the first post has no reactions
    loss, parts = vise_loss(logits, comment_targets, reaction_targets)
    expected_comments = -(0.5 * torch.log_softmax(logits["comments"][0], 0)).sum()
    expected_reactions = torch.nn.functional.cross_entropy(logits["reactions"][1:], reaction_targets[1:])
    assert parts["comments"] == pytest.approx(expected_comments.item())
    assert parts["reactions"] == pytest.approx(expected_reactions.item())
    assert loss == pytest.approx(expected_comments.item() + expected_reactions.item())
    nothing, _ = vise_loss({"reactions": logits["reactions"]}, comment_targets, torch.tensor([-1, -1]))
    assert nothing.item() == 0.0


def test_training_learns_the_pseudo_labels(labels):
    _, history = train(dataclasses.replace(CONFIG, epochs=4), labels, N_CLASSES)
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert history[-1]["reaction_acc"] > 0.6  # chance is 1/3


def _child_script(labels_path: Path, checkpoint: Path) -> str:
    """A training process that checkpoints epoch 1 and is then killed during epoch 2."""
    return f"""
import time, pandas as pd, torch
from engagement_lab.vise.train import TrainConfig, train
torch.set_num_threads({RESUME_THREADS})
config = TrainConfig(**{dataclasses.asdict(CONFIG)!r})
def slow(epoch, metrics):
    if epoch == 1:
        time.sleep(60)  # the parent kills us here, with the epoch-1 checkpoint on disk
train(config, pd.read_pickle({str(labels_path)!r}), {N_CLASSES!r}, {str(checkpoint)!r}, on_epoch_end=slow)
"""


def test_a_killed_run_resumes_to_the_same_weights(labels, tmp_path):
    with torch_threads(RESUME_THREADS):
        straight, straight_history = train(CONFIG, labels, N_CLASSES, tmp_path / "straight.pt")

    labels_path, checkpoint = tmp_path / "labels.pkl", tmp_path / "killed.pt"
    labels.to_pickle(labels_path)
    child = subprocess.Popen(
        [sys.executable, "-c", _child_script(labels_path, checkpoint)], cwd=PROJECT, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1  # killed after epoch 1, before epoch 2 ended

    with torch_threads(RESUME_THREADS):
        resumed, resumed_history = train(CONFIG, labels, N_CLASSES, checkpoint)
    assert [row["epoch"] for row in resumed_history] == [1, 2, 3]
    for name, tensor in straight.state_dict().items():
        assert torch.allclose(tensor.float(), resumed.state_dict()[name].float(), atol=1e-5), name
    assert resumed_history[-1]["loss"] == pytest.approx(straight_history[-1]["loss"], rel=1e-4)


def test_a_checkpoint_for_another_config_is_not_resumed(labels, tmp_path, caplog):
    checkpoint = tmp_path / "ckpt.pt"
    train(dataclasses.replace(CONFIG, epochs=1), labels, N_CLASSES, checkpoint)
    _, history = train(dataclasses.replace(CONFIG, epochs=1, learning_rate=0.01), labels, N_CLASSES, checkpoint)
    assert "another config or data set" in caplog.text and len(history) == 1
    # The finished checkpoint of the same config returns at once, without another epoch.
    before = checkpoint.stat().st_mtime_ns
    train(dataclasses.replace(CONFIG, epochs=1, learning_rate=0.01), labels, N_CLASSES, checkpoint)
    assert checkpoint.stat().st_mtime_ns == before


def test_unknown_parameters_and_tasks_are_named():
    with pytest.raises(ValueError, match="Unknown pretraining parameters \\['epochz'\\]"):
        TrainConfig.from_params({"epochz": 3})
    with pytest.raises(ValueError, match="tasks must be a non-empty subset"):
        TrainConfig.from_params({"tasks": ["likes"]})
    with pytest.raises(ValueError, match="Unknown backbone 'vgg'"):
        build_backbone("vgg")


def test_torchrun_trains_the_same_code_data_parallel_and_saves_to_the_catalog(labels, tmp_path):
    """Two CPU processes (Gloo) under torchrun (``python -m torch.distributed.run ... -m
    engagement_lab.pipelines.pretraining.torchrun``), reading and writing the project's own catalog."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT / "pyproject.toml", root)
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("credentials.yml"))
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    catalog = project_catalog(root)
    catalog.save("vise_pseudo_labels", labels)
    catalog.save("vise_cluster_report", {"comment_clusters": [{}] * 4, "reaction_clusters": [{}] * 3})
    local = {
        "pretraining": {
            "config": {"image_size": 32, "epochs": 2, "batch_size": 8, "device": "cpu"},
            "variants": {"vise_reactions": {"checkpoint": str(tmp_path / "ddp.pt")}},
        }
    }
    (root / "conf/local/parameters_pretraining.yml").write_text(yaml.safe_dump(local))
    run_torchrun(root, "engagement_lab.pipelines.pretraining.torchrun", "--variant", "vise_reactions")

    saved = list((root / "data/06_models/pretraining/vise_reactions/backbone.pt").glob("*/backbone.pt"))
    assert len(saved) == 1
    state = TorchStateDictDataset(filepath=str(saved[0])).load()
    backbone, _ = build_backbone("resnet_small")
    backbone.load_state_dict(state)  # the saved weights are the backbone's, heads dropped
    checkpoint = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert checkpoint["epoch"] == 2 and checkpoint["config"]["tasks"] == ("reactions",)
    with sqlite3.connect(root / "mlflow.db") as db:
        (run_id,) = db.execute(
            "select run_uuid from runs where name = 'torchrun pretraining vise_reactions'"
        ).fetchone()
        steps = db.execute(
            "select step from metrics where run_uuid = ? and key = 'pretraining.vise_reactions.loss'", (run_id,)
        ).fetchall()
        params = dict(db.execute("select key, value from params where run_uuid = ?", (run_id,)).fetchall())
    assert sorted(s for (s,) in steps) == [1, 2]
    assert params["world_size"] == "2"


def test_colour_jitter_is_identity_at_zero_and_a_hue_rotation_keeps_luma():
    from engagement_lab.vise.train import _YIQ, colour_jitter

    images = torch.rand(4, 3, 8, 8) * 0.5 + 0.25
    assert torch.allclose(colour_jitter(images, hue=0.0, strength=0.0), images, atol=1e-5)
    torch.manual_seed(0)
    rotated = colour_jitter(images, hue=0.5, strength=0.0)
    luma = torch.einsum("ij,njhw->nihw", _YIQ, images)[:, 0]
    rotated_luma = torch.einsum("ij,njhw->nihw", _YIQ, rotated)[:, 0]
    assert not torch.allclose(rotated, images, atol=1e-2)  # the colours changed
    inside = (rotated > 0) & (rotated < 1)  # where nothing was clamped
    assert torch.allclose(luma[inside.all(1)], rotated_luma[inside.all(1)], atol=1e-4)


def test_batched_crops_cut_inside_the_image_and_mirror_half_of_them():
    from engagement_lab.vise.train import random_resized_crops

    images = torch.arange(16 * 16, dtype=torch.float32).reshape(1, 1, 16, 16).repeat(64, 3, 1, 1).to(torch.uint8)
    torch.manual_seed(0)
    whole = random_resized_crops(images, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    # The full box at the input size: each crop is the image or its mirror, pixel for pixel.
    same = (whole - images.float()).abs().amax(dim=(1, 2, 3)) < 1e-3
    mirrored = (whole - images.float().flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-3
    assert (same ^ mirrored).all() and 16 < int(mirrored.sum()) < 48
    torch.manual_seed(1)
    crops = random_resized_crops(images, 8)
    assert crops.shape == (64, 3, 8, 8) and crops.dtype == torch.float32
    assert crops.min() >= 0 and crops.max() <= 255  # bilinear inside the image: no zero padding sampled
    torch.manual_seed(1)
    assert torch.equal(random_resized_crops(images, 8), crops)  # the seed decides every box


def test_preloaded_and_per_file_datasets_give_the_same_targets(labels):
    from engagement_lab.vise.train import PseudoLabelledImages

    preloaded = PseudoLabelledImages(labels, N_CLASSES["comments"], 16, preload=True)
    per_file = PseudoLabelledImages(labels, N_CLASSES["comments"], 16, preload=False)
    assert preloaded.stacked is not None and preloaded.stacked.shape == (48, 3, 32, 32)
    images, comments, reactions, concepts = preloaded.collate(preloaded.__getitems__([3, 5]))
    assert images.dtype == torch.uint8 and images.shape == (2, 3, 32, 32)
    assert preloaded.augment(images).shape == (2, 3, 16, 16)
    one_by_one = per_file.collate(per_file.__getitems__([3, 5]))
    assert one_by_one[0].shape == (2, 3, 16, 16)
    assert torch.equal(comments, one_by_one[1]) and torch.equal(reactions, one_by_one[2])
    assert torch.equal(concepts, one_by_one[3]) and (concepts == -1).all()  # no concept_label column: none
