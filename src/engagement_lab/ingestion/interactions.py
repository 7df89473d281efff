"""PixelRec's ``interactions.csv`` → the canonical ``interactions`` table, in bounded memory.

PixelRec publishes about 200M viewer interactions: more than one process should hold as pandas objects.
The file is read in batches and each batch is checked and written as one parquet part to a staging
folder; the combine step hands the parts to Kedro's ``PartitionedDataset``, which loads and saves them
one at a time. Memory stays flat whatever the file's size.

A *plain* file (UTF-8, no quote, no bare CR, no blank line: what PixelRec and ``DataFrame.to_csv``
write) is read by pyarrow's streaming CSV reader in 1 MiB blocks (it reads up to 32 blocks ahead), gathered into
batches of ``interactions_block_bytes``.
Any other file is read by the csv module's rules (``csvfile.stream_rows``), streamed too. Both give the
rows, rejected rows and records the in-memory reader gave, and the same checks follow: an interaction
with an unknown item, no timestamp or a time out of range is rejected. The quarantine rows come out in
the order the whole-file reader logged them (by kind, then by position), whatever the batches.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from engagement_lab.core.raw import RawFolder
from engagement_lab.ingestion.common import (
    LATIN1_REPAIR,
    MAX_COUNT,
    PARSE_REASONS,
    TIME_OUT_OF_RANGE,
    IngestionError,
    Issues,
    conform,
    empty,
    parse_numbers,
    seconds_out_of_range,
    source_id,
)
from engagement_lab.ingestion.csvfile import CsvShape, csv_header, record_batches, scan_csv, stream_rows

FIELDS = ["item_id", "user_id", "timestamp"]
TABLE = "interactions"
UNKNOWN_ITEM = "interaction with an unknown item"
NO_TIME = "no timestamp"
BLOCK_BYTES = 16 << 20  # default batch (and parquet part): about half a million rows
# pyarrow's streaming reader reads up to 32 blocks ahead of the one it parses: small blocks keep that small.
READ_BYTES = 1 << 20
EXACT_ROW_BYTES = 64  # a block of a file read by the csv module's rules holds block bytes / this many rows
# The order the whole-file reader logged an interactions file's issues in: by kind, then by position.
ISSUE_ORDER = ("header", "row", LATIN1_REPAIR, *PARSE_REASONS, UNKNOWN_ITEM, NO_TIME, TIME_OUT_OF_RANGE)
RANK = {kind: i for i, kind in enumerate(ISSUE_ORDER)}


# ----------------------------------------------------------------------------- the staged table


class StagedTable:
    """A canonical table written in parquet parts to a staging folder of its own, read back a part at a time.

    The folder is removed when the table is no longer referenced (or at exit): a failed run leaves nothing."""

    def __init__(self, table: str, parent: str | None = None) -> None:
        if parent is not None:
            Path(parent).mkdir(parents=True, exist_ok=True)
        self.table = table
        self.folder = Path(tempfile.mkdtemp(prefix=f"engagement_lab-{table}-", dir=parent))
        self.paths: list[Path] = []
        self.rows = 0
        self._remove = weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)

    def __len__(self) -> int:
        return self.rows

    def append(self, frame: pd.DataFrame) -> None:
        """Write one non-empty part."""
        if len(frame):
            path = self.folder / f"part-{len(self.paths):06d}.parquet"
            frame.to_parquet(path, index=False)
            self.paths.append(path)
            self.rows += len(frame)

    def part(self, i: int) -> pd.DataFrame:
        return pd.read_parquet(self.paths[i])

    def loaders(self) -> list[Callable[[], pd.DataFrame]]:
        """One loader per part, in order (each keeps the table, and so its folder, alive)."""
        return [functools.partial(self.part, i) for i in range(len(self.paths))]

    def frame(self) -> pd.DataFrame:
        """The whole table in memory (tests, small data)."""
        if not self.paths:
            return empty(self.table)
        return pd.concat([self.part(i) for i in range(len(self.paths))], ignore_index=True)


def partitions(tables: list[Any]) -> dict[str, Any]:
    """The canonical interactions of every source as partitions for Kedro's ``PartitionedDataset``: a staged
    table's parts as loaders (each loaded only while it is saved), an in-memory frame as one part; one
    empty part when there is no row at all, so that the folder always reads back."""
    parts: list[Any] = []
    for table in tables:
        if isinstance(table, StagedTable):
            parts += table.loaders()
        elif len(table):
            parts.append(table)
    if not parts:
        parts = [empty(TABLE)]
    return {f"part-{i:06d}": part for i, part in enumerate(parts)}


def partitions_frame(parts: dict[str, Any]) -> pd.DataFrame:
    """Partitions (as :func:`partitions` gives or ``PartitionedDataset`` loads them) as one frame, in order."""
    frames = [part() if callable(part) else part for _, part in sorted(parts.items())]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- reading


def stream_interactions(
    folder: RawFolder, key: str, item_ids: pd.Series, issues: Issues, params: dict
) -> tuple[StagedTable, int]:
    """Read ``key`` in batches into a staged canonical table; returns it and the records read.

    Every issue is logged in ``issues``, in the whole-file reader's order."""
    with folder.open(key) as stream:
        shape = scan_csv(stream)
    known = pa.array(item_ids, pa.large_string())
    try:
        staged, found, n_read = _stream(folder, key, shape, known, issues.source, params)
    except PlainParseError:  # pyarrow refused a plain file (a line longer than a block): the csv module's rules
        staged, found, n_read = _stream(folder, key, replace(shape, plain=False), known, issues.source, params)
    issues.add_frame(in_logged_order(found.frame()))
    return staged, n_read


