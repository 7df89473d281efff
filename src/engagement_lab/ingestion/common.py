"""What every adapter shares: the canonical schema, the issue log, and the checks.

An adapter turns one raw folder into canonical tables. Every raw record it meets
ends in a canonical table or in the issue log as ``rejected``; a value it fixes
(a sentinel read as missing, latin-1 bytes decoded) stays in its table and is
logged as ``repaired`` with the reason.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from engagement_lab.datasets import RawFolder

COUNTS = [
    "views", "likes", "comments", "shares", "favorites", "coins", "barrage",
    "reaction_haha", "reaction_sorry", "reaction_angry", "reaction_wow", "reaction_love",
]  # fmt: skip
STR = "string"
TIME = "datetime64[ns, UTC]"
SCHEMA: dict[str, dict[str, str]] = {
    "posts": {
        "post_id": STR, "source": STR, "native_id": STR, "user_id": STR, "posted_at": TIME,
        "observed_at": TIME, "image_path": STR, "title": STR, "tags": "object", "caption": STR,
        "category": STR, "subcategory": STR, "concept": STR, **dict.fromkeys(COUNTS, "Int64"),
        "popularity_label": "Float64",
    },
    "users": {
        "user_id": STR, "source": STR, "native_id": STR, "username": STR, "followers": "Int64",
        "following": "Int64", "photo_count": "Int64", "is_pro": "boolean", "can_buy_pro": "boolean",
        "is_public": "boolean", "timezone_id": STR, "timezone_offset": "Int64", "photo_firstdate": TIME,
        "photo_firstdatetaken": TIME, "total_views": "Int64", "total_tags": "Int64",
        "total_geotagged": "Int64", "total_faves": "Int64", "total_in_group": "Int64",
        "user_description": "object", "location_description": "object",
    },
    "comments": {
        "comment_id": STR, "post_id": STR, "parent_id": STR, "source": STR, "created_at": TIME, "text": STR,
    },
    "images": {
        "post_id": STR, "source": STR, "path": STR, "width": "Int64", "height": "Int64", "sha1": STR,
        "decodable": "boolean",
    },
    "interactions": {"post_id": STR, "user_id": STR, "source": STR, "timestamp": TIME},
}  # fmt: skip
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")  # what counts as an image record, read and counted alike
ISSUE_COLUMNS = ["source", "table", "file", "record", "field", "reason", "action", "value"]
_LATIN1 = "engagement_lab_latin1_fallback"
_SURROGATE = re.compile("[\udc80-\udcff]")


def _latin1_fallback(error: UnicodeDecodeError) -> tuple[str, int]:
    """Decode each byte that is not UTF-8 as latin-1 (where such bytes usually come from)."""
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_LATIN1, _latin1_fallback)


class IngestionError(ValueError):
    """Raised in strict mode, or when a source cannot be read at all; names file, record, field."""


@dataclass
class Issues:
    """The issue log of one source: rows for the quarantine table."""

    source: str
    rows: list[dict] = field(default_factory=list)

    def add(self, table: str, file: str, record: str, field_: str, reason: str, action: str = "rejected",
            value: object = None) -> None:  # fmt: skip
        self.rows.append(dict(source=self.source, table=table, file=file, record=record, field=field_,
                              reason=reason, action=action, value=None if value is None else str(value)))  # fmt: skip

    def add_many(self, table: str, file: str, records: pd.Series, field_: str, reason: str,
                 action: str = "rejected", values: pd.Series | None = None) -> None:  # fmt: skip
        values = values if values is not None else pd.Series([None] * len(records), index=records.index)
        for record, value in zip(records, values, strict=True):
            self.add(table, file, str(record), field_, reason, action, value)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=ISSUE_COLUMNS).astype("string")


@dataclass
class Ingested:
    """One source's canonical tables and issues, with the reconciliation of its raw records:
    per table, ``records_in[t] == records_kept[t] + rejected issues of t``.

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
            self.records_kept.setdefault(table, len(self.tables[table]))


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


def repair_records(rows: list[dict], issues: Issues, table: str, file: str, id_field: str) -> list[dict]:
    """Repair, in place, every string field that holds non-UTF-8 bytes; log each repair."""
    for i, row in enumerate(rows):
        for key, value in row.items():
            if isinstance(value, str) and _SURROGATE.search(value):
                row[key] = fix_text(value)
                issues.add(table, file, f"row {i} {id_field}={row.get(id_field)}", key,
                           "non-UTF-8 bytes decoded as latin-1", "repaired", row[key])  # fmt: skip
    return rows


def read_text_file(data: bytes, issues: Issues, table: str, key: str, record: str, field_: str) -> str:
    """A whole small text file (a caption), repaired and logged if it is not UTF-8."""
    text = decode(data)
    if _SURROGATE.search(text):
        text = fix_text(text)
        issues.add(table, key, record, field_, "non-UTF-8 bytes decoded as latin-1", "repaired", text)
    return text


SENTINELS = {"", "None", "none", "NaN", "nan", "NULL", "null", "\n"}


