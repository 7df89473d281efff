"""The embedding tables are their own cache: rows keyed by content hash, each with the encoder that made it.

A cached row is reused only when its ``encoder`` (model, engine, precision and input size, e.g.
``efficientnet-lite0/openvino-bf16@160px``) is the one asked for now, so vectors of two settings never mix in one
table. :func:`plan` says what to embed, :func:`assemble` builds the table from the cached rows and the new
vectors; the features node runs both around one embedding call, the ``torchrun`` entry point shards the
embedding between them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachePlan:
    """``cached``: reusable rows (``key``, ``embedding``); ``todo``: what to embed (``key``, ``input``)."""

    key: str
    encoder: str
    cached: pd.DataFrame
    todo: pd.DataFrame
    stale: int  # wanted rows that the cache holds from another encoder


def plan(keys: pd.Series, inputs: pd.Series, cache: pd.DataFrame, key: str, encoder: str) -> CachePlan:
    """Which of ``keys`` the cache already holds from ``encoder``, and which to embed (one input per key)."""
    wanted = pd.DataFrame({key: keys.to_numpy(), "input": inputs.to_numpy()}).drop_duplicates(key)
    same_encoder = cache["encoder"].eq(encoder) if "encoder" in cache.columns else pd.Series(False, index=cache.index)
    wanted_rows = cache[key].isin(wanted[key])
    cached = cache.loc[wanted_rows & same_encoder, [key, "embedding"]].drop_duplicates(key)
    todo = wanted[~wanted[key].isin(cached[key])].reset_index(drop=True)
    return CachePlan(key, encoder, cached, todo, int((wanted_rows & ~same_encoder).sum()))


def assemble(cache_plan: CachePlan, vectors: np.ndarray) -> tuple[pd.DataFrame, dict[str, float]]:
    """The table for exactly the planned keys, sorted by key, and the counts (embedded, from cache, total)."""
    key = cache_plan.key
    if len(vectors) != len(cache_plan.todo):
        raise ValueError(f"{len(vectors)} vectors for {len(cache_plan.todo)} {key}s to embed")
    fresh = pd.DataFrame({key: cache_plan.todo[key].to_numpy(), "embedding": list(vectors)})
    table = pd.concat([cache_plan.cached, fresh], ignore_index=True).sort_values(key, ignore_index=True)
    table["embedding"] = table["embedding"].map(lambda v: np.asarray(v, dtype=np.float32))
    table["encoder"] = cache_plan.encoder
    stats = {"embedded": float(len(fresh)), "from_cache": float(len(cache_plan.cached)), "total": float(len(table))}
    logger.info(
        "%s: %d embedded, %d from cache (%d cached by another encoder) with %s",
        key,
        len(fresh),
        len(cache_plan.cached),
        cache_plan.stale,
        cache_plan.encoder,
    )
    return table, stats


def update_cache(
    keys: pd.Series,
    inputs: pd.Series,
    cache: pd.DataFrame,
    key: str,
    encoder: str,
    embed: Callable[[list], np.ndarray],
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Embed the keys the cache lacks (for ``encoder``); return the rows for exactly ``keys`` and the counts."""
    cache_plan = plan(keys, inputs, cache, key, encoder)
    return assemble(cache_plan, embed(cache_plan.todo["input"].tolist()))
