"""A raw export folder as the readers see it: its files by relative path, loaded lazily, and where it lives.

Kedro's ``RawFolderDataset`` (``engagement_lab.datasets``) builds one from a catalog entry; the readers
(``ingestion``, ``predict``) need only this class, not Kedro.
"""

from __future__ import annotations

from typing import Any

import fsspec


class RawFolder(dict):
    """``{relative path: loader}`` for the files of one raw folder, plus where it lives."""

    def __init__(self, root: str, loaders: dict[str, Any]) -> None:
        super().__init__(loaders)
        self.root = root

    def path(self, key: str) -> str:
        return f"{self.root.rstrip('/')}/{key}"

    def open(self, key: str):
        """A binary file object, for readers that stream instead of loading whole bytes."""
        if key not in self:
            raise KeyError(f"{key} is not in {self.root}")
        return fsspec.open(self.path(key), "rb").open()