def _stream(
    folder: RawFolder, key: str, shape: CsvShape, known: pa.Array, source: str, params: dict
) -> tuple[StagedTable, Issues, int]:
    staged, found, n_read = StagedTable(TABLE, params.get("staging_dir")), Issues(source), 0
    with folder.open(key) as stream:
        for raw, n in raw_batches(stream, shape, found, key, params.get("interactions_block_bytes", BLOCK_BYTES)):
            n_read += n
            staged.append(canonical_interactions(raw, known, found, key))
    return staged, found, n_read


def raw_batches(
    stream: BinaryIO, shape: CsvShape, issues: Issues, key: str, block_bytes: int
) -> Iterator[tuple[pd.DataFrame, int]]:
    """Frames of the three fields as strings, indexed by position among the accepted rows, and the rows
    read for each; rows with another field count are logged."""
    if shape.plain:
        yield from plain_batches(stream, shape.header, issues, key, block_bytes)
        return
    rows = stream_rows(stream, shape, issues.source, key)
    header = csv_header(rows, issues, TABLE, key, FIELDS)
    if header is not None:
        batch_rows = max(1, block_bytes // EXACT_ROW_BYTES)
        for frame, n in record_batches(rows, header, issues, TABLE, key, "item_id", batch_rows):
            yield frame[FIELDS], n


def plain_batches(
    stream: BinaryIO, header: list[str], issues: Issues, key: str, block_bytes: int
) -> Iterator[tuple[pd.DataFrame, int]]:
    """:func:`raw_batches` of a plain file, by pyarrow's streaming CSV reader."""
    missing = [c for c in FIELDS if c not in header]
    if missing:
        raise IngestionError(f"{issues.source}: {key} lacks columns {missing}; it has {header}")
    rejected = RejectedRows(issues, key, len(header))
    pending, first = [], 0
    try:
        for batch in pa_csv.open_csv(stream, *csv_options(rejected, min(READ_BYTES, block_bytes))):
            pending.append(batch)
            if sum(b.nbytes for b in pending) >= block_bytes:
                yield _joined(pending, first, rejected)
                first, pending = first + sum(b.num_rows for b in pending), []
    except pa.ArrowInvalid as error:
        raise PlainParseError(f"{issues.source}: {key} does not parse from row {first}: {error}") from error
    if pending or rejected.count:  # the last rows, or rows rejected after the last batch
        yield _joined(pending, first, rejected)


def _joined(batches: list[pa.RecordBatch], first: int, rejected: RejectedRows) -> tuple[pd.DataFrame, int]:
    """Parsed blocks as one frame indexed from ``first``, and the rows read for it (the rejected ones too)."""
    table = pa.Table.from_batches(batches, schema=pa.schema([(name, pa.string()) for name in FIELDS]))
    return string_frame(table, first), table.num_rows + rejected.take_count()


class PlainParseError(IngestionError):
    """pyarrow could not split a plain file (a line longer than a block)."""


class RejectedRows:
    """pyarrow's handler of rows with another field count than the header: each is logged, as the csv
    module's reader logs it, naming its line (plain files: one row per line, the header on line 1)."""

    def __init__(self, issues: Issues, key: str, n_fields: int, first_line: int = 1) -> None:
        self.issues, self.key, self.n_fields, self.first_line, self.count = issues, key, n_fields, first_line, 0

    def __call__(self, row: pa_csv.InvalidRow) -> str:
        fields = row.text.count(",") + 1
        reason = f"row has {fields} fields, the header {self.n_fields} (a line break in an unquoted field?)"
        line = self.first_line + row.number - 1
        self.issues.add(TABLE, self.key, f"line {line}", "row", reason, value=row.text[:200])
        self.count += 1
        return "skip"

    def take_count(self) -> int:
        count, self.count = self.count, 0
        return count


def csv_options(
    rejected: RejectedRows, block_bytes: int
) -> tuple[pa_csv.ReadOptions, pa_csv.ParseOptions, pa_csv.ConvertOptions]:
    """pyarrow's options that split a plain file as the csv module does: no quoting, every field a string."""
    return (
        pa_csv.ReadOptions(block_size=block_bytes, use_threads=False),
        pa_csv.ParseOptions(quote_char=False, invalid_row_handler=rejected),
        pa_csv.ConvertOptions(column_types=dict.fromkeys(FIELDS, pa.string()), include_columns=FIELDS),
    )


def string_frame(batch: pa.RecordBatch | pa.Table, first: int) -> pd.DataFrame:
    """The three fields of an Arrow batch as pandas strings, indexed from ``first``."""
    columns = {name: pd.array(batch.column(name), dtype="string") for name in FIELDS}
    return pd.DataFrame(columns, index=pd.RangeIndex(first, first + batch.num_rows))


# ----------------------------------------------------------------------------- checks


def canonical_interactions(raw: pd.DataFrame, known: pa.Array, issues: Issues, key: str) -> pd.DataFrame:
    """Interactions with a known item and a plausible time; each other one is rejected, with one reason.

    ``raw`` is indexed by each row's position in the file's accepted rows (its quarantine record)."""
    stamp = seconds(raw["timestamp"], issues, key)
    listed = pc.is_in(_arrow(raw["item_id"]), value_set=known).to_numpy(zero_copy_only=False)
    unknown = pd.Series(~listed, raw.index)
    no_time = stamp.isna() & ~unknown
    out_of_range = seconds_out_of_range(stamp) & ~unknown
    issues.add_many(TABLE, key, records(raw.index[unknown.to_numpy()]), "item_id", UNKNOWN_ITEM)
    issues.add_many(TABLE, key, records(raw.index[no_time.to_numpy()]), "timestamp", NO_TIME)
    values = raw.loc[out_of_range, "timestamp"]
    where = raw.index[out_of_range.to_numpy()]
    issues.add_many(TABLE, key, records(where), "timestamp", TIME_OUT_OF_RANGE, values=values)
    ok = ~(unknown | no_time | out_of_range)
    return conform(
        pd.DataFrame(
            {
                "post_id": source_id("pixelrec", raw.loc[ok, "item_id"]),
                "user_id": source_id("pixelrec-viewer", raw.loc[ok, "user_id"]),
                "source": "pixelrec",
                "timestamp": pd.to_datetime(stamp[ok], unit="s", utc=True),
            }
        ),
        TABLE,
    )


def seconds(text: pd.Series, issues: Issues, key: str) -> pd.Series:
    """Unix seconds as floats, by ``parse_numbers``' rules (sentinels, garbage, negative and huge values
    logged and missing). Plain digits in range, the usual case, are cast by Arrow without a check per row."""
    numbers = _plain_integers(_arrow(text))
    if numbers is not None and (not len(numbers) or numbers.max() <= MAX_COUNT):
        return pd.Series(numbers.astype(np.float64), index=text.index)
    parsed = parse_numbers(text, records(text.index), issues, TABLE, key, "timestamp")
    return parsed.astype("float64")


def _plain_integers(values: pa.Array) -> np.ndarray | None:
    """The values as int64 when every one is plain ASCII digits that fit; None otherwise."""
    if values.null_count or pc.all(pc.match_substring_regex(values, r"^[0-9]+$")).as_py() is False:
        return None
    try:
        return pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:  # beyond int64
        return None


def records(positions: pd.Index) -> pd.Series:
    """The quarantine records of rows at these positions: 'row <i>'."""
    return pd.Series([f"row {i}" for i in positions], index=positions, dtype="string")


def in_logged_order(found: pd.DataFrame) -> pd.DataFrame:
    """Issues logged batch by batch, in the order one pass over the whole file logs them: by kind
    (header, rows, repairs, number parsing, checks), then as found."""
    if found.empty:
        return found
    header = (found["field"] == "header") & (found["record"] == "line 1")
    row = (found["field"] == "row") & (found["reason"] != LATIN1_REPAIR)
    kind = found["reason"].mask(header, "header").mask(row, "row")
    rank = kind.map(RANK).fillna(len(RANK)).astype("int64").to_numpy()
    return found.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)


def _arrow(values: pd.Series) -> pa.Array:
    return pa.array(values.array, pa.large_string())
