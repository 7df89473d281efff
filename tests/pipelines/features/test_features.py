"""Frozen embeddings: shapes, content-hash cache, device errors, and signal a linear probe finds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from engagement_lab.core.training import pick_device
from engagement_lab.features.encoders import IMAGE_DIM, TEXT_DIM, encoder_setting
from engagement_lab.features.post_texts import build_post_texts
from engagement_lab.pipelines.features.nodes import embed_images, embed_post_texts
from engagement_lab.world.truth import truth_by_post_id
from tests.conftest import FAST_FEATURES as FAST
from tests.conftest import base_params

LABEL = encoder_setting("cpu", "openvino", "bf16").label  # conf/base's engine: openvino-bf16 on this machine kind


@pytest.fixture(scope="module")
def featured(tiny_featured):
    return tiny_featured


def test_one_embedding_per_distinct_image_and_text(featured):
    images = featured.load("images")
    table = featured.load("image_embeddings")
    assert len(table) == images["sha1"].nunique() == 384  # the same picture in four formats, embedded once
    vectors = np.stack(table["embedding"])
    assert vectors.shape == (384, IMAGE_DIM) and np.isfinite(vectors).all() and vectors.std() > 0
    texts = featured.load("text_embeddings")
    text_vectors = np.stack(texts["embedding"])
    assert text_vectors.shape[1] == TEXT_DIM
    assert np.allclose(np.linalg.norm(text_vectors, axis=1), 1.0, atol=1e-4)
    assert len(texts) == featured.load("post_texts")["text_sha1"].nunique()


def test_a_rerun_embeds_only_what_changed(featured):
    post_texts = featured.load("post_texts")
    cache = featured.load("text_embeddings")
    params = base_params("features", **FAST)
    _, stats = embed_post_texts(post_texts, cache, params)
    assert stats["embedded"] == 0 and stats["from_cache"] == len(cache)
    changed = post_texts.copy()
    changed.loc[0, "text"] = "a brand new caption"
    changed = build_post_texts(
        pd.DataFrame({"post_id": changed["post_id"], "title": changed["text"], "caption": None, "tags": None})
    )
    table, stats = embed_post_texts(changed, cache, params)
    assert stats["embedded"] == 1 and stats["from_cache"] == len(table) - 1
    # A cached vector is the vector the encoder gives now: the cache is exact.
    again, _ = embed_post_texts(changed.iloc[:5], cache.iloc[0:0], params)
    merged = again.merge(table, on="text_sha1")
    assert np.allclose(np.stack(merged["embedding_x"]), np.stack(merged["embedding_y"]), atol=1e-5)


def test_the_image_cache_is_reused_only_by_the_same_encoder_setting(featured):
    images = featured.load("images").drop_duplicates("sha1").iloc[:6]
    cache = featured.load("image_embeddings")
    assert set(cache["encoder"]) == {f"efficientnet-lite0/{LABEL}@{FAST['image_size']}px"}
    same = base_params("features", **FAST)
    table, stats = embed_images(images, cache, same)
    assert stats == {"embedded": 0.0, "from_cache": 6.0, "total": 6.0}
    # Another input size is another encoder: every vector is recomputed, none is mixed in from the cache.
    other = base_params("features", **{**FAST, "image_size": 64})
    resized, stats = embed_images(images, cache, other)
    assert stats == {"embedded": 6.0, "from_cache": 0.0, "total": 6.0}
    assert set(resized["encoder"]) == {f"efficientnet-lite0/{LABEL}@64px"}
    assert not np.allclose(np.stack(resized["embedding"]), np.stack(table["embedding"]), atol=1e-3)
    # So is another engine: the torch path's vectors are recomputed, close to the cached ones but never mixed in.
    torch_path = base_params("features", **{**FAST, "backend": "torch"})
    by_torch, stats = embed_images(images, cache, torch_path)
    assert stats == {"embedded": 6.0, "from_cache": 0.0, "total": 6.0}
    assert set(by_torch["encoder"]) == {f"efficientnet-lite0/torch-f32@{FAST['image_size']}px"}
    a, b = np.stack(by_torch["embedding"]), np.stack(table["embedding"])
    assert (np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min() >= 0.99
    # A cache written before the encoder column existed is not trusted either, nor one of the old names.
    _, stats = embed_images(images, cache.drop(columns="encoder"), same)
    assert stats["embedded"] == 6.0 and stats["from_cache"] == 0.0
    _, stats = embed_images(images, cache.assign(encoder=f"efficientnet-lite0@{FAST['image_size']}px"), same)
    assert stats["embedded"] == 6.0 and stats["from_cache"] == 0.0


def test_text_embeddings_record_their_engine(featured):
    texts = featured.load("text_embeddings")
    assert set(texts["encoder"]) == {f"all-MiniLM-L6-v2/{LABEL}"}


def test_image_embeddings_carry_the_planted_content(featured):
    """A linear probe on the frozen ImageNet features recovers emotion and category."""
    images = featured.load("images")
    images = images[images["source"] == "pixelrec"]
    truth = truth_by_post_id(featured.load("ground_truth_posts"), ["pixelrec"])
    data = images.merge(truth, on="post_id").merge(featured.load("image_embeddings"), on="sha1")
    x = np.stack(data["embedding"])
    for target, floor in (("emotion", 0.8), ("category_id", 0.6)):
        accuracy = cross_val_score(LogisticRegression(max_iter=3000), x, data[target], cv=4).mean()
        chance = data[target].value_counts(normalize=True).max()
        assert accuracy > max(floor, 2 * chance), (target, accuracy)


def test_device_auto_and_a_missing_gpu():
    assert pick_device("auto").type in ("cpu", "cuda")
    assert pick_device("cpu").type == "cpu"
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="device 'cuda' requested but CUDA is not available"):
            pick_device("cuda")


def test_torch_threads_are_restored_after_the_block_even_on_error():
    import torch

    from engagement_lab.features.encoders import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
