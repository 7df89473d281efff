"""Frozen encoders shipped inside wheels: EfficientNet-lite0 (images, 1280-d) and
all-MiniLM-L6-v2 (text, 384-d). Nothing is downloaded.

``embed_image_files`` and ``embed_texts`` run on the engine that ``backend`` names (``features/backends.py``):
OpenVINO on the CPU by default (``features/openvino_encoders.py``), or this module's PyTorch path, which CUDA
always uses. ``encoder_setting`` says which one a call will actually run, for the caches' encoder identity."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from engagement_lab.core.training import pick_device
from engagement_lab.features.backends import EncoderSetting, resolve_setting
from engagement_lab.features.shipped import IMAGE_DIM, TEXT_DIM, image_features, load_image_encoder, load_text_model

logger = logging.getLogger(__name__)
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
# Every CNN here runs on NHWC tensors: on 2 CPU cores (oneDNN) EfficientNet-lite0 fine-tunes 1.9x and
# embeds 1.05-1.4x faster, the small ResNet trains 1.3x faster (bench/bench_memory_format.py); on GPU it
# is the layout tensor cores want under mixed precision.
CNN_MEMORY_FORMAT = torch.channels_last


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block on ``n`` torch CPU threads, then restore the process's setting: in one ``kedro run``
    a node's choice (1 thread for the small models) must not slow the CNN nodes that run after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def preprocess(data: bytes, size: int) -> torch.Tensor:
    """JPEG/PNG bytes → normalised RGB tensor of size×size (the model's input)."""
    with Image.open(io.BytesIO(data)) as image:
        resized = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    pixels = torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255.0
    return (pixels - IMAGENET_MEAN) / IMAGENET_STD


class ImageFiles(Dataset):
    """Image files by path, decoded and resized in the DataLoader (in workers when asked)."""

    def __init__(self, paths: list[str], size: int) -> None:
        self.paths, self.size = paths, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with open(self.paths[i], "rb") as f:
            return preprocess(f.read(), self.size)


def encoder_setting(device: str = "auto", backend: str = "openvino", precision: str = "bf16") -> EncoderSetting:
    """The engine and precision that an embedding call with these arguments runs (fallbacks logged)."""
    return resolve_setting(backend, precision, pick_device(device))


def embed_image_files(
    paths: list[str],
    *,
    device: str = "auto",
    batch_size: int = 32,
    num_workers: int = 0,
    image_size: int = 224,
    progress: bool = True,
    backend: str = "openvino",
    precision: str = "bf16",
    threads: int = 0,
    export_dir: str | None = None,
) -> np.ndarray:
    """(n, 1280) float32 features for the images at ``paths``, in order.

    ``threads`` and ``export_dir`` are the OpenVINO engine's (0 threads: torch's setting); ``num_workers``
    the torch path's DataLoader workers."""
    if not paths:
        return np.zeros((0, IMAGE_DIM), dtype=np.float32)
    setting = encoder_setting(device, backend, precision)
    if setting.backend == "openvino":
        from engagement_lab.features.openvino_encoders import embed_images_openvino

        return embed_images_openvino(
            paths,
            image_size=image_size,
            precision=setting.precision,
            batch_size=batch_size,
            threads=threads,
            export_dir=export_dir,
            progress=progress,
        )
    return embed_image_files_torch(
        paths, device=device, batch_size=batch_size, num_workers=num_workers, image_size=image_size, progress=progress
    )


def embed_texts(
    texts: list[str],
    *,
    device: str = "auto",
    batch_size: int = 64,
    progress: bool = True,
    backend: str = "openvino",
    precision: str = "bf16",
    threads: int = 0,
    export_dir: str | None = None,
) -> np.ndarray:
    """(n, 384) L2-normalised MiniLM sentence embeddings, in order."""
    if not texts:
        return np.zeros((0, TEXT_DIM), dtype=np.float32)
    setting = encoder_setting(device, backend, precision)
    if setting.backend == "openvino":
        from engagement_lab.features.openvino_encoders import embed_texts_openvino

        return embed_texts_openvino(
            texts,
            precision=setting.precision,
            batch_size=batch_size,
            threads=threads,
            export_dir=export_dir,
            progress=progress,
        )
    return embed_texts_torch(texts, device=device, batch_size=batch_size, progress=progress)


@torch.inference_mode()
def embed_image_files_torch(
    paths: list[str],
    *,
    device: str = "auto",
    batch_size: int = 32,
    num_workers: int = 0,
    image_size: int = 224,
    progress: bool = True,
) -> np.ndarray:
    """The PyTorch path of :func:`embed_image_files` (channels-last; mixed precision on CUDA)."""
    if not paths:
        return np.zeros((0, IMAGE_DIM), dtype=np.float32)
    dev = pick_device(device)
    model = load_image_encoder(dev).to(memory_format=CNN_MEMORY_FORMAT)
    loader = DataLoader(
        ImageFiles(paths, image_size), batch_size=batch_size, num_workers=num_workers, pin_memory=dev.type == "cuda"
    )
    out = []
    with torch.autocast(dev.type, enabled=dev.type == "cuda"):
        for batch in tqdm(loader, desc="image features", unit="batch", disable=not progress):
            out.append(
                image_features(model, batch.to(dev, non_blocking=True, memory_format=CNN_MEMORY_FORMAT)).float().cpu()
            )
    return torch.cat(out).numpy().astype(np.float32)


@torch.inference_mode()
def embed_texts_torch(
    texts: list[str], *, device: str = "auto", batch_size: int = 64, progress: bool = True
) -> np.ndarray:
    """The sentence-transformers path of :func:`embed_texts`."""
    if not texts:
        return np.zeros((0, TEXT_DIM), dtype=np.float32)
    model = load_text_model(str(pick_device(device)))
    vectors = model.encode(
        texts, batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True, normalize_embeddings=True
    )
    return vectors.astype(np.float32)
