"""CSV files as the adapters read them: rows by the csv module's rules, whole or streamed in batches.

One set of rules for every CSV (PixelRec's ``item_info.csv`` and ``interactions.csv``, CrowdTangle's
``posts.csv`` and ``comments.csv``): quoted fields keep their line breaks, a bare CR inside a field stays
a CR, a UTF-8 byte-order mark is dropped, bytes that are not UTF-8 are decoded as latin-1 (logged), a row
whose field count differs from the header's is rejected naming its line, and a tail swallowed by an
unterminated quote is rejected line by line.

:func:`read_csv` reads a whole file (small tables). :func:`scan_csv` and :func:`stream_rows` read one of any
size in bounded memory: one pass over its bytes tells whether it is *plain* (UTF-8, no quote, no bare CR,
no blank line, no NUL, a header of distinct names: where pyarrow's CSV reader splits rows exactly as the
csv module does) and whether bare CRs must be hidden, then the rows stream from a text stream.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

import pandas as pd

from engagement_lab.core.raw import RawFolder
from engagement_lab.ingestion.common import LATIN1_REPAIR, IngestionError, Issues, decode, fix_text, repair_records

# Stands in for a bare CR while the csv module splits rows: that module ends a record at any
# CR, so a CR inside an unquoted field (CrowdTangle's Message) would stop it or cut the row.
_BARE_CR = "\ue000"
_BARE_CR_BYTES = _BARE_CR.encode("utf-8")
_BARE_CR_RE = re.compile(r"\r(?!\n)")
_BOM = b"\xef\xbb\xbf"
MAX_HEADER_BYTES = 1 << 20  # a first line longer than this is not a plain header


def hide_bare_cr(text: str) -> tuple[str, bool]:
    """The text with each CR that is not part of a CRLF replaced by a placeholder, and whether any
    was. A file with no LF at all uses CR as its line ending (old Mac exports): left as it is."""
    if "\n" not in text or _BARE_CR in text or not _BARE_CR_RE.search(text):
        return text, False
    return _BARE_CR_RE.sub(_BARE_CR, text), True


CUT = "file ends inside a quoted field"


class CsvRow(NamedTuple):
    """One row of a CSV: the line it starts on and its fields. ``cut`` marks a line of the file's
    tail that an unterminated quote swallowed: ``fields`` is then that one line, not a record."""

    line: int
    fields: list[str]
    cut: bool = False


def ends_inside_quotes(text: str) -> bool:
    """Whether CSV text (one record) ends inside a quoted field, by the csv module's own rules
    (default dialect, not strict): a quote opens a field only at its start; "" inside is a quote."""
    start, quoted, closing = True, False, False  # at a field's start; in a quoted field; just saw its quote
    for char in text:
        if quoted and not closing:
            closing = char == '"'
        elif char == '"' and (start or closing):
            quoted, closing, start = True, False, False  # opens a field, or "" inside one
        else:
            quoted = closing = False
            start = char in ",\r\n"
    return quoted and not closing


def csv_rows(text: str, source: str, key: str) -> Iterator[CsvRow]:
    """The rows of a CSV, the header first, read with ``newline=""`` semantics: quoted fields keep
    their line breaks, a bare CR inside a field stays a CR; a UTF-8 byte-order mark is dropped.

    A file that ends inside a quoted field (cut short, or a quote never closed) has swallowed the
    rest of its lines into one field: that last record comes out as one ``cut`` row per line, so that
    each line can be counted and quarantined. A row the csv module cannot parse at all ends the read
    with an error naming the file and line."""
    text, hidden = hide_bare_cr(text.removeprefix("\ufeff"))
    return line_rows(io.StringIO(text, newline=""), hidden, source, key)


def line_rows(lines: Iterable[str], hidden: bool, source: str, key: str) -> Iterator[CsvRow]:
    """:func:`csv_rows` of a file given as its physical lines (bare CRs already hidden where ``hidden``)."""
    record_lines: list[str] = []
    lines_now: list[str] = []  # the physical lines of the record being read

    def remember(stream: Iterable[str]) -> Iterator[str]:
        for line in stream:
            lines_now.append(line)
            yield line

    reader = csv.reader(remember(lines))
    start, n, held = 1, 0, None  # the line a record starts on; rows so far; the last record, not yet given
    try:
        for fields in reader:
            if fields:  # a blank line is no record
                if held is not None:
                    yield held
                held = CsvRow(start, [v.replace(_BARE_CR, "\r") for v in fields] if hidden else fields)
                n += 1
                record_lines = lines_now[:]
            lines_now.clear()
            start = reader.line_num + 1
    except csv.Error as error:
        raise IngestionError(
            f"{source}: {key} record {n} (from line {start}) does not parse at line {reader.line_num}: {error}"
        ) from error
    if held is None:
        return
    if not ends_inside_quotes("".join(record_lines)):
        yield held
        return
    for i, line in enumerate(record_lines):
        if line.strip():
            yield CsvRow(held.line + i, [line.rstrip("\r\n").replace(_BARE_CR, "\r")], cut=True)


# ----------------------------------------------------------------------------- whole files


def read_csv(
    folder: RawFolder, key: str, issues: Issues, table: str, id_field: str, required: list[str]
) -> tuple[pd.DataFrame, int]:
    """A CSV as strings (nothing guessed), text repaired, required columns checked.

    Returns the frame and the number of records read: a row whose field count differs from the
    header's (often a line break in an unquoted field) is rejected, naming its line; so is each
    line of a tail swallowed by an unterminated quote (each counted as one record)."""
    rows = csv_rows(decode(folder[key]()), issues.source, key)
    header = csv_header(rows, issues, table, key, required)
    if header is None:  # an empty file: no records
        return pd.DataFrame(columns=required, dtype="string"), 0
    return next(record_batches(rows, header, issues, table, key, id_field))


def csv_header(rows: Iterator[CsvRow], issues: Issues, table: str, key: str, required: list[str]) -> list[str] | None:
    """The header row's names (repaired and logged where not UTF-8), taken from ``rows``; None for an
    empty file. A header that never ends, or lacks a required column, stops the read."""
    header_row = next(rows, CsvRow(0, []))
    if header_row.cut:
        raise IngestionError(f"{issues.source}: {key}: the header row never ends ({CUT}, from line 1)")
    if not header_row.fields:
        return None
    header = [fix_text(name) for name in header_row.fields]
    for name, raw in zip(header, header_row.fields, strict=True):
        if name != raw:
            issues.add(table, key, "line 1", "header", LATIN1_REPAIR, "repaired", name)
    missing = [c for c in required if c not in header]
    if missing:
        raise IngestionError(f"{issues.source}: {key} lacks columns {missing}; it has {header}")
    return header


def record_batches(
    rows: Iterator[CsvRow],
    header: list[str],
    issues: Issues,
    table: str,
    key: str,
    id_field: str,
    batch_rows: int | None = None,
) -> Iterator[tuple[pd.DataFrame, int]]:
    """Frames of strings of up to ``batch_rows`` records (all in one frame when None), each indexed by
    its records' positions in the file, with the number of rows read for it (rejected ones included).
    The last frame may be empty."""
    records: list[dict] = []
    first, n = 0, 0  # the first record of this batch; rows read for it
    for line, fields, cut in rows:
        n += 1
        if cut:
            issues.add(table, key, f"line {line}", "row", CUT, value=fix_text(fields[0][:200]))
        elif len(fields) == len(header):
            records.append(dict(zip(header, fields, strict=True)))
        else:
            reason = f"row has {len(fields)} fields, the header {len(header)} (a line break in an unquoted field?)"
            issues.add(table, key, f"line {line}", "row", reason, value=fix_text(",".join(fields)[:200]))
        if batch_rows is not None and len(records) == batch_rows:
            yield _records_frame(records, header, issues, table, key, id_field, first), n
            first, n, records = first + len(records), 0, []
    yield _records_frame(records, header, issues, table, key, id_field, first), n


def _records_frame(
    records: list[dict], header: list[str], issues: Issues, table: str, key: str, id_field: str, first: int
) -> pd.DataFrame:
    """Records as a frame of strings indexed from ``first``, their text repaired (and logged)."""
    repair_records(records, issues, table, key, id_field, first)
    frame = pd.DataFrame.from_records(records, columns=list(dict.fromkeys(header))).astype("string")
    if first:
        frame.index = pd.RangeIndex(first, first + len(frame))
    return frame


# ----------------------------------------------------------------------------- streams


@dataclass(frozen=True)
class CsvShape:
    """What one pass over a CSV's bytes tells: whether pyarrow splits its rows exactly as the csv module
    does (``plain``), with the header's names then; otherwise whether bare CRs must be hidden."""

    plain: bool
    hidden: bool
    header: list[str] | None = None


