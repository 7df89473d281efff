"""Concept and emotion are learnable from pixels, and independent of each other."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from engagement_lab.world.config import EMOTIONS, WorldConfig
from engagement_lab.world.render import render_post_images
from engagement_lab.world.simulate import simulate


@pytest.fixture(scope="module")
def images():
    config = WorldConfig(n_users=60, n_posts=2400, image_size=64, formats=("smpd",))
    posts = simulate(config).posts
    jpegs = render_post_images(posts, config)
    x = np.stack([np.asarray(Image.open(io.BytesIO(jpegs[i])).resize((32, 32))) for i in posts["post_id"]])
    return torch.tensor(x).permute(0, 3, 1, 2).float() / 255.0, posts


def test_concept_and_emotion_are_learnable_from_pixels(images):
    """A small CNN, trained on 75% of the images, names concept and emotion on the rest."""
    x, posts = images
    torch.manual_seed(0)
    concept = torch.tensor(posts["concept_id"].to_numpy())
    emotion = torch.tensor(pd.Categorical(posts["emotion"], categories=EMOTIONS).codes.astype(np.int64))
    n_train = int(0.75 * len(x))
    trunk = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    concept_head, emotion_head = nn.Linear(64, 54), nn.Linear(64, len(EMOTIONS))
    params = [*trunk.parameters(), *concept_head.parameters(), *emotion_head.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-2)
    for _ in range(15):
        for batch in torch.randperm(n_train).split(64):
            features = trunk(x[batch])
            loss = F.cross_entropy(concept_head(features), concept[batch]) + F.cross_entropy(
                emotion_head(features), emotion[batch]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        features = trunk(x[n_train:])
        concept_acc = (concept_head(features).argmax(1) == concept[n_train:]).float().mean().item()
        emotion_acc = (emotion_head(features).argmax(1) == emotion[n_train:]).float().mean().item()
    assert emotion_acc > 0.8  # chance: 1/6; the palette is partly random (palette_mix), the texture decides
    # Chance is 1/54 = 0.019. 0.21 (2 torch threads) to 0.26 (1 thread) after 15 epochs at 32 px since palettes are
    # partly random (palette_mix; it was 0.57 before); EfficientNet features of the 96 px demo images find it at 64 %.
    assert concept_acc > 0.15


def test_emotion_is_independent_of_the_object(images):
    _, posts = images
    # Every emotion appears with every category, in similar proportions.
    table = posts.groupby(["category_id", "emotion"]).size().unstack(fill_value=0)
    assert (table > 0).all().all()
    shares = table.div(table.sum(axis=1), axis=0)
    assert shares.std(axis=0).max() < 0.08


def test_rendering_is_deterministic_and_order_free():
    config = WorldConfig(n_users=5, n_posts=20, image_size=32, formats=("smpd",))
    posts = simulate(config).posts
    forward = render_post_images(posts, config)
    backward = render_post_images(posts.iloc[::-1], config)
    assert forward == backward
