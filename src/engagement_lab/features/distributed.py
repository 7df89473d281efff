"""Embedding data parallel under ``torchrun``: each rank embeds every ``world``-th item, rank 0 gathers them.

Shards are strided (rank ``r`` takes items ``r, r + world, ...``), so every rank gets the same mix of long and
short texts and the gathered vectors interleave back into the input order. Plain ``torch.distributed`` (Gloo on
CPUs, NCCL on GPUs): no Kedro here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (0 and 1 outside a process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(items: Sequence, rank: int, world: int) -> list:
    """The items rank ``rank`` of ``world`` embeds."""
    return list(items[rank::world])


def interleave(parts: Sequence[np.ndarray], dim: int) -> np.ndarray:
    """Every rank's vectors (rank order) back in the input order: the inverse of :func:`shard`."""
    total = sum(len(p) for p in parts)
    out = np.empty((total, dim), dtype=np.float32)
    for rank, part in enumerate(parts):
        out[rank :: len(parts)] = part
    return out


def embed_sharded(embed: Callable[[list], np.ndarray], items: Sequence, dim: int) -> np.ndarray | None:
    """``embed(items)`` split between the ranks: all of it on rank 0 (input order), ``None`` on the others.

    Every rank must call it with the same ``items``. Outside a process group it is ``embed(items)``."""
    rank, world = rank_and_world()
    if world == 1:
        return embed(list(items))
    mine = embed(shard(items, rank, world))
    parts: list | None = [None] * world if rank == 0 else None
    dist.gather_object(np.asarray(mine, dtype=np.float32).reshape(-1, dim), parts, dst=0)
    return interleave(parts, dim) if rank == 0 else None
