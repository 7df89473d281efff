"""The contrastive objectives: SupCon (Eq. 19, used by UISD Eq. 21 and UID Eq. 22), the hierarchical
multi-label loss of CRD (Eq. 20) and Rank-N-Contrast (Eq. 26).

Conventions: ``features`` (n, d) are compared by cosine similarity; a label of -1 means "no label" (the
sample is neither an anchor nor anyone's positive, but stays a negative in every denominator). The sums
over anchors of the paper are averaged over the anchors that have at least one positive (as SupCon's
reference implementation does), so the loss does not grow with the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _logits(features: torch.Tensor, temperature: float) -> torch.Tensor:
    z = F.normalize(features.float(), dim=-1)
    return z @ z.T / temperature


def _log_prob(logits: torch.Tensor) -> torch.Tensor:
    """log(e^{s_ia} / Σ_{a' ≠ i} e^{s_ia'}) for every pair; the diagonal is excluded from the sums."""
    n = logits.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=logits.device)
    masked = logits.masked_fill(eye, float("-inf"))
    return masked - torch.logsumexp(masked, dim=1, keepdim=True)


def _supcon_from_log_prob(log_prob: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    n = labels.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=labels.device)
    known = labels >= 0
    positive = (labels[:, None] == labels[None, :]) & ~eye & known[:, None] & known[None, :]
    counts = positive.sum(1)
    anchors = counts > 0
    if not anchors.any():  # no positive pair (e.g. every label -1): 0, keeping the graph and device
        return log_prob.masked_fill(eye, 0.0).sum() * 0.0  # the diagonal is -inf, and -inf · 0 is NaN
    per_anchor = -(log_prob.masked_fill(~positive, 0.0)).sum(1)[anchors] / counts[anchors]
    return per_anchor.mean()


def supcon(features: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Eq. 19: −1/|P(i)| Σ_{p∈P(i)} log(e^{sim(f_i,f_p)/τ} / Σ_{a∈A(i)} e^{sim(f_i,f_a)/τ}), mean over anchors."""
    return _supcon_from_log_prob(_log_prob(_logits(features, temperature)), labels)


def level_weights(n_levels: int) -> list[float]:
    """λ_l = 1/l² per level, listed coarse → fine, with l counted from the finest level (l = 1):
    the finest positives (same concept) weigh most, as §5.2 asks ("a higher penalty on sample pairs at
    higher levels", i.e. those that share more of the hierarchy)."""
    return [1.0 / (n_levels - i) ** 2 for i in range(n_levels)]


def hierarchical_supcon(features: torch.Tensor, levels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Eq. 20: Σ_l (1/|L|) λ_l · SupCon at level l, where positives share the level-l label.

    ``levels`` is (n, L), coarse → fine (category, subcategory, concept)."""
    log_prob = _log_prob(_logits(features, temperature))
    n_levels = levels.shape[1]
    weights = level_weights(n_levels)
    return sum(w * _supcon_from_log_prob(log_prob, levels[:, i]) for i, w in enumerate(weights)) / n_levels


def rnc(features: torch.Tensor, targets: torch.Tensor, temperature: float = 2.0) -> torch.Tensor:
    """Eq. 26 (Rank-N-Contrast): for anchor i and every j ≠ i,
    −log(e^{s_ij/τ} / Σ_{k ≠ i, |y_i − y_k| ≥ |y_i − y_j|} e^{s_ik/τ}), averaged over j, then over anchors.

    The rank-dependent denominators come from one sort per anchor (suffix sums over distances), so the
    cost is O(n² log n) instead of the naive O(n³)."""
    logits = _logits(features, temperature)
    n = logits.shape[0]
    if n < 2:
        return logits.sum() * 0.0
    y = targets.float().reshape(-1)
    distance = (y[:, None] - y[None, :]).abs()
    eye = torch.eye(n, dtype=torch.bool, device=logits.device)
    distance = distance.masked_fill(eye, -1.0)  # the anchor itself sorts first and is never in a sum
    d_sorted, order = distance.sort(dim=1)
    l_sorted = logits.gather(1, order).masked_fill(d_sorted < 0, float("-inf"))
    # log Σ_{m ≥ k} e^{l_m}: reversed log-cumsum-exp.
    suffix = torch.logcumsumexp(l_sorted.flip(1), dim=1).flip(1)
    first = torch.searchsorted(d_sorted.contiguous(), distance.contiguous(), right=False)  # first m with d_m ≥ d_ij
    log_denominator = suffix.gather(1, first.clamp(max=n - 1))
    terms = (log_denominator - logits).masked_fill(eye, 0.0)
    return (terms.sum(1) / (n - 1)).mean()
