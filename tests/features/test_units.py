"""The embedding engine's pure parts: batching, padding, sharding, the cache plan and the engine choice."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from engagement_lab.features import backends
from engagement_lab.features.backends import EncoderSetting, image_identity, resolve_setting, text_identity
from engagement_lab.features.distributed import embed_sharded, interleave, shard
from engagement_lab.features.embedding_cache import assemble, plan
from engagement_lab.features.openvino_encoders import export_key, length_sorted_batches, pad_batch

CPU = torch.device("cpu")


def test_length_sorted_batches_take_every_index_once_longest_first():
    lengths = [3, 9, 1, 9, 5, 2, 7]
    batches = length_sorted_batches(lengths, 3)
    assert [len(b) for b in batches] == [3, 3, 1]
    order = np.concatenate(batches)
    assert sorted(order.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in order] == sorted(lengths, reverse=True)
    assert length_sorted_batches([], 4) == []


def test_long_texts_come_in_batches_of_at_most_max_tokens():
    lengths = [256, 256, 256, 256, 256, 30, 30, 30, 30, 30, 30]
    batches = length_sorted_batches(lengths, 64, max_tokens=512)
    assert [len(b) for b in batches] == [2, 2, 2, 5]  # 2 x 256 tokens each, then the short texts left
    assert all(len(b) * max(lengths[i] for i in b) <= 512 for b in batches)
    assert [len(b) for b in length_sorted_batches([600, 5], 64, max_tokens=512)] == [1, 1]  # one too long: alone


def test_pad_batch_pads_right_to_the_longest_and_masks_the_padding():
    feeds = pad_batch([[101, 5, 102], [101, 102]])
    assert feeds["input_ids"].tolist() == [[101, 5, 102], [101, 102, 0]]
    assert feeds["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert feeds["input_ids"].dtype == np.int64


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_shards_interleave_back_into_the_input_order(world):
    items = np.arange(11, dtype=np.float32).reshape(-1, 1)
    parts = [np.asarray(shard(items, rank, world)) for rank in range(world)]
    assert sum(len(p) for p in parts) == len(items)
    assert np.array_equal(interleave(parts, 1), items)


def test_embed_sharded_outside_a_process_group_is_the_plain_call():
    out = embed_sharded(lambda xs: np.array([[float(len(x))] for x in xs], dtype=np.float32), ["a", "bb"], 1)
    assert out.tolist() == [[1.0], [2.0]]


def test_the_plan_reuses_only_rows_of_the_same_encoder():
    cache = pd.DataFrame(
        {
            "k": ["a", "b", "c"],
            "embedding": [np.ones(2, np.float32)] * 3,
            "encoder": ["m/openvino-bf16", "m/torch-f32", "m/openvino-bf16"],
        }
    )
    keys, inputs = pd.Series(["a", "b", "b", "d"]), pd.Series(["A", "B", "B", "D"])
    cache_plan = plan(keys, inputs, cache, "k", "m/openvino-bf16")
    assert cache_plan.cached["k"].tolist() == ["a"]
    assert cache_plan.todo["k"].tolist() == ["b", "d"] and cache_plan.todo["input"].tolist() == ["B", "D"]
    assert cache_plan.stale == 1  # "b", cached by the torch path: re-embedded, never mixed in
    table, stats = assemble(cache_plan, np.zeros((2, 2), np.float32))
    assert table["k"].tolist() == ["a", "b", "d"] and set(table["encoder"]) == {"m/openvino-bf16"}
    assert stats == {"embedded": 2.0, "from_cache": 1.0, "total": 3.0}
    with pytest.raises(ValueError, match="1 vectors for 2 ks to embed"):
        assemble(cache_plan, np.zeros((1, 2), np.float32))


def test_the_encoder_identity_names_model_engine_precision_and_size():
    setting = EncoderSetting("openvino", "bf16")
    assert text_identity(setting) == "all-MiniLM-L6-v2/openvino-bf16"
    assert image_identity(setting, 160) == "efficientnet-lite0/openvino-bf16@160px"
    assert image_identity(EncoderSetting("torch", "f32"), 96).endswith("@96px")  # what serving parses


def test_the_engine_falls_back_with_a_log_line(monkeypatch, caplog):
    assert resolve_setting("torch", "bf16", CPU) == EncoderSetting("torch", "f32")
    assert resolve_setting("openvino", "bf16", torch.device("cuda")) == EncoderSetting("torch", "amp")
    assert resolve_setting("torch", "amp", torch.device("cuda")) == EncoderSetting("torch", "amp")  # idempotent
    monkeypatch.setattr(backends, "openvino_installed", lambda: False)
    with caplog.at_level(logging.WARNING, logger="engagement_lab.features.backends"):
        assert resolve_setting("openvino", "bf16", CPU) == EncoderSetting("torch", "f32")
    assert "the openvino package is not installed" in caplog.text
    monkeypatch.setattr(backends, "openvino_installed", lambda: True)
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: False)
    assert resolve_setting("openvino", "bf16", CPU) == EncoderSetting("openvino", "f32")
    with pytest.raises(ValueError, match="Unknown features backend 'onnx'"):
        resolve_setting("onnx", "bf16", CPU)
    with pytest.raises(ValueError, match="Unknown features precision 'int8'"):
        resolve_setting("openvino", "int8", CPU)


def test_an_export_key_changes_with_anything_the_export_depends_on():
    identity = {
        "kind": "text",
        "wheel": "w==0.1.0",
        "weights": "m:1",
        "torch": "2",
        "openvino": "1",
        "export_version": 1,
    }
    assert export_key(identity) == export_key(dict(reversed(identity.items())))
    for field, value in (("wheel", "w==0.2.0"), ("openvino", "2"), ("torch", "3"), ("export_version", 2)):
        assert export_key({**identity, field: value}) != export_key(identity)
