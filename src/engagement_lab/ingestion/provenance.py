"""Which folder each source was read from: the ``dataset`` that every results contract names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from engagement_lab.core.raw import RawFolder


def describe_sources(reconciliation: pd.DataFrame, **folders: RawFolder) -> dict[str, dict[str, Any]]:
    """Per source that gave posts: the folder it was read from, its file count and its canonical posts."""
    posts = reconciliation[reconciliation["table"] == "posts"].set_index("source")
    return {
        source: {"folder": shown_path(folder.root), "files": len(folder), "posts": int(posts.loc[source, "canonical"])}
        for source, folder in folders.items()
        if source in posts.index and posts.loc[source, "records_in"] > 0
    }


def shown_path(root: str) -> str:
    """A folder as the user named it: relative to the project (the working directory) when inside it."""
    path = Path(root)
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else root


def dataset_label(sources: dict[str, dict[str, Any]] | None, source: str) -> str:
    """``<source>: <folder>``, the data a results contract describes (never a name the data does not have)."""
    if not sources or source not in sources:
        return f"{source}: not ingested"
    return f"{source}: {sources[source]['folder']}"
