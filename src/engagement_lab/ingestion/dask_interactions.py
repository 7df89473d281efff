"""PixelRec's interactions read by Dask: raw data beyond one machine's memory (decision 022).

With ``ingestion.interactions_engine: dask`` (the ``conf/dask`` environment), ``interactions.csv`` is cut
into byte ranges of ``ingestion.dask.blocksize``, each extended to whole lines, and every range is parsed
by pyarrow with the streaming reader's options and checked by the same function
(``interactions.canonical_interactions``), on the Dask workers. One pass logs the issues and counts the
rows, since the quarantine and the reconciliation must be complete before anything is saved; the
canonical table is a lazy Dask frame over the same ranges, which the catalog's ``dask.ParquetDataset``
writes from the workers. Nothing is gathered in the driver but the issues and the counts.

The rows and issues are those of the pandas engine. A range is parsed alone, so only a *plain* file
(UTF-8, no quote, no bare CR, no blank line, no NUL: what PixelRec and ``DataFrame.to_csv`` write) can be
cut: any other file is refused, naming the problem (the pandas engine streams it by the csv module's rules).
"""

from __future__ import annotations

import atexit
import io
import logging
from dataclasses import dataclass
from typing import Any

import dask
import dask.dataframe as dd
import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from dask.utils import parse_bytes
from fsspec.utils import read_block

from engagement_lab.core.raw import RawFolder
from engagement_lab.ingestion.common import ISSUE_COLUMNS, IngestionError, Issues, empty
from engagement_lab.ingestion.csvfile import MAX_HEADER_BYTES
from engagement_lab.ingestion.interactions import (
    FIELDS,
    TABLE,
    RejectedRows,
    StagedTable,
    canonical_interactions,
    csv_options,
    in_logged_order,
    partitions,
    partitions_frame,
    string_frame,
)

logger = logging.getLogger(__name__)
BLOCKSIZE = "64MB"
_CLIENTS: list = []  # the clients this process connected, kept open for the catalog's saves


@dataclass(frozen=True)
class Block:
    """One byte range of the file, as the workers read it."""

    path: str
    start: int
    length: int
    header: bytes  # the header line, without byte-order mark or line end


@dataclass
class BlockCheck:
    """What the checking pass learned of one block: why it cannot be read alone (or None), its lines, the rows
    read (rejected ones included), the rows parsed, the rows kept, and its issues numbered within the block."""

    problem: str | None
    lines: int = 0
    read: int = 0
    parsed: int = 0
    kept: int = 0
    issues: pd.DataFrame | None = None


def read_interactions_dask(
    folder: RawFolder, key: str, item_ids: pd.Series, issues: Issues, params: dict
) -> tuple[dd.DataFrame, int, int]:
    """The canonical interactions as a lazy Dask frame, the records read and the rows kept; every issue is
    logged in ``issues`` as the pandas engine logs it."""
    settings = params.get("dask") or {}
    connect(settings.get("scheduler"))
    path = folder.path(key)
    fs, inner = fsspec.core.url_to_fs(path)
    if not fs.size(inner):  # an empty file: no records (as the pandas engine reads it)
        return dd.from_pandas(empty(TABLE), npartitions=1), 0, 0
    header = header_line(path, issues.source, key)
    blocks = byte_blocks(path, header, parse_bytes(settings.get("blocksize", BLOCKSIZE)))
    known = dask.delayed(pa.array(item_ids, pa.large_string()), traverse=False)
    checks = dask.compute(*[dask.delayed(check_block)(b, known, key, issues.source) for b in blocks])
    refuse_unless_plain(blocks, checks, key, issues.source)
    issues.add_frame(in_logged_order(numbered(checks)))
    parts = [dask.delayed(canonical_block)(b, known, key, issues.source) for b in blocks]
    frame = dd.from_delayed(parts, meta=canonical_block(None, pa.array([], pa.large_string()), key, issues.source))
    return frame, sum(c.read for c in checks), sum(c.kept for c in checks)


def refuse_unless_plain(blocks: list[Block], checks: tuple[BlockCheck, ...], key: str, source: str) -> None:
    """Stop, naming the first block that cannot be read alone and why, if any cannot."""
    problems = [f"bytes {b.start}+{b.length}: {c.problem}" for b, c in zip(blocks, checks, strict=True) if c.problem]
    if problems:
        more = f" (and {len(problems) - 1} more blocks)" if len(problems) > 1 else ""
        raise IngestionError(
            f"{source}: the dask engine reads plain CSV only, and {key} has at {problems[0]}{more}; "
            "read it with ingestion.interactions_engine=pandas (the csv module's rules, streamed)"
        )


def as_dask(tables: list) -> dd.DataFrame:
    """Every source's canonical interactions as one Dask frame, for the catalog's ``dask.ParquetDataset``:
    a lazy frame as it is, in-memory and staged tables as one partition."""
    lazy = [t for t in tables if isinstance(t, dd.DataFrame)]
    eager = [t for t in tables if not isinstance(t, dd.DataFrame) and (isinstance(t, StagedTable) or len(t))]
    if eager or not lazy:
        lazy.append(dd.from_pandas(partitions_frame(partitions(eager)), npartitions=1))
    return lazy[0] if len(lazy) == 1 else dd.concat(lazy)