def parse_numbers(values: pd.Series, records: pd.Series, issues: Issues, table: str, file: str, field_: str,
                  *, integer: bool = True, non_negative: bool = True) -> pd.Series:  # fmt: skip
    """Numbers that arrive as text ('123', '123.0', 'None', '', 'NaN'): sentinels become missing
    (logged), negative counts become missing (logged), anything else unparseable is logged."""
    text = values.astype("string").str.strip()
    sentinel = text.isna() | text.isin(SENTINELS)
    number = pd.to_numeric(text.mask(sentinel), errors="coerce")
    garbage = number.isna() & ~sentinel
    blank = text.isna() | (text == "")
    if (sentinel & ~blank).any():
        named = sentinel & ~blank
        issues.add_many(table, file, records[named], field_, "sentinel read as missing", "repaired", values[named])
    if blank.any():
        issues.add_many(table, file, records[blank], field_, "value missing", "repaired")
    if garbage.any():
        issues.add_many(
            table, file, records[garbage], field_, "not a number, read as missing", "repaired", values[garbage]
        )
    if non_negative:
        negative = number < 0
        if negative.any():
            issues.add_many(table, file, records[negative], field_, "negative count, read as missing", "repaired",
                            values[negative])  # fmt: skip
            number = number.mask(negative)
    if integer:
        fractional = number.notna() & (number != np.floor(number.fillna(0)))
        if fractional.any():
            issues.add_many(table, file, records[fractional], field_, "fractional count rounded", "repaired",
                            values[fractional])  # fmt: skip
        return number.round().astype("Int64")
    return number.astype("Float64")


def reject_duplicates(frame: pd.DataFrame, key: str, records: pd.Series, issues: Issues, table: str,
                      file: str) -> pd.DataFrame:  # fmt: skip
    """Keep the first record of each id; later ones are rejected as duplicates."""
    duplicate = frame[key].duplicated(keep="first")
    if duplicate.any():
        issues.add_many(table, file, records[duplicate], key, f"duplicate {key}: first record kept")
    return frame[~duplicate]


def inspect_images(refs: pd.DataFrame, folder: RawFolder, issues: Issues,
                   min_side: int) -> tuple[pd.DataFrame, pd.Series]:  # fmt: skip
    """Decode every referenced image fully.

    ``refs`` holds post_id and key (the image's path inside the folder). Returns the
    ``images`` table (decodable images) and each post's image path (missing where there is
    no usable image). Corrupt, too small and unreferenced image files are rejected; a post
    whose image file is absent keeps its row with no image, logged as repaired.
    """
    rows, image_path = [], pd.Series(pd.NA, index=refs.index, dtype="string")
    for idx, post_id, key in zip(refs.index, refs["post_id"], refs["key"], strict=True):
        if pd.isna(key) or key not in folder:
            issues.add("posts", str(key), str(post_id), "image", "image file missing: post kept without image",
                       "repaired")  # fmt: skip
            continue
        data = folder[key]()
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                width, height = image.size
        except (OSError, UnidentifiedImageError, SyntaxError) as error:
            issues.add("images", key, str(post_id), "image", "image does not decode", value=error)
            continue
        if min(width, height) < min_side:
            issues.add(
                "images", key, str(post_id), "image", f"image smaller than {min_side} px", value=f"{width}x{height}"
            )
            continue
        rows.append(dict(post_id=post_id, source=issues.source, path=folder.path(key), width=width, height=height,
                         sha1=hashlib.sha1(data).hexdigest(), decodable=True))  # fmt: skip
        image_path[idx] = folder.path(key)
    referenced = set(refs["key"].dropna())
    for key in sorted(k for k in folder if k.lower().endswith(IMAGE_SUFFIXES) and k not in referenced):
        issues.add("images", key, key, "image", "image file belongs to no post")
    return conform(pd.DataFrame(rows), "images"), image_path


def count_image_files(folder: RawFolder, prefix: str = "") -> int:
    """Image records in the folder (under ``prefix``): the reconciliation's count in."""
    return sum(1 for k in folder if k.startswith(prefix) and k.lower().endswith(IMAGE_SUFFIXES))


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

    Built directly: ``Series.map`` would give an Arrow list column first, then a costly copy."""
    return pd.Series([split(v) if isinstance(v, str) else [] for v in values], index=index, dtype=object)


# PixelRec's tag strings separate tags by commas (full-width ones too, U+FF0C) or spaces;
# SMPD's Alltags stays a plain whitespace split (str.split), as published.
TAG_SEPARATORS = re.compile(r"[\s,\uff0c]+")


def split_tags(text: str) -> list[str]:
    """The tags of one tag string, split on whitespace and commas; empty pieces dropped."""
    return [tag for tag in TAG_SEPARATORS.split(text) if tag]


def source_id(source: str, native: pd.Series) -> pd.Series:
    """Canonical ids are '<source>:<native id>', so sources can be combined without clashes."""
    return (source + ":" + native.astype("string")).astype("string")