@dataclass
class _ByteScan:
    """Running facts about a byte stream, block by block."""

    utf8: bool = True
    lf: bool = False
    placeholder: bool = False
    quote: bool = False
    nul: bool = False
    blank: bool = False
    bare_cr: bool = False
    first_line: bytes | None = None


def scan_csv(stream: BinaryIO, block: int = 1 << 20) -> CsvShape:
    """Read a CSV's bytes once (``block`` at a time) and tell its :class:`CsvShape`."""
    facts, decoder = _ByteScan(), codecs.getincrementaldecoder("utf-8")()
    head, tail, cr = b"", b"\n", b""  # the start, for the header; the last bytes seen; a CR not yet judged
    while chunk := stream.read(block):
        if facts.utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                facts.utf8 = False
        window = tail + chunk
        facts.lf |= b"\n" in chunk
        facts.placeholder |= _BARE_CR_BYTES in window
        facts.quote |= b'"' in chunk
        facts.nul |= b"\x00" in chunk
        facts.blank |= b"\n\n" in window or b"\n\r\n" in window
        body = cr + chunk
        cr = b"\r" if body.endswith(b"\r") else b""
        body = body.removesuffix(cr)
        facts.bare_cr |= body.count(b"\r") > body.count(b"\r\n")
        tail = window[-2:]
        if facts.first_line is None:
            head += chunk
            if b"\n" in head or len(head) > MAX_HEADER_BYTES:
                facts.first_line = head.partition(b"\n")[0] if b"\n" in head else b""
                head = b""
    facts.bare_cr |= bool(cr)
    if facts.first_line is None:  # no line break at all: the first line is the whole file
        facts.first_line = head
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        facts.utf8 = False
    return _shape(facts)


