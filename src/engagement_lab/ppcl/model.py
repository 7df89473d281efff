"""PPCL's base architecture (§4): post encoder, user encoder, popularity predictor.

* Post encoder (§4.1): frozen image and text embeddings (pre-extracted) → bottleneck adapters
  ReLU(f·W1)·W2 (Eq. 4–5) → two-layer MLP over [f^v, f^t] (Eq. 6) → f^p.
* User encoder (§4.2): dense feature crossing over l layers (Eq. 7–9), one embedding per categorical
  field and a cross layer per field pair (Eq. 10–12), a cross-combination layer (Eq. 13–14) and a
  two-layer MLP over [D, E] (Eq. 15) → f^u = [f_c^u, f_d^u].
* Popularity predictor (§4.3): two-layer MLP over [f^p, f^u] → f^pop (Eq. 16), linear head (Eq. 17).

Cross layer (Eq. 7, DCN form): Cross(X_a, X_b) = X_a · (X_bᵀ w) + b with w, b ∈ R^{d_c}.
Dropout follows each MLP's linear layers, so two forward passes give the §5.5 augmentation.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class ModelConfig:
    image_dim: int = 1280
    text_dim: int = 384
    n_dense: int = 30  # 3 × numerical fields ([D, D², √D])
    cardinalities: list[int] = field(default_factory=list)  # per categorical field, incl. index 0 (unseen)
    hidden: int = 512  # d_h
    bottleneck: int = 64  # d_b
    embed_dim: int = 32  # d_M
    cross_layers: int = 4  # l
    dropout: float = 0.1
    embed_init_std: float = 0.01  # categorical embeddings start small (as CTR models do): Adam's steps of ~lr
    # then move them far relative to their scale; N(0, 1) rows barely move in a few hundred steps

    def to_dict(self) -> dict:
        return asdict(self)


class Cross(nn.Module):
    """Eq. 7 for a batch of inputs: x_a · (x_b · w) + b; ``n`` independent crosses at once."""

    def __init__(self, dim: int, n: int = 1) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n, dim) / dim**0.5)
        self.bias = nn.Parameter(torch.zeros(n, dim))

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
        # x_a, x_b: (batch, n, dim) → (batch, n, dim)
        return x_a * (x_b * self.weight).sum(-1, keepdim=True) + self.bias


def mlp(d_in: int, d_hidden: int, d_out: int, dropout: float) -> nn.Sequential:
    """Two linear layers, ReLU between, dropout after each linear layer (§5.5)."""
    return nn.Sequential(
        nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_hidden, d_out), nn.Dropout(dropout)
    )


class PostEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.image_adapter = nn.Sequential(
            nn.Linear(cfg.image_dim, cfg.bottleneck), nn.ReLU(), nn.Linear(cfg.bottleneck, cfg.hidden)
        )
        self.text_adapter = nn.Sequential(
            nn.Linear(cfg.text_dim, cfg.bottleneck), nn.ReLU(), nn.Linear(cfg.bottleneck, cfg.hidden)
        )
        self.fuse = mlp(2 * cfg.hidden, cfg.hidden, cfg.hidden, cfg.dropout)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.image_adapter(image), self.text_adapter(text)], dim=-1))


class UserEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        m, d_m, n = len(cfg.cardinalities), cfg.embed_dim, cfg.n_dense
        self.embeddings = nn.ModuleList(nn.Embedding(c, d_m) for c in cfg.cardinalities)
        for emb in self.embeddings:
            nn.init.normal_(emb.weight, std=cfg.embed_init_std)
        self.dense_cross = nn.ModuleList(Cross(n) for _ in range(cfg.cross_layers))
        pairs = list(itertools.combinations(range(m), 2))
        self.register_buffer("pair_a", torch.tensor([a for a, _ in pairs], dtype=torch.long), persistent=False)
        self.register_buffer("pair_b", torch.tensor([b for _, b in pairs], dtype=torch.long), persistent=False)
        self.sparse_cross = Cross(d_m, len(pairs))
        d_o1 = (cfg.cross_layers + 1) * n + (m * (m + 1) // 2) * d_m
        self.combine_cross = Cross(d_o1)
        half = cfg.hidden // 2
        self.cross_out = nn.Linear(2 * d_o1, half)  # Eq. 14
        self.deep = mlp(n + m * d_m, cfg.hidden, cfg.hidden - half, cfg.dropout)  # Eq. 15

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        e = torch.stack([emb(sparse[:, i]) for i, emb in enumerate(self.embeddings)], dim=1)  # (B, M, d_M)
        outputs, o = [dense], dense
        for layer in self.dense_cross:  # Eq. 8: O_i = Cross_i(D, O_{i-1})
            o = layer(dense.unsqueeze(1), o.unsqueeze(1)).squeeze(1)
            outputs.append(o)
        crossed = self.sparse_cross(e[:, self.pair_a], e[:, self.pair_b])  # Eq. 11, every field pair
        o1 = torch.cat([*outputs, e.flatten(1), crossed.flatten(1)], dim=-1)  # Eq. 9, 12, O_1^u
        o2 = self.combine_cross(o1.unsqueeze(1), o1.unsqueeze(1)).squeeze(1)  # Eq. 13
        f_c = self.cross_out(torch.cat([o1, o2], dim=-1))  # Eq. 14
        f_d = self.deep(torch.cat([dense, e.flatten(1)], dim=-1))  # Eq. 15
        return torch.cat([f_c, f_d], dim=-1)


class PPCLModel(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.post_encoder = PostEncoder(cfg)
        self.user_encoder = UserEncoder(cfg)
        self.popularity_encoder = mlp(2 * cfg.hidden, cfg.hidden, cfg.hidden, cfg.dropout)  # Eq. 16
        self.head = nn.Linear(cfg.hidden, 1)  # Eq. 17

    def popularity_features(self, f_p: torch.Tensor, f_u: torch.Tensor) -> torch.Tensor:
        return self.popularity_encoder(torch.cat([f_p, f_u], dim=-1))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        f_p = self.post_encoder(batch["image"], batch["text"])
        f_u = self.user_encoder(batch["dense"], batch["sparse"])
        f_pop = self.popularity_features(f_p, f_u)
        return {"f_p": f_p, "f_u": f_u, "f_pop": f_pop, "y": self.head(f_pop).squeeze(-1)}


def load_model(state: dict, card: dict) -> PPCLModel:
    """Rebuild a trained model (eval mode) from its state dict and the model config in its card."""
    model = PPCLModel(ModelConfig(**card["model"]))
    model.load_state_dict(state)
    return model.eval()
