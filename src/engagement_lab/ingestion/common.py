"""What every adapter shares: the canonical schema, the issue log, and the checks.

An adapter turns one raw folder into canonical tables. Every raw record it meets
ends in a canonical table or in the issue log as ``rejected``; a value it fixes
(a sentinel read as missing, latin-1 bytes decoded) stays in its table and is
logged as ``repaired`` with the reason.

Every *file* under a raw folder is accounted for too, in the reconciliation's ``files`` line:
files = used (part of the source's layout: read, or counted as a record) + ignored (not part
of the layout: a quarantine row of table ``files`` with action ``ignored`` and the reason)
+ rejected (never read: a ``files`` quarantine row with action ``rejected``).

Symlinks (:func:`safe_folder`): a raw folder is read as the tree of files inside it, and
nothing outside it is ever read. A symlink whose target resolves outside the raw folder (the
raw folder itself may be a symlink: its real path is the boundary) is rejected, "symlink
points outside the raw folder: not read", as is a dangling one. A symlink to a file inside is
read as the file it points to, under the link's own name (like a copy). A symlink to a folder
inside is ignored: that folder's files are listed, and read, under their own names, so
following the link would read them twice.

Hostile values: a count that is not finite or over ``MAX_COUNT`` is read as missing with its
value logged; a time before ``EARLIEST`` or after the run's start is never a canonical time;
an image whose header claims more than ``MAX_IMAGE_PIXELS`` pixels is not decoded.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import re
import stat
import struct
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
from fsspec.implementations.local import LocalFileSystem
from PIL import Image

from engagement_lab.core.raw import RawFolder

COUNTS = [
    "views",
    "likes",
    "comments",
    "shares",
    "favorites",
    "coins",
    "barrage",
    "reaction_haha",
    "reaction_sorry",
    "reaction_angry",
    "reaction_wow",
    "reaction_love",
]
STR = "string"
TIME = "datetime64[ns, UTC]"
SCHEMA: dict[str, dict[str, str]] = {
    "posts": {
        "post_id": STR,
        "source": STR,
        "native_id": STR,
        "user_id": STR,
        "posted_at": TIME,
        "observed_at": TIME,
        "image_path": STR,
        "title": STR,
        "tags": "object",
        "caption": STR,
        "category": STR,
        "subcategory": STR,
        "concept": STR,
        **dict.fromkeys(COUNTS, "Int64"),
        "popularity_label": "Float64",
    },
    "users": {
        "user_id": STR,
        "source": STR,
        "native_id": STR,
        "username": STR,
        "followers": "Int64",
        "following": "Int64",
        "photo_count": "Int64",
        "is_pro": "boolean",
        "can_buy_pro": "boolean",
        "is_public": "boolean",
        "timezone_id": STR,
        "timezone_offset": "Int64",
        "photo_firstdate": TIME,
        "photo_firstdatetaken": TIME,
        "total_views": "Int64",
        "total_tags": "Int64",
        "total_geotagged": "Int64",
        "total_faves": "Int64",
        "total_in_group": "Int64",
        "user_description": "object",
        "location_description": "object",
    },
    "comments": {
        "comment_id": STR,
        "post_id": STR,
        "parent_id": STR,
        "source": STR,
        "created_at": TIME,
        "text": STR,
    },
    "images": {
        "post_id": STR,
        "source": STR,
        "path": STR,
        "width": "Int64",
        "height": "Int64",
        "sha1": STR,
        "decodable": "boolean",
    },
    "interactions": {"post_id": STR, "user_id": STR, "source": STR, "timestamp": TIME},
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")  # what counts as an image record, read and counted alike
# No count of anything social reaches 10^15 (views of the most viewed video ever are ~10^10); a larger
# value is corrupt, and one over 2^63 would wrap to the smallest 64-bit integer.
MAX_COUNT = 1e15
# Nothing was posted on the platforms the adapters read before 1990: an earlier time is a placeholder
# (0, a camera's unset clock) or corrupt.
EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")
TIME_OUT_OF_RANGE = "time out of range: before 1990-01-01 or in the future"
# PIL's own limit (its DecompressionBombWarning): ~89 M pixels, 268 MB decoded as RGB. An image whose header
# claims more is not decoded (parameter ``max_image_pixels``).
MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS
IMAGE_TOO_LARGE = "image too large to decode (a decompression bomb?)"
ISSUE_COLUMNS = ["source", "table", "file", "record", "field", "reason", "action", "value"]
_LATIN1 = "engagement_lab_latin1_fallback"
LATIN1_REPAIR = "non-UTF-8 bytes decoded as latin-1"
_SURROGATE = re.compile("[\udc80-\udcff]")


def _latin1_fallback(error: UnicodeDecodeError) -> tuple[str, int]:
    """Decode each byte that is not UTF-8 as latin-1 (where such bytes usually come from)."""
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_LATIN1, _latin1_fallback)


class IngestionError(ValueError):
    """Raised in strict mode, or when a source cannot be read at all; names file, record, field."""


@dataclass
class Issues:
    """The issue log of one source: rows for the quarantine table.

    Rows are gathered column by column and moved to Arrow every ``chunk`` rows: a source can log a
    row per record (SMPD's metadata-only export logs every post's missing image), and a Python dict
    per row would cost several times the row's own text; :meth:`frame` then copies nothing."""

    source: str
    chunk: int = 50_000
    pending: dict[str, list] = field(default_factory=lambda: {name: [] for name in ISSUE_COLUMNS})
    parts: dict[str, list[pa.Array]] = field(default_factory=lambda: {name: [] for name in ISSUE_COLUMNS})

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts["source"]) + len(self.pending["source"])

    def add(
        self,
        table: str,
        file: str,
        record: str,
        field_: str,
        reason: str,
        action: str = "rejected",
        value: object = None,
    ) -> None:
        value = None if value is None else str(value)
        texts = (file, record, field_, reason, value)
        # Names and values come from hostile files: bytes that are not UTF-8 cannot enter a string column.
        ascii_only = file.isascii() and record.isascii() and field_.isascii() and reason.isascii()
        if not (ascii_only and (value is None or value.isascii())):
            file, record, field_, reason, value = (t if t is None else _printable(t) for t in texts)
        row = (self.source, table, file, record, field_, reason, action, value)
        for column, text in zip(self.pending.values(), row, strict=True):
            column.append(text)
        if len(self.pending["source"]) >= self.chunk:
            self._flush()

    def add_many(
        self,
        table: str,
        file: str,
        records: pd.Series,
        field_: str,
        reason: str,
        action: str = "rejected",
        values: pd.Series | None = None,
    ) -> None:
        values = values if values is not None else pd.Series([None] * len(records), index=records.index)
        for record, value in zip(records, values, strict=True):
            self.add(table, file, str(record), field_, reason, action, value)

    def add_frame(self, frame: pd.DataFrame) -> None:
        """Append the rows of an issue frame (this source's, as :meth:`frame` gives them)."""
        self._flush()
        for name, parts in self.parts.items():
            parts.append(pa.array(frame[name].array, pa.large_string()))

    def extend(self, other: Issues) -> None:
        """Append ``other``'s rows after this log's."""
        self._flush()
        other._flush()
        for name, parts in self.parts.items():
            parts.extend(other.parts[name])

    def _flush(self) -> None:
        for name, column in self.pending.items():
            self.parts[name].append(pa.array(column, pa.large_string()))
            column.clear()

    def frame(self) -> pd.DataFrame:
        self._flush()
        return pd.DataFrame(
            {
                name: pd.array(pa.chunked_array(parts, pa.large_string()), dtype="string")
                for name, parts in self.parts.items()
            },
            columns=ISSUE_COLUMNS,
        )


