"""Project datasets that kedro-datasets does not ship."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractDataset, DatasetError, get_filepath_str, get_protocol_and_path


class BytesDataset(AbstractDataset[bytes, bytes]):
    """A file as raw bytes, written and read exactly.

    Raw exports are kept byte for byte (a truncated JPEG, a latin-1 byte inside a
    UTF-8 file), so the adapters meet the data as it is. Used as the partition
    dataset of ``partitions.PartitionedDataset`` for whole raw folders.
    """

    def __init__(self, filepath: str, fs_args: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:  # fmt: skip
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol, **(fs_args or {}))
        self.metadata = metadata

    def load(self) -> bytes:
        path = get_filepath_str(self._filepath, self._protocol)
        with self._fs.open(path, "rb") as f:
            return f.read()

    def save(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray):
            raise DatasetError(f"BytesDataset saves bytes, got {type(data).__name__} for {self._filepath}")
        path = get_filepath_str(self._filepath, self._protocol)
        self._fs.makedirs(str(self._filepath.parent), exist_ok=True)
        with self._fs.open(path, "wb") as f:
            f.write(data)

    def _exists(self) -> bool:
        return self._fs.exists(get_filepath_str(self._filepath, self._protocol))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "protocol": self._protocol}