def connect(scheduler: str | None) -> None:
    """Make a Dask scheduler this process's default: an address (``tcp://host:8786``), or ``local`` for a
    cluster of local worker processes. None leaves the default as it is: a ``distributed.Client`` created
    before the run (the test's ``LocalCluster``), else Dask's own threads. The client stays open, so that
    the catalog's ``dask.ParquetDataset`` writes on the same cluster after the node returns."""
    if scheduler is None or _CLIENTS:
        return
    from distributed import Client, LocalCluster

    cluster = LocalCluster() if scheduler == "local" else None
    client = Client(cluster or scheduler)
    _CLIENTS.append(client)
    atexit.register(_close, client, cluster)  # before distributed's own exit handlers: a quiet shutdown
    logger.info("ingestion: Dask scheduler %s (dashboard %s)", client.scheduler.address, client.dashboard_link)


def _close(client: Any, cluster: Any) -> None:
    client.close()
    if cluster is not None:
        cluster.close()


def header_line(path: str, source: str, key: str) -> bytes:
    """The file's first line, without byte-order mark or line end; every field named in ``FIELDS`` must be in it."""
    with fsspec.open(path, "rb") as stream:
        line = stream.readline(MAX_HEADER_BYTES)
    header = line.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")
    names = header.decode("utf-8", "replace").split(",")
    missing = [c for c in FIELDS if c not in names]
    if missing:
        raise IngestionError(f"{source}: {key} lacks columns {missing}; it has {names}")
    if len(set(names)) < len(names):
        raise IngestionError(
            f"{source}: the dask engine reads plain CSV only, and the header of {key} repeats a name ({names}); "
            "read it with ingestion.interactions_engine=pandas"
        )
    return header


def byte_blocks(path: str, header: bytes, blocksize: int) -> list[Block]:
    """The file cut into ranges of ``blocksize`` bytes (each read to whole lines by its worker)."""
    fs, inner = fsspec.core.url_to_fs(path)
    size = fs.size(inner)
    return [Block(path, start, min(blocksize, size - start), header) for start in range(0, size, blocksize)]


def read_lines(block: Block) -> bytes:
    """The whole lines that start in the block's range (the first block from the file's start)."""
    with fsspec.open(block.path, "rb") as stream:
        return read_block(stream, block.start, block.length, delimiter=b"\n")


def not_plain(data: bytes, first: bool) -> str | None:
    """Why a block cannot be parsed alone as the pandas engine would read it, or None."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes that are not UTF-8"
    if b'"' in data:
        return "a quote (quoted fields may span lines)"
    if b"\x00" in data:
        return "a NUL byte"
    if data.count(b"\r") != data.count(b"\r\n"):
        return "a bare CR"
    body = data.removeprefix(b"\xef\xbb\xbf") if first else data
    if b"\n\n" in body or b"\n\r\n" in body or body.startswith((b"\n", b"\r\n")):
        return "a blank line"
    return None


def parse_block(data: bytes, block: Block, issues: Issues, key: str) -> tuple[pd.DataFrame, int]:
    """The block's rows as strings (indexed from 0) and the rows read; rejected rows are logged with their
    line within the block (the first block's lines are the file's)."""
    first = block.start == 0
    body = data if first else block.header + b"\n" + data
    n_fields = block.header.count(b",") + 1
    rejected = RejectedRows(issues, key, n_fields, first_line=1 if first else 0)
    options = csv_options(rejected, max(len(body), 1))
    try:
        table = pa_csv.read_csv(io.BytesIO(body), *options)
    except pa.ArrowInvalid as error:
        raise IngestionError(
            f"{issues.source}: {key} bytes {block.start}+{block.length} do not parse: {error}"
        ) from error
    return string_frame(table, 0), table.num_rows + rejected.take_count()


def check_block(block: Block, known: pa.Array, key: str, source: str) -> BlockCheck:
    """The checking pass over one block (on a worker)."""
    data = read_lines(block)
    problem = not_plain(data, block.start == 0)
    if problem:
        return BlockCheck(problem)
    found = Issues(source)
    raw, n_read = parse_block(data, block, found, key)
    kept = len(canonical_interactions(raw, known, found, key))
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return BlockCheck(None, lines, n_read, len(raw), kept, found.frame())


def canonical_block(block: Block | None, known: pa.Array, key: str, source: str) -> pd.DataFrame:
    """The canonical rows of one block (on a worker); None gives the empty frame Dask takes as its meta."""
    if block is None:
        empty = pa.table({name: pa.array([], pa.string()) for name in FIELDS})
        return canonical_interactions(string_frame(empty, 0), known, Issues(source), key)
    raw, _ = parse_block(read_lines(block), block, Issues(source), key)
    return canonical_interactions(raw, known, Issues(source), key)


def numbered(checks: tuple[BlockCheck, ...]) -> pd.DataFrame:
    """The blocks' issues with records numbered in the whole file: 'row <i>' among the parsed rows, 'line <n>'
    among the lines (the first block holds the header)."""
    frames, rows, lines = [], 0, 0
    for check in checks:
        if len(check.issues):
            frames.append(shift(check.issues, rows, lines))
        rows, lines = rows + check.parsed, lines + check.lines
    if not frames:
        return pd.DataFrame({name: pd.array([], dtype="string") for name in ISSUE_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def shift(issues: pd.DataFrame, rows: int, lines: int) -> pd.DataFrame:
    """``issues`` with each 'row <i>' record moved on by ``rows`` and each 'line <n>' by ``lines``."""
    parts = issues["record"].str.extract(r"^(row|line) (\d+)$")
    offset = np.where(parts[0] == "row", rows, lines)
    number = parts[1].astype("int64") + offset
    return issues.assign(record=(parts[0] + " " + number.astype("string")).astype("string"))