def _shape(facts: _ByteScan) -> CsvShape:
    hidden = facts.lf and facts.bare_cr and not facts.placeholder
    odd = facts.quote or facts.nul or facts.blank or facts.bare_cr or not facts.utf8
    first = (facts.first_line or b"").removeprefix(_BOM).removesuffix(b"\r")
    header = first.decode("utf-8", "replace").split(",")
    plain = not odd and bool(first) and len(set(header)) == len(header)
    return CsvShape(plain, hidden, header if plain else None)


def stream_rows(stream: BinaryIO, shape: CsvShape, source: str, key: str) -> Iterator[CsvRow]:
    """:func:`csv_rows` of a binary stream, read a block at a time: decoded as UTF-8 (other bytes kept
    as surrogates, to be repaired), the byte-order mark dropped, bare CRs hidden where ``shape`` says."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    lines = _hidden_lines(text) if shape.hidden else iter(text)
    return line_rows(_without_bom(lines), shape.hidden, source, key)


def _without_bom(lines: Iterator[str]) -> Iterator[str]:
    first = next(lines, None)
    if first is not None:
        yield first.removeprefix("\ufeff")
        yield from lines


def _hidden_lines(text: io.TextIOBase, block: int = 1 << 20) -> Iterator[str]:
    """The lines of a text stream split at LF (and CRLF), each bare CR replaced by the placeholder."""
    rest = ""
    while chunk := text.read(block):
        chunk = rest + chunk
        rest = "\r" if chunk.endswith("\r") else ""  # its LF may open the next block
        lines = _BARE_CR_RE.sub(_BARE_CR, chunk.removesuffix(rest)).split("\n")
        rest = lines.pop() + rest
        yield from (line + "\n" for line in lines)
    if rest:
        yield _BARE_CR_RE.sub(_BARE_CR, rest)