@dataclass
class Ingested:
    """One source's canonical tables and issues, with the reconciliation of its raw records:
    per table, ``records_in[t] == records_kept[t] + rejected issues of t``; and of its files, in
    ``records_in["files"]`` (every file under the folder) and ``records_kept["files"]`` (those used):
    files = used + rejected + ignored issues of table ``files``.

    ``errors`` holds what stopped the reader (one line each, naming file and record), so that
    the combine step can report every source's errors at once; ``read`` is False for a source
    that was not selected or, with ``sources: auto``, has no raw folder; ``root`` is the raw
    folder read or looked at."""

    source: str
    tables: dict[str, pd.DataFrame]
    issues: pd.DataFrame
    records_in: dict[str, int]
    records_kept: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    read: bool = True
    root: str = ""

    def __post_init__(self) -> None:
        # By default a table's canonical rows are its kept records.
        for table in self.records_in:
            if table not in self.records_kept:
                self.records_kept[table] = len(self.tables[table])


def _printable(text: str) -> str:
    """``text`` with any byte that was not UTF-8 (a lone surrogate) decoded as latin-1."""
    return fix_text(text) if _SURROGATE.search(text) else text


def decode(data: bytes) -> str:
    """UTF-8 text; bytes that are not UTF-8 stay as lone surrogates, to be found and repaired."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="surrogateescape")


def is_utf8(stream, block: int = 1 << 20) -> bool:
    """Whether a binary stream is valid UTF-8, read a block at a time (memory stays flat)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := stream.read(block):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def fix_text(value: str) -> str:
    """Decode the non-UTF-8 bytes of a string as latin-1, where such bytes usually come from."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", _LATIN1)


def repair_records(
    rows: list[dict], issues: Issues, table: str, file: str, id_field: str, first: int = 0
) -> list[dict]:
    """Repair, in place, every string field that holds non-UTF-8 bytes; log each repair (rows are
    numbered from ``first``)."""
    for i, row in enumerate(rows, start=first):
        for key, value in row.items():
            if isinstance(value, str) and _SURROGATE.search(value):
                row[key] = fix_text(value)
                record = f"row {i} {id_field}={row.get(id_field)}"
                issues.add(table, file, record, key, LATIN1_REPAIR, "repaired", row[key])
    return rows


def read_text_file(data: bytes, issues: Issues, table: str, key: str, record: str, field_: str) -> str:
    """A whole small text file (a caption), repaired and logged if it is not UTF-8."""
    text = decode(data)
    if _SURROGATE.search(text):
        text = fix_text(text)
        issues.add(table, key, record, field_, LATIN1_REPAIR, "repaired", text)
    return text


SENTINELS = {"", "None", "none", "NaN", "nan", "NULL", "null", "\n"}
SENTINEL_READ = "sentinel read as missing"
VALUE_MISSING = "value missing"
NOT_A_NUMBER = "not a number, read as missing"
NEGATIVE_COUNT = "negative count, read as missing"
COUNT_OUT_OF_RANGE = f"count out of range (not finite or over {MAX_COUNT:.0e}), read as missing"
FRACTIONAL_COUNT = "fractional count rounded"
# What parse_numbers logs, in the order it logs it.
PARSE_REASONS = (SENTINEL_READ, VALUE_MISSING, NOT_A_NUMBER, NEGATIVE_COUNT, COUNT_OUT_OF_RANGE, FRACTIONAL_COUNT)


def parse_numbers(
    values: pd.Series,
    records: pd.Series,
    issues: Issues,
    table: str,
    file: str,
    field_: str,
    *,
    integer: bool = True,
    non_negative: bool = True,
) -> pd.Series:
    """Numbers that arrive as text ('123', '123.0', 'None', '', 'NaN'): sentinels become missing
    (logged), negative counts become missing (logged), anything else unparseable is logged.

    An integer that is not finite or beyond ``MAX_COUNT`` is read as missing and logged with its
    value (cast as it is, it would wrap). Non-integers are left as they are: the caller says what
    a non-finite value means."""
    text = values.astype("string").str.strip()
    sentinel = text.isna() | text.isin(SENTINELS)
    number = pd.Series(pd.to_numeric(text.mask(sentinel), errors="coerce"), index=text.index).astype("float64")
    garbage = number.isna() & ~sentinel
    blank = text.isna() | (text == "")
    if (sentinel & ~blank).any():
        named = sentinel & ~blank
        issues.add_many(table, file, records[named], field_, SENTINEL_READ, "repaired", values[named])
    if blank.any():
        issues.add_many(table, file, records[blank], field_, VALUE_MISSING, "repaired")
    if garbage.any():
        issues.add_many(table, file, records[garbage], field_, NOT_A_NUMBER, "repaired", values[garbage])
    if non_negative:
        negative = number < 0
        if negative.any():
            issues.add_many(table, file, records[negative], field_, NEGATIVE_COUNT, "repaired", values[negative])
            number = number.mask(negative)
    if integer:
        huge = number.notna() & ~(number.abs() <= MAX_COUNT)
        if huge.any():
            issues.add_many(table, file, records[huge], field_, COUNT_OUT_OF_RANGE, "repaired", values[huge])
            number = number.mask(huge)
        fractional = number.notna() & (number != np.floor(number.fillna(0)))
        if fractional.any():
            issues.add_many(table, file, records[fractional], field_, FRACTIONAL_COUNT, "repaired", values[fractional])
        return number.round().astype("Int64")
    return number.astype("Float64")


def release_free_memory() -> None:
    """Hand the memory Arrow's allocator holds but no longer uses back to the system.

    Arrow keeps freed blocks for reuse; after a large temporary (a parsed file's chunks) that memory
    would otherwise stay in the process while pandas and Python objects, which cannot use it, grow."""
    pa.default_memory_pool().release_unused()


def run_start() -> pd.Timestamp:
    """The latest time a raw record can hold: now (a post is never from the future)."""
    return pd.Timestamp.now(tz="UTC")


def seconds_out_of_range(seconds: pd.Series) -> pd.Series:
    """Which unix times (numbers, missing allowed) fall before ``EARLIEST`` or after now."""
    low, high = EARLIEST.timestamp(), run_start().timestamp()
    return seconds.notna() & ~seconds.between(low, high)


def times_out_of_range(times: pd.Series) -> pd.Series:
    """Which UTC times (missing allowed) fall before ``EARLIEST`` or after now."""
    return times.notna() & ((times < EARLIEST) | (times > run_start()))


def unix_times(
    seconds: pd.Series,
    records: pd.Series,
    issues: Issues,
    table: str,
    file: str,
    field_: str,
    action: str = "repaired",
) -> pd.Series:
    """Unix seconds → UTC times; one out of range is missing and logged with ``action`` and its value.

    Checked before conversion, so that no value can overflow pandas' nanosecond range."""
    seconds = pd.Series(seconds, index=records.index).astype("float64")
    bad = seconds_out_of_range(seconds)
    if bad.any():
        issues.add_many(table, file, records[bad], field_, TIME_OUT_OF_RANGE, action, seconds[bad])
    return pd.to_datetime(seconds.mask(bad), unit="s", utc=True)


def reject_duplicates(
    frame: pd.DataFrame, key: str, records: pd.Series, issues: Issues, table: str, file: str
) -> pd.DataFrame:
    """Keep the first record of each id; later ones are rejected as duplicates."""
    duplicate = frame[key].duplicated(keep="first")
    if not duplicate.any():
        return frame  # no copy of a large frame to drop nothing
    issues.add_many(table, file, records[duplicate], key, f"duplicate {key}: first record kept")
    return frame[~duplicate]


class ImageProblem(Exception):
    """Why image bytes cannot be used: ``reason`` for the quarantine, ``value`` the detail."""

    def __init__(self, reason: str, value: str) -> None:
        super().__init__(f"{reason}: {value}")
        self.reason, self.value = reason, value


# What PIL raises on hostile bytes besides OSError (truncated data, bad headers, broken tables).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)


def image_size(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """Width and height of an image decoded fully; raises :class:`ImageProblem`.

    The pixel count is checked from the header before decoding, so a tiny file that claims a
    huge image (a decompression bomb) costs no memory."""
    too_large = None
    try:
        with warnings.catch_warnings():
            # Checked below against max_pixels: PIL's warning adds nothing.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    too_large = f"{width}x{height} ({width * height} pixels)"
                else:
                    image.load()
    except Image.DecompressionBombError as error:  # over twice PIL's limit: PIL refuses at open(), size unsaid
        claimed = re.search(r"\((\d+ pixels)\)", str(error))
        too_large = claimed[1] if claimed else str(error)
    except _DECODE_ERRORS as error:
        raise ImageProblem("image does not decode", str(error)) from error
    if too_large:
        raise ImageProblem(IMAGE_TOO_LARGE, too_large)
    return width, height


def inspect_images(
    refs: pd.DataFrame, folder: RawFolder, issues: Issues, min_side: int, max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[pd.DataFrame, pd.Series]:
    """Decode every referenced image fully.

    ``refs`` holds post_id and key (the image's path inside the folder). Returns the
    ``images`` table (decodable images) and each post's image path (missing where there is
    no usable image). Corrupt, too small, too large and unreferenced image files are rejected; a
    post whose image file is absent keeps its row with no image, logged as repaired. Every image
    file of the folder is an image record (see :func:`count_image_files`).
    """
    rows, image_path = [], pd.Series(pd.NA, index=refs.index, dtype="string")
    for idx, post_id, key in zip(refs.index, refs["post_id"], refs["key"], strict=True):
        if pd.isna(key) or key not in folder:
            reason = "image file missing: post kept without image"
            issues.add("posts", str(key), str(post_id), "image", reason, "repaired")
            continue
        data = folder[key]()
        try:
            width, height = image_size(data, max_pixels)
        except ImageProblem as problem:
            issues.add("images", key, str(post_id), "image", problem.reason, value=problem.value)
            continue
        if min(width, height) < min_side:
            reason = f"image smaller than {min_side} px"
            issues.add("images", key, str(post_id), "image", reason, value=f"{width}x{height}")
            continue
        sha1 = hashlib.sha1(data).hexdigest()
        path = folder.path(key)
        rows.append(
            dict(
                post_id=post_id, source=issues.source, path=path, width=width, height=height, sha1=sha1, decodable=True
            )
        )
        image_path[idx] = path
    referenced = set(refs["key"].dropna())
    for key in sorted(k for k in image_keys(folder) if k not in referenced):
        issues.add("images", key, key, "image", "image file belongs to no post")
    return conform(pd.DataFrame(rows), "images"), image_path


def image_keys(folder: RawFolder) -> list[str]:
    """The image files of a folder, wherever they are: each is an image record."""
    return [k for k in folder if k.lower().endswith(IMAGE_SUFFIXES)]


def count_image_files(folder: RawFolder) -> int:
    """Image records in the folder: the reconciliation's count in (as :func:`inspect_images` sees them)."""
    return len(image_keys(folder))


# ----------------------------------------------------------------------------- files


OUTSIDE = "symlink points outside the raw folder: not read"
DANGLING = "symlink target does not exist"


def _local_root(root: str) -> str | None:
    """The real path of a raw folder on the local disk; None for another filesystem (no symlinks)."""
    fs, path = fsspec.core.url_to_fs(root)
    return os.path.realpath(path) if isinstance(fs, LocalFileSystem) else None


def _link_verdict(path: str, real_root: str) -> tuple[str, str, str | None] | None:
    """Whether the entry at ``path`` may be read: None if it may, else (action, reason, value)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:  # a folder given in memory (tests, predict's CSV rows): nothing on disk to check
        return None
    if stat.S_ISREG(mode):
        return None
    if not stat.S_ISLNK(mode):
        return "rejected", "not a regular file: not read", stat.filemode(mode)
    return _symlink_verdict(path, real_root)


def _symlink_verdict(path: str, real_root: str) -> tuple[str, str, str | None] | None:
    """Where a symlink may lead: to a file inside the raw folder (None: read it), nowhere else."""
    target = os.path.realpath(path)
    if os.path.commonpath([target, real_root]) != real_root:
        return "rejected", OUTSIDE, os.readlink(path)
    if not os.path.exists(target):
        return "rejected", DANGLING, os.readlink(path)
    if os.path.isdir(target):
        inside = os.path.relpath(target, real_root)
        return "ignored", f"symlink to the folder {inside}: its files are read there, under their own names", None
    return None


def safe_folder(folder: RawFolder, issues: Issues) -> RawFolder:
    """The files of ``folder`` that may be read (see the module's symlink rules); each other one is
    logged in the ``files`` table, rejected or ignored, with the reason."""
    real_root = _local_root(folder.root)
    if real_root is None:
        return folder
    keep = {}
    for key, loader in folder.items():
        verdict = _link_verdict(os.path.join(real_root, key), real_root)
        if verdict is None:
            keep[key] = loader
        else:
            action, reason, value = verdict
            issues.add("files", key, key, "file", reason, action, value)
    return RawFolder(folder.root, keep)


def account_files(folder: RawFolder, readable: RawFolder, used: Iterable[str], issues: Issues) -> tuple[int, int]:
    """Log each readable file the reader did not use as ignored ("not part of the <source> layout").

    Returns the files under the folder and the files used: the reconciliation's ``files`` line."""
    used = set(used)
    for key in sorted(set(readable) - used):
        issues.add("files", key, key, "file", f"not part of the {issues.source} layout", "ignored")
    return len(folder), len(used & set(readable))


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """The canonical columns of ``table`` in order and type; absent columns are all missing."""
    schema = SCHEMA[table]
    out = pd.DataFrame(index=frame.index)
    for column, dtype in schema.items():
        if column in frame:
            out[column] = frame[column]
        else:
            out[column] = pd.Series(pd.NA if dtype != "object" else None, index=frame.index, dtype="object")
        if dtype == TIME:
            out[column] = pd.to_datetime(out[column], utc=True)
        elif dtype == "object":
            # Lists stay Python objects: pandas 3 may infer Arrow list columns from .map, and
            # those do not read back from parquet with this pyarrow.
            out[column] = out[column].astype(object)
        else:
            out[column] = out[column].astype(dtype)
    return out.reset_index(drop=True)


def empty(table: str) -> pd.DataFrame:
    return conform(pd.DataFrame(), table)


def list_column(values, split, index) -> pd.Series:
    """A column of Python lists (``split`` of each string; [] where missing), typed object.

    Built directly: ``Series.map`` would give an Arrow list column first, then a costly copy. Equal
    strings are one object (tags repeat across posts: one copy of each, not one per post)."""
    shared: dict[str, str] = {}
    return pd.Series(
        [_shared(split(v), shared) if isinstance(v, str) else [] for v in values], index=index, dtype=object
    )


def _shared(items: list[str], shared: dict[str, str]) -> list[str]:
    """``items`` (in place) with each string replaced by the first equal one seen in ``shared``."""
    for i, item in enumerate(items):
        items[i] = shared.setdefault(item, item)
    return items


# PixelRec's tag strings separate tags by commas (full-width ones too, U+FF0C) or spaces;
# SMPD's Alltags stays a plain whitespace split (str.split), as published.
TAG_SEPARATORS = re.compile(r"[\s,\uff0c]+")


def split_tags(text: str) -> list[str]:
    """The tags of one tag string, split on whitespace and commas; empty pieces dropped."""
    return [tag for tag in TAG_SEPARATORS.split(text) if tag]


def source_id(source: str, native: pd.Series) -> pd.Series:
    """Canonical ids are '<source>:<native id>', so sources can be combined without clashes."""
    return (source + ":" + native.astype("string")).astype("string")
