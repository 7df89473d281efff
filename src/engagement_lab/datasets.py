"""Project datasets that kedro-datasets does not ship."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import fsspec
import pandas as pd
from kedro.io.core import (
    AbstractDataset,
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.partitions import PartitionedDataset
from kedro_datasets.pickle import PickleDataset

from engagement_lab.core.model_index import state_dict_of
from engagement_lab.core.raw import RawFolder


class BytesDataset(AbstractDataset[bytes, bytes]):
    """A file as raw bytes, written and read exactly.

    Raw exports are kept byte for byte (a truncated JPEG, a latin-1 byte inside a
    UTF-8 file), so the adapters meet the data as it is. Used as the partition
    dataset of ``partitions.PartitionedDataset`` for whole raw folders.
    """

    def __init__(
        self, filepath: str, fs_args: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
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


class RawFolderDataset(PartitionedDataset):
    """A user's raw export folder, read-only: one :class:`BytesDataset` per file, loaded lazily.

    Loading a folder that does not exist gives an empty :class:`RawFolder` instead of an
    error, so a source that is not selected need not be on disk; the ingestion node
    says clearly when a *selected* source is empty. Saving always fails: a user's raw data
    is never written (the sample world writes :class:`SampleWorldFolderDataset` folders).
    """

    def __init__(self, *, path: str, **kwargs: Any) -> None:
        super().__init__(path=path, dataset=BytesDataset, overwrite=False, **kwargs)

    def save(self, data: Any) -> None:
        raise DatasetError(
            f"{self._path} is a raw data folder, and raw data is read-only: no pipeline writes it "
            "(the sample world writes its own sample_world_<source> folders)"
        )

    def load(self) -> RawFolder:
        if not self._filesystem.exists(self._normalized_path):
            return RawFolder(self._path, {})
        try:
            return RawFolder(self._path, super().load())
        except DatasetError as error:  # PartitionedDataset raises on an empty folder
            if "No partitions found" in str(error):
                return RawFolder(self._path, {})
            raise


class SampleWorldFolderDataset(RawFolderDataset):
    """A raw-format folder that the sample world writes: the whole folder is replaced on save.

    ``engagement_lab.hooks.RawDataGuardHook`` stops a run before it starts if one of these
    points inside (or above) a ``raw_<source>`` folder."""

    def __init__(self, *, path: str, **kwargs: Any) -> None:
        PartitionedDataset.__init__(self, path=path, dataset=BytesDataset, overwrite=True, **kwargs)

    def save(self, data: dict[str, Any]) -> None:
        PartitionedDataset.save(self, data)


class OptionalParquetDataset(ParquetDataset):
    """A parquet table that may not exist: loading it then gives ``None`` (the sample world's ground truth,
    which a user's own data does not have)."""

    def load(self) -> pd.DataFrame | None:
        return super().load() if self._exists() else None


class CacheParquetDataset(ParquetDataset):
    """A parquet table used as a cache: loading it before it exists gives an empty table
    with the declared ``columns``, so the first run and later runs take the same path."""

    def __init__(self, *, filepath: str, columns: list[str], **kwargs: Any) -> None:
        super().__init__(filepath=filepath, **kwargs)
        self._columns = columns

    def load(self) -> pd.DataFrame:
        if not self._exists():
            return pd.DataFrame({c: pd.Series(dtype="object") for c in self._columns})
        return super().load()


class SkopsDataset(PickleDataset):
    """kedro-datasets' ``PickleDataset`` with the ``skops.io`` backend (only the ``load_args: trusted`` types are
    built), which imports skops when a file is read or written, not when the entry is built: the parent imports its
    backend in ``__init__`` to fail early, kedro-mlflow builds every catalog entry when a run starts, and
    ``skops.io`` imports all of scikit-learn (2-5 s of every command's start-up, bench/bench_startup.py)."""

    BACKEND = "skops.io"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs, backend="pickle")  # the standard library's: nothing to import
        self._backend = self.BACKEND  # what load and save import


class TorchStateDictDataset(AbstractVersionedDataset[Any, dict[str, Any]]):
    """A torch module's ``state_dict`` in a ``torch.save`` file, read back with ``weights_only=True`` (tensors and
    plain containers only: no code runs from the file). What kedro-datasets-experimental's ``PyTorchDataset`` does, but
    torch is imported when a file is read or written, not when the entry is built: that module imports torch at the
    top, and kedro-mlflow builds every catalog entry when a run starts (1.5-2 s of every command's start-up,
    bench/bench_startup.py). Saving takes the module (or a state dict); loading gives the state dict."""

    def __init__(
        self, *, filepath: str, version: Version | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **({"auto_mkdir": True} if protocol == "file" else {}))
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path), version=version, exists_function=self._fs.exists, glob_function=self._fs.glob
        )

    def load(self) -> dict[str, Any]:
        import torch

        with self._fs.open(get_filepath_str(self._get_load_path(), self._protocol), "rb") as file:
            return torch.load(file, weights_only=True)

    def save(self, data: Any) -> None:
        import torch

        state = state_dict_of(data)
        with self._fs.open(get_filepath_str(self._get_save_path(), self._protocol), "wb") as file:
            torch.save(state, file)
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))

    def _exists(self) -> bool:
        try:
            return self._fs.exists(get_filepath_str(self._get_load_path(), self._protocol))
        except DatasetError:  # no version saved yet
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}


class NotRunDataset(AbstractDataset):
    """Stands in for an output whose pipeline did not run: loads as ``value`` (None or a not-run contract)."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def load(self) -> Any:
        return self._value

    def save(self, data: Any) -> None:
        raise DatasetError("a not-run placeholder cannot be saved")

    def _describe(self) -> dict[str, Any]:
        return {"not_run": True}
