"""Benchmark: the CNNs' tensor layout — NCHW (PyTorch's default) against NHWC (``channels_last``, what
``CNN_MEMORY_FORMAT`` selects) for the three convolutional workloads of ``make run``:

- embedding with the frozen EfficientNet-lite0 (features pipeline) at 224 and 160 px;
- fine-tuning EfficientNet-lite0 at 64 px (transfer evaluation's ImageNet-supervised row);
- training the small ResNet at 64 px (pretraining, and the transfer evaluation's other rows).

Rounds alternate (NCHW, NHWC, NCHW, ...) so machine noise hits both; the best of each is printed with
their ratio. Same random tensors, same weights.

    .venv/bin/python bench/bench_memory_format.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from engagement_lab.features.encoders import image_features, load_image_encoder
from engagement_lab.vise.models import build_backbone

ROUNDS, STEPS = 3, 4
LAYOUTS = {"NCHW": torch.contiguous_format, "NHWC": torch.channels_last}


def embed_step(size: int) -> Callable[[torch.memory_format], Callable[[], None]]:
    model = load_image_encoder(torch.device("cpu"))
    images = torch.randn(32, 3, size, size)

    def prepare(layout: torch.memory_format) -> Callable[[], None]:
        model.to(memory_format=layout)
        batch = images.contiguous(memory_format=layout)

        @torch.inference_mode()
        def step() -> None:
            image_features(model, batch)

        return step

    return prepare


def train_step(backbone: str, batch_size: int) -> Callable[[torch.memory_format], Callable[[], None]]:
    features, dim = build_backbone(backbone)
    model = nn.Sequential(features, nn.Linear(dim, 6)).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    images, labels = torch.randn(batch_size, 3, 64, 64), torch.randint(0, 6, (batch_size,))

    def prepare(layout: torch.memory_format) -> Callable[[], None]:
        model.to(memory_format=layout)
        batch = images.contiguous(memory_format=layout)

        def step() -> None:
            loss = nn.functional.cross_entropy(model(batch), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    return prepare


def best_ms(prepare: Callable[[torch.memory_format], Callable[[], None]]) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    for _ in range(ROUNDS):
        for name, layout in LAYOUTS.items():
            step = prepare(layout)
            step()  # warm-up: oneDNN picks its kernels for this layout
            start = time.perf_counter()
            for _ in range(STEPS):
                step()
            times[name].append((time.perf_counter() - start) / STEPS * 1000)
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    workloads = {
        "embed EfficientNet-lite0 224 px, b32": embed_step(224),
        "embed EfficientNet-lite0 160 px, b32": embed_step(160),
        "fine-tune EfficientNet-lite0 64 px, b32": train_step("efficientnet_lite0", 32),
        "train resnet_small 64 px, b64": train_step("resnet_small", 64),
    }
    print(f"{'workload (ms per batch, best of ' + str(ROUNDS) + ')':<44} {'NCHW':>8} {'NHWC':>8} {'speed-up':>9}")  # noqa: T201
    for name, prepare in workloads.items():
        ms = best_ms(prepare)
        print(f"{name:<44} {ms['NCHW']:>8.0f} {ms['NHWC']:>8.0f} {ms['NCHW'] / ms['NHWC']:>8.2f}x")  # noqa: T201
    print(f"({torch.get_num_threads()} torch threads, CPU)")  # noqa: T201


if __name__ == "__main__":
    main()
