"""The dual-attention classifier (§III, Eq. 1–6) and the paper's baselines (§IV-B), in one module.

``arch`` picks the model:

- ``visual``: image features → fully connected layers.
- ``textual``: word embedding + one-layer LSTM (last state) → fully connected layers.
- ``early_fusion``: [image projection, caption state] concatenated at feature level.
- ``late_fusion``: the mean of a visual and a textual prediction score.
- ``ccr``: cross-modality consistent regression (You et al. 2016): visual, textual and joint
  predictions, with a KL term pulling each single-modality prediction towards the joint one.
- ``similarity``: the element-wise product of the L2-normalised image and caption projections
  (its sum is their cosine similarity) as the representation.
- ``dual``: the paper's model and its ablations. ``explicit_attention`` switches the caption's
  word attention (Eq. 1–3, h_w = V̂ + Q̂ᵉ) against early fusion; ``environment`` is ``none``,
  ``concat`` (Env: fully connected layer on [I_e, T_e]) or ``implicit`` (I-attn: the multimodal
  residual of Eq. 4–5); the two parts join hierarchically (Eq. 6).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from engagement_lab.core.model_index import state_dict_of

ARCHS = ("visual", "textual", "early_fusion", "late_fusion", "ccr", "similarity", "dual")
ENVIRONMENTS = ("none", "concat", "implicit")


@dataclass(frozen=True)
class ModelConfig:
    arch: str
    vocab_size: int
    image_dim: int
    topic_dim: int
    explicit_attention: bool = False
    environment: str = "none"
    embed_dim: int = 512  # word embedding (paper: 512)
    hidden_dim: int = 512  # LSTM hidden state (paper: 512)
    attention_dim: int = 128  # k of Eq. 2 (paper: 128)
    env_dim: int = 512  # width of the environment representation e_w
    fc_dim: int = 512  # width of O_1
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"Unknown model arch {self.arch!r}; choose one of {list(ARCHS)}")
        if self.environment not in ENVIRONMENTS:
            raise ValueError(f"Unknown environment {self.environment!r}; choose one of {list(ENVIRONMENTS)}")
        if self.arch != "dual" and (self.explicit_attention or self.environment != "none"):
            raise ValueError(f"explicit_attention and environment apply to arch 'dual' only, not {self.arch!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class CaptionEncoder(nn.Module):
    """Trainable word embedding followed by a one-layer LSTM (§III-B). ``word_vectors`` (vocab_size,
    embed_dim; an array or tensor) start the embedding (e.g. word2vec); without them it starts from N(0, 1)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_dim: int, word_vectors: ArrayLike | None = None) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        if word_vectors is not None:
            if tuple(word_vectors.shape) != (vocab_size, embed_dim):
                raise ValueError(
                    f"word vectors of shape {tuple(word_vectors.shape)} do not fit an embedding of "
                    f"{vocab_size} words x {embed_dim} dimensions"
                )
            with torch.no_grad():
                self.embed.weight.copy_(torch.as_tensor(word_vectors, dtype=torch.float32))
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-word states Qᵉ (B, T, d2) (zero at padding) and the last state (B, d2)."""
        packed = pack_padded_sequence(self.embed(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, _) = self.lstm(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return states, h[-1]


class ExplicitAttention(nn.Module):
    """Eq. 1–3: image–word affinity, word attention a^q and the attended V̂, Q̂ᵉ."""

    def __init__(self, image_dim: int, word_dim: int, k: int) -> None:
        super().__init__()
        self.W_a = nn.Linear(image_dim, word_dim, bias=False)  # (Qᵉ)ᵀ W_a V
        self.W_q = nn.Linear(word_dim, k)
        self.W_v = nn.Linear(image_dim, k)
        self.W_h = nn.Linear(k, 1)
        self.F1 = nn.Linear(image_dim, word_dim)
        self.F2 = nn.Linear(word_dim, word_dim)

    def forward(self, V: torch.Tensor, Q: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        A = torch.tanh(torch.einsum("btd,bd->bt", Q, self.W_a(V)))  # (B, T) affinity, Eq. 1
        H = torch.tanh(self.W_q(Q) + A.unsqueeze(-1) * self.W_v(V).unsqueeze(1))  # (B, T, k), Eq. 2
        scores = self.W_h(H).squeeze(-1).masked_fill(~mask, float("-inf"))
        a = torch.softmax(scores, dim=1)  # a^q
        Q_hat = torch.einsum("bt,btd->bd", a, Q)  # Eq. 3
        V_hat = self.F2(F.relu(self.F1(V)))
        return V_hat, Q_hat, a


class ImplicitAttention(nn.Module):
    """Eq. 4–5: F(I_e, T_e) = σ(W_i I_e) ⊙ σ(W_t T_e); H = W_i2 I_e + W_t2 T_e + F; e_w = F(H)."""

    def __init__(self, image_dim: int, topic_dim: int, env_dim: int) -> None:
        super().__init__()
        self.W_i = nn.Linear(image_dim, env_dim)
        self.W_t = nn.Linear(topic_dim, env_dim)
        self.W_i2 = nn.Linear(image_dim, env_dim, bias=False)
        self.W_t2 = nn.Linear(topic_dim, env_dim, bias=False)
        self.out = nn.Linear(env_dim, env_dim)

    def forward(self, I_e: torch.Tensor, T_e: torch.Tensor) -> torch.Tensor:
        joint = F.relu(self.W_i(I_e)) * F.relu(self.W_t(T_e))
        H = self.W_i2(I_e) + self.W_t2(T_e) + joint
        return F.relu(self.out(H))


class PopularityNet(nn.Module):
    """Every model of Tables I–II. ``forward`` returns a dict with ``logit`` (B,), ``aux_logits``
    (CCR's single-modality logits, else empty) and ``attention`` (word weights (B, T) or None).
    ``word_vectors`` start the caption models' word embedding (loading a trained model needs none)."""

    def __init__(self, config: ModelConfig, word_vectors: ArrayLike | None = None) -> None:
        super().__init__()
        self.config = c = config
        self.drop = nn.Dropout(c.dropout)
        needs_text = c.arch != "visual"
        needs_image = c.arch != "textual"
        if needs_text:
            self.caption = CaptionEncoder(c.vocab_size, c.embed_dim, c.hidden_dim, word_vectors)
        if needs_image and not c.explicit_attention:
            self.image = nn.Linear(c.image_dim, c.hidden_dim)  # image projection to the caption's width
        if c.arch == "visual":
            self.head = _mlp(c.hidden_dim, c.fc_dim, c.dropout)
        elif c.arch == "textual":
            self.head = _mlp(c.hidden_dim, c.fc_dim, c.dropout)
        elif c.arch in ("late_fusion", "ccr"):
            self.head_v = _mlp(c.hidden_dim, c.fc_dim, c.dropout)
            self.head_t = _mlp(c.hidden_dim, c.fc_dim, c.dropout)
            if c.arch == "ccr":
                self.head = _mlp(2 * c.hidden_dim, c.fc_dim, c.dropout)
        elif c.arch == "similarity":
            self.text_proj = nn.Linear(c.hidden_dim, c.hidden_dim)
            self.head = _mlp(c.hidden_dim, c.fc_dim, c.dropout)
        elif c.arch == "early_fusion":
            self.head = _mlp(2 * c.hidden_dim, c.fc_dim, c.dropout)
        else:  # dual
            if c.explicit_attention:
                self.attention = ExplicitAttention(c.image_dim, c.hidden_dim, c.attention_dim)
            post_dim = c.hidden_dim if c.explicit_attention else 2 * c.hidden_dim
            env_dim = 0
            if c.environment == "concat":
                self.env = nn.Sequential(nn.Linear(c.image_dim + c.topic_dim, c.env_dim), nn.ReLU())
                env_dim = c.env_dim
            elif c.environment == "implicit":
                self.env = ImplicitAttention(c.image_dim, c.topic_dim, c.env_dim)
                env_dim = c.env_dim
            self.head = _mlp(post_dim + env_dim, c.fc_dim, c.dropout)  # Eq. 6: O_1 = σ_1(W_1[h_w, e_w])

    def forward(
        self,
        image: torch.Tensor,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        image_env: torch.Tensor | None = None,
        topic_env: torch.Tensor | None = None,
    ) -> dict:
        c = self.config
        attention, aux = None, []
        if c.arch != "visual":
            Q, q_last = self.caption(tokens, lengths)
            q_last = self.drop(q_last)
        if c.arch != "textual" and not c.explicit_attention:
            v = self.drop(F.relu(self.image(image)))
        if c.arch == "visual":
            logit = self.head(v)
        elif c.arch == "textual":
            logit = self.head(q_last)
        elif c.arch == "late_fusion":
            p = (torch.sigmoid(self.head_v(v)) + torch.sigmoid(self.head_t(q_last))) / 2
            p = p.clamp(1e-6, 1 - 1e-6)
            logit = torch.log(p) - torch.log1p(-p)
        elif c.arch == "ccr":
            aux = [self.head_v(v), self.head_t(q_last)]
            logit = self.head(torch.cat([v, q_last], dim=1))
        elif c.arch == "similarity":
            joint = F.normalize(v, dim=1) * F.normalize(self.text_proj(q_last), dim=1)
            logit = self.head(joint * c.hidden_dim**0.5)
        elif c.arch == "early_fusion":
            logit = self.head(torch.cat([v, q_last], dim=1))
        else:
            if c.explicit_attention:
                mask = torch.arange(tokens.shape[1], device=tokens.device)[None, :] < lengths[:, None].to(tokens.device)
                V_hat, Q_hat, attention = self.attention(image, Q, mask)
                h_w = self.drop(V_hat + Q_hat)
            else:
                h_w = torch.cat([v, q_last], dim=1)
            parts = [h_w]
            if c.environment == "concat":
                parts.append(self.drop(self.env(torch.cat([image_env, topic_env], dim=1))))
            elif c.environment == "implicit":
                parts.append(self.drop(self.env(image_env, topic_env)))
            logit = self.head(torch.cat(parts, dim=1))
        return {"logit": logit, "aux_logits": aux, "attention": attention}


def _mlp(in_dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """O_1 = ReLU(W_1 x), O_2 = W_2 O_1 (the sigmoid sits in the loss): one logit per post."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1), nn.Flatten(0))


def loss_fn(out: dict, y: torch.Tensor, consistency: float = 0.5) -> torch.Tensor:
    """Binary cross-entropy (Eq. 7); CCR adds BCE on each modality and KL(modality ‖ joint)."""
    loss = F.binary_cross_entropy_with_logits(out["logit"], y)
    if out["aux_logits"]:
        p_joint = torch.sigmoid(out["logit"]).clamp(1e-6, 1 - 1e-6)
        for aux in out["aux_logits"]:
            loss = loss + F.binary_cross_entropy_with_logits(aux, y)
            p = torch.sigmoid(aux).clamp(1e-6, 1 - 1e-6)
            kl = p * torch.log(p / p_joint) + (1 - p) * torch.log((1 - p) / (1 - p_joint))
            loss = loss + consistency * kl.mean()
    return loss


def load_model(state: dict | nn.Module, config: dict) -> PopularityNet:
    """Rebuild a trained network (eval mode) from its state dict and the config it was trained with (the
    ``config`` of its training history); raises ``RuntimeError`` when the two do not fit."""
    model = PopularityNet(ModelConfig(**config))
    model.load_state_dict(state_dict_of(state))
    return model.eval()
