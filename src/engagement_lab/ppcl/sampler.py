"""§5.6's hierarchical batch sampler, and plain random batches (the "Random Sampling" ablation).

A batch of B posts is L + 1 blocks of B/(L+1): b_0 is random (the next B/(L+1) posts of a fresh permutation of the
training posts; an epoch is ceil(n/B) batches, so about 1/(L+1) of the posts are anchors per epoch, and partners are
drawn with replacement: the paper does not say, the authors' code draws each post once per epoch, see
docs/pipelines/ppcl.md "Checked against the paper"); for each level i = 1..L (coarse →
fine), block b_i holds, for each anchor in b_0, a post with the same label at level i but a different
label at level i+1 (at the finest level: the same label, another post). Where no such post exists the
sampler relaxes to a post that shares level i (then: any other post); ``fallbacks`` counts these.
Everything is vectorised with numpy: one sort per level, no Python loop over posts.
"""

from __future__ import annotations

import math

import numpy as np


class HierarchicalBatchSampler:
    """Yields arrays of row indices into the training set. ``levels``: (n, L) int labels, coarse → fine."""

    def __init__(self, levels: np.ndarray, batch_size: int, seed: int = 0) -> None:
        self.levels = np.asarray(levels, dtype=np.int64)
        self.n, self.n_levels = self.levels.shape
        if self.n < 2:
            raise ValueError("the hierarchical sampler needs at least two training posts")
        self.batch_size = batch_size
        self.block = max(1, batch_size // (self.n_levels + 1))
        self.rng = np.random.default_rng(seed)
        self.fallbacks = 0
        # Per level i: posts sorted by (labels up to i, label i+1) and the group boundaries of both keys.
        self._sorted, self._group, self._sub = [], [], []
        for i in range(self.n_levels):
            key_group = _prefix_key(self.levels, i + 1)
            key_sub = _prefix_key(self.levels, min(i + 2, self.n_levels))
            order = np.lexsort((key_sub, key_group))
            position = np.empty(self.n, dtype=np.int64)
            position[order] = np.arange(self.n)
            self._sorted.append(order)
            self._group.append(_bounds(key_group[order], position))
            self._sub.append(_bounds(key_sub[order], position))

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        permutation = self.rng.permutation(self.n)
        for b in range(len(self)):
            anchors = permutation[(b * self.block) % self.n :][: self.block]
            if len(anchors) < self.block:  # wrap around the permutation
                anchors = np.concatenate([anchors, permutation[: self.block - len(anchors)]])
            blocks = [anchors] + [self._partners(anchors, i) for i in range(self.n_levels)]
            yield np.concatenate(blocks)

    def _partners(self, anchors: np.ndarray, i: int) -> np.ndarray:
        order = self._sorted[i]
        g_start, g_end = (b[anchors] for b in self._group[i])
        s_start, s_end = (b[anchors] for b in self._sub[i])
        finest = i == self.n_levels - 1
        u = self.rng.random(len(anchors))
        if finest:  # same label at the finest level, another post: [s_start, s_end) minus the anchor
            count = s_end - s_start - 1
            pick = s_start + np.floor(u * np.maximum(count, 1)).astype(np.int64)
            own = self._position(anchors, i)
            pick = np.where(pick >= own, pick + 1, pick)
        else:  # same group at level i, outside the anchor's level-(i+1) subgroup
            count = (g_end - g_start) - (s_end - s_start)
            offset = np.floor(u * np.maximum(count, 1)).astype(np.int64)
            before = s_start - g_start
            pick = np.where(offset < before, g_start + offset, s_end + offset - before)
        chosen = order[np.clip(pick, 0, self.n - 1)]
        missing = count <= 0
        if missing.any():
            self.fallbacks += int(missing.sum())
            chosen[missing] = self._relaxed(anchors[missing], g_start[missing], g_end[missing], order)
        return chosen

    def _relaxed(self, anchors: np.ndarray, g_start: np.ndarray, g_end: np.ndarray, order: np.ndarray) -> np.ndarray:
        """Another post of the same level-i group, or any other post when the group is the anchor alone."""
        count = g_end - g_start
        pick = order[g_start + np.floor(self.rng.random(len(anchors)) * count).astype(np.int64)]
        lonely = (count <= 1) | (pick == anchors)
        if lonely.any():
            other = self.rng.integers(0, self.n - 1, int(lonely.sum()))
            pick[lonely] = np.where(other >= anchors[lonely], other + 1, other)
        return pick

    def _position(self, anchors: np.ndarray, i: int) -> np.ndarray:
        position = np.empty(self.n, dtype=np.int64)
        position[self._sorted[i]] = np.arange(self.n)
        return position[anchors]


class RandomBatchSampler:
    """Shuffled batches of ``batch_size`` training posts, every post once per epoch."""

    def __init__(self, n: int, batch_size: int, seed: int = 0) -> None:
        self.n, self.batch_size = n, batch_size
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        permutation = self.rng.permutation(self.n)
        for b in range(len(self)):
            yield permutation[b * self.batch_size : (b + 1) * self.batch_size]


def _prefix_key(levels: np.ndarray, depth: int) -> np.ndarray:
    """One integer per post identifying its labels at levels 1..depth."""
    _, key = np.unique(levels[:, :depth], axis=0, return_inverse=True)
    return key.reshape(-1)


def _bounds(sorted_keys: np.ndarray, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per post (by row index), the start and end (exclusive) of its key's run in the sorted order."""
    change = np.flatnonzero(np.diff(sorted_keys)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(sorted_keys)]])
    run = np.searchsorted(starts, np.arange(len(sorted_keys)), side="right") - 1
    return starts[run][position], ends[run][position]
