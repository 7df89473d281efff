"""Backbones trained from scratch, the multi-task VisE model and its loss (Eq. 1)."""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torchvision.models.resnet import BasicBlock, conv1x1

from engagement_lab.features.encoders import IMAGE_DIM, image_features, load_image_encoder

TASKS = ("comments", "reactions")
# The label-source control (issue 21): the same backbone trained on semantic labels (the world's concepts, the
# analog of ImageNet's object classes) instead of engagement; not a VisE task, a rival to it.
SEMANTIC_TASK = "concepts"
ALL_TASKS = (*TASKS, SEMANTIC_TASK)


def small_resnet(width: int = 16, blocks: tuple[int, ...] = (1, 1, 1, 1)) -> nn.Sequential:
    """A narrow ResNet of torchvision's BasicBlocks (widths w, 2w, 4w, 8w) for small images on CPU.

    The stem is one stride-2 3×3 conv without max-pool: at 64 px, ResNet's 7×7/4 stem would
    leave too little resolution for the last stage."""
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
    channels = width
    for stage, n_blocks in enumerate(blocks):
        out, stride = width * 2**stage, 1 if stage == 0 else 2
        for _ in range(n_blocks):
            downsample = None
            if stride != 1 or channels != out:
                downsample = nn.Sequential(conv1x1(channels, out, stride), nn.BatchNorm2d(out))
            layers.append(BasicBlock(channels, out, stride, downsample))
            channels, stride = out, 1
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


class EfficientNetFeatures(nn.Module):
    """The bundled ImageNet-supervised EfficientNet-lite0 as a backbone: 1280-d pooled features."""

    def __init__(self) -> None:
        super().__init__()
        self.net = load_image_encoder(torch.device("cpu"))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return image_features(self.net, images)


def build_backbone(name: str) -> tuple[nn.Module, int]:
    """A backbone mapping images to pooled features, and the feature size.

    ``resnet_small`` (CPU demo), ``resnet18`` and ``resnet50`` (the paper's) start from random
    weights; ``efficientnet_lite0`` carries the bundled ImageNet weights (the IN-Sup baseline)."""
    if name == "resnet_small":
        return small_resnet(), 128
    if name in ("resnet18", "resnet50"):
        model = getattr(torchvision.models, name)(weights=None)
        dim = model.fc.in_features
        model.fc = nn.Identity()
        return model, dim
    if name == "efficientnet_lite0":
        return EfficientNetFeatures(), IMAGE_DIM
    raise ValueError(f"Unknown backbone {name!r}; choose resnet_small, resnet18, resnet50 or efficientnet_lite0")


class VisEModel(nn.Module):
    """A backbone with one linear head per engagement task (Fig. 2a)."""

    def __init__(self, backbone: str, n_classes: dict[str, int]) -> None:
        super().__init__()
        self.backbone, dim = build_backbone(backbone)
        self.heads = nn.ModuleDict({task: nn.Linear(dim, k) for task, k in n_classes.items()})

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(images)
        return {task: head(features) for task, head in self.heads.items()}


def vise_loss(
    logits: dict[str, torch.Tensor],
    comment_targets: torch.Tensor,
    reaction_targets: torch.Tensor,
    concept_targets: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 1: soft-target cross-entropy on the comment clusters + cross-entropy on the reaction cluster
    (+ cross-entropy on the concept label for the semantic control).

    A post without comments (an all-zero target row), without reactions or without a concept (target -1) adds
    nothing to that task's term; each term is the mean over the posts that have the signal."""
    parts: dict[str, torch.Tensor] = {}
    if "comments" in logits:
        has = comment_targets.sum(dim=1) > 0
        per_post = -(comment_targets * F.log_softmax(logits["comments"].float(), dim=1)).sum(dim=1)
        parts["comments"] = (per_post * has).sum() / has.sum().clamp(min=1)
    for task, targets in (("reactions", reaction_targets), (SEMANTIC_TASK, concept_targets)):
        if task in logits:
            has = targets >= 0
            per_post = F.cross_entropy(logits[task].float(), targets.clamp(min=0), reduction="none")
            parts[task] = (per_post * has).sum() / has.sum().clamp(min=1)
    return sum(parts.values()), parts
