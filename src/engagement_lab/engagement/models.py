"""Torch models over frozen image (1280-d) and text (384-d) embeddings.

The paper fine-tunes ViT/BERT (§4.1) and SigLIP/DeBERTa (§4.3) end to end; here the encoders stay frozen
(the features pipeline's EfficientNet-lite0 and MiniLM) and only the projections, attention, fusion and
heads are trained. A pooled embedding is one vector, and attention over one token is trivial, so each
modality is projected into a few tokens (``n_tokens`` slices of a learned projection, as feature-token
transformers do); cross-modal attention then runs between the two token sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from engagement_lab.core.registry import ENGAGEMENT_FUSIONS
from engagement_lab.features.encoders import IMAGE_DIM, TEXT_DIM


@dataclass
class ModelConfig:
    image_dim: int = IMAGE_DIM
    text_dim: int = TEXT_DIM
    d_model: int = 128
    n_tokens: int = 4
    n_heads: int = 4
    n_fusion_layers: int = 2
    dropout: float = 0.1
    fusion: str = "concat"  # classifier only: concat | cross_attention | gated
    n_classes: int = 5

    def to_dict(self) -> dict:
        return asdict(self)


class ModalityTokens(nn.Module):
    """A frozen pooled embedding → ``n_tokens`` learned tokens of width ``d_model``."""

    def __init__(self, dim: int, n_tokens: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.n_tokens, self.d_model = n_tokens, d_model
        self.proj = nn.Sequential(nn.LayerNorm(dim), nn.Dropout(dropout), nn.Linear(dim, n_tokens * d_model))
        self.position = nn.Parameter(torch.zeros(n_tokens, d_model))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(x).view(x.shape[0], self.n_tokens, self.d_model)
        return self.norm(tokens + self.position)


class Encoders(nn.Module):
    """Image and text tokens; a post without a cover image gets a learned 'no image' token set."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.image = ModalityTokens(cfg.image_dim, cfg.n_tokens, cfg.d_model, cfg.dropout)
        self.text = ModalityTokens(cfg.text_dim, cfg.n_tokens, cfg.d_model, cfg.dropout)
        self.no_image = nn.Parameter(torch.zeros(cfg.n_tokens, cfg.d_model))

    def forward(self, image: torch.Tensor, text: torch.Tensor, has_image: torch.Tensor):
        img = self.image(image)
        img = torch.where(has_image.view(-1, 1, 1) > 0, img, self.no_image.expand_as(img))
        return img, self.text(text)


class CrossAttention(nn.Module):
    """Queries from one modality attend to the other's tokens (pre-norm, residual)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_q, self.norm_kv = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(context)
        out, _ = self.attn(self.norm_q(query), kv, kv, need_weights=False)
        return query + out


class GatedFusion(nn.Module):
    """g = σ(W[i; t]); fused = g ⊙ i + (1 − g) ⊙ t."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.gate = nn.Linear(2 * d_model, d_model)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.gate(torch.cat([image, text], dim=-1)))
        return g * image + (1 - g) * text


def head(d_in: int, d_hidden: int, d_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(d_in), nn.Linear(d_in, d_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_hidden, d_out)
    )


class FusionClassifier(nn.Module):
    """§4.1: image and text branches fused by concatenation, cross-attention or a gate; 5-way head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.fusion not in ENGAGEMENT_FUSIONS:
            raise ValueError(f"fusion must be one of {ENGAGEMENT_FUSIONS}, got {cfg.fusion!r}")
        self.cfg = cfg
        self.encoders = Encoders(cfg)
        if cfg.fusion == "cross_attention":
            self.text_to_image = CrossAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
            self.image_to_text = CrossAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        if cfg.fusion == "gated":
            self.gate = GatedFusion(cfg.d_model)
        width = cfg.d_model if cfg.fusion == "gated" else 2 * cfg.d_model
        self.head = head(width, cfg.d_model, cfg.n_classes, cfg.dropout)

    def forward(self, image: torch.Tensor, text: torch.Tensor, has_image: torch.Tensor) -> torch.Tensor:
        img, txt = self.encoders(image, text, has_image)
        if self.cfg.fusion == "cross_attention":
            img, txt = self.image_to_text(img, txt), self.text_to_image(txt, img)
        img, txt = img.mean(dim=1), txt.mean(dim=1)
        fused = self.gate(img, txt) if self.cfg.fusion == "gated" else torch.cat([img, txt], dim=-1)
        return self.head(fused)


class MultimodalRegressor(nn.Module):
    """§4.3: projected tokens → bidirectional cross-modal attention → pooling → gated fusion →
    transformer fusion layers over [fused, image, text] → regression head (one scalar).

    The target's train mean and standard deviation are buffers: the network predicts the standardised
    target and ``forward`` returns it in target units, so the state dict alone can score new posts."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoders = Encoders(cfg)
        self.image_to_text = CrossAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.text_to_image = CrossAttention(cfg.d_model, cfg.n_heads, cfg.dropout)
        self.gate = GatedFusion(cfg.d_model)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.n_heads, 4 * cfg.d_model, cfg.dropout, batch_first=True, norm_first=True
        )
        self.fusion = nn.TransformerEncoder(layer, cfg.n_fusion_layers, enable_nested_tensor=False)
        self.head = head(cfg.d_model, cfg.d_model, 1, cfg.dropout)
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def standardised(self, image: torch.Tensor, text: torch.Tensor, has_image: torch.Tensor) -> torch.Tensor:
        img, txt = self.encoders(image, text, has_image)
        img, txt = self.image_to_text(img, txt), self.text_to_image(txt, img)
        img, txt = img.mean(dim=1), txt.mean(dim=1)
        tokens = torch.stack([self.gate(img, txt), img, txt], dim=1)
        return self.head(self.fusion(tokens)[:, 0]).squeeze(-1)

    def forward(self, image: torch.Tensor, text: torch.Tensor, has_image: torch.Tensor) -> torch.Tensor:
        return self.standardised(image, text, has_image) * self.target_std + self.target_mean


def hybrid_loss(pred: torch.Tensor, target: torch.Tensor, mse_weight: float = 0.7, huber_delta: float = 1.0):
    """§4.3's loss: 0.7·MSE + 0.3·Huber."""
    mse = nn.functional.mse_loss(pred, target)
    huber = nn.functional.huber_loss(pred, target, delta=huber_delta)
    return mse_weight * mse + (1 - mse_weight) * huber
