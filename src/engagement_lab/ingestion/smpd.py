"""SMPD (Flickr, SMP Challenge 2019-2023 and the 2020 names) → canonical tables.

Post files are JSON arrays aligned by row index; numbers arrive as strings; user data
is per post, row- or column-oriented; ``user_additional.txt`` adds profile counts.

Alignment: the files are joined by row, but every post file's records carry ``Pid`` and
``Uid`` and the image list names ``<Uid>/<Pid>.jpg``. A row where an aligned file disagrees
with ``train_category.json`` on either id (rows swapped, a file shifted) is rejected, naming
the file and both ids: its fields would land on another post. Where a file lacks an id, it
cannot be checked and is trusted. The label file carries no id: only its length is checked.
A file of another length than ``train_category.json`` stops the read (which rows are aligned
cannot be told). A shifted file makes every row after the shift disagree, so the loss stops
the run loudly (``max_rejected_share``) with the reason.
"""

from __future__ import annotations

import io
import json
import logging
import re

import ijson
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engagement_lab.core.raw import RawFolder
from engagement_lab.ingestion.common import (
    LATIN1_REPAIR,
    MAX_IMAGE_PIXELS,
    TIME_OUT_OF_RANGE,
    Ingested,
    IngestionError,
    Issues,
    account_files,
    conform,
    count_image_files,
    decode,
    empty,
    fix_text,
    image_keys,
    inspect_images,
    is_utf8,
    list_column,
    parse_numbers,
    reject_duplicates,
    release_free_memory,
    repair_records,
    safe_folder,
    seconds_out_of_range,
    source_id,
    unix_times,
)

logger = logging.getLogger(__name__)
ROOTS = ("train_allmetadata_json", "train_all_json")
# As distributed, these sit at the folder's root or inside the metadata folder; the image
# list has two published names.
LABEL_NAMES = ("train_label.txt",)
IMAGE_LIST_NAMES = ("train_img_filepath.txt", "train_img_path.txt")
REFERENCE = "train_category.json"  # the file the others are aligned with
POST_FILES = (
    REFERENCE,
    "train_text.json",
    "train_temporalspatial_information.json",
    "train_additional_information.json",
    "train_user_data.json",
)
USER_ADDITIONAL = {
    "totalViews": "total_views",
    "totalTags": "total_tags",
    "totalGeotagged": "total_geotagged",
    "totalFaves": "total_faves",
    "totalInGroup": "total_in_group",
    "photoCount": "photo_count_all",
    "followerCount": "followers",
    "followingCount": "following",
}
USER_FIELDS = ["Pid", "Uid", "photo_firstdate", "photo_firstdatetaken", "photo_count", "ispro", "canbuypro"]
USER_FIELDS += ["timezone_offset", "timezone_timezone_id", "user_description", "location_description"]
# The columns read from each post file (with Pid and Uid, for the alignment check); the others are checked, not kept.
KEEP = {
    name: frozenset({"Pid", "Uid", *columns})
    for name, columns in {
        REFERENCE: ["Category", "Subcategory", "Concept"],
        "train_text.json": ["Title", "Alltags"],
        "train_temporalspatial_information.json": ["Postdate"],
        "train_additional_information.json": ["Pathalias"],
        "train_user_data.json": USER_FIELDS,
    }.items()
}
# The ids each aligned file keeps after its alignment check: the user data's Pid names its quarantine records.
KEEP_AFTER_CHECK = {name: frozenset({"Pid"} if name == "train_user_data.json" else ()) for name in POST_FILES}
# A column that marks an array element that is not a JSON object (its type name): its row is rejected.
NOT_AN_OBJECT = "\0not_an_object"
IMAGE_PATH_IDS = re.compile(r"(?:^|/)(?P<Uid>[^/]+)/(?P<Pid>[^/]+)\.\w+$")  # train/<Uid>/<Pid>.jpg


def _table_of(key: str) -> str:
    return "users" if "user_data" in key else "posts"


def _column_records(columns: object, key: str) -> list:
    """A column-oriented object ``{"col": {"0": v, ...}}`` as a list of records."""
    try:
        rows = sorted({int(i) for values in columns.values() for i in values})
        return [{name: values.get(str(i)) for name, values in columns.items()} for i in rows]
    except (AttributeError, TypeError, ValueError) as error:
        raise IngestionError(f"smpd: {key} is neither an array of records nor an object of columns") from error


def _json_table(folder: RawFolder, key: str, issues: Issues, keep: frozenset[str]) -> pd.DataFrame:
    """A JSON array of records, or a column-oriented object, as a frame of strings: the columns
    named in ``keep`` (those present), one row per record.

    Streamed (ijson): the records are never all in memory as Python dicts, only the
    columns being built, so memory grows with the table kept, not with the JSON text. Columns
    outside ``keep`` are checked as they stream by (every check below covers them) but not
    kept. An element that is not an object gets ``NOT_AN_OBJECT``; a value that is an object or
    an array is read as missing (logged)."""
    with folder.open(key) as stream:
        clean = is_utf8(stream)
    data = None
    if not clean:  # rare: repair field by field on the parsed records, then stream those
        try:
            records = json.loads(decode(folder[key]()))
        except (json.JSONDecodeError, RecursionError) as error:
            raise IngestionError(f"smpd: {key} is not valid JSON ({error})") from error
        if isinstance(records, dict):
            records = _column_records(records, key)
        if isinstance(records, list):
            objects = [r for r in records if isinstance(r, dict)]
            repair_records(objects, issues, _table_of(key), key, "Pid")
        # Keys and bare array elements are not repaired above: decode what is left as latin-1 too.
        data = fix_text(json.dumps(records, ensure_ascii=False)).encode("utf-8")

    def source():
        return io.BytesIO(data) if data is not None else folder.open(key)

    nested: list[tuple[int, str, str]] = []
    try:
        with source() as stream:
            first = next(ijson.parse(stream), ("", "end"))[1]
        with source() as stream:
            if first == "start_map":  # column-oriented: {"col": {"0": v, ...}}
                columns, n = _stream_columns(ijson.parse(stream), key, nested, keep)
            else:
                columns, n = _stream_records(ijson.items(stream, "item"), nested, keep)
    except ijson.JSONError as error:
        raise IngestionError(f"smpd: {key} is not valid JSON ({error})") from error
    for row, name, text in nested:
        reason = "value is an object or an array, not text or a number: read as missing"
        issues.add(_table_of(key), key, f"row {row}", name, reason, "repaired", text)
    return pd.DataFrame(columns, index=pd.RangeIndex(n))


def _scalar_text(value: object, row: int, name: str, nested: list) -> str | None:
    """A JSON value as the text SMPD writes; an object or array is noted in ``nested`` and missing."""
    if isinstance(value, dict | list):
        nested.append((row, name, json.dumps(value, default=str)[:200]))
        return None
    return str(value)


def _stream_records(
    records, nested: list, keep: frozenset[str], chunk: int = 10_000
) -> tuple[dict[str, pd.Series], int]:
    """Columns of strings from a stream of flat records, flushed to Arrow every ``chunk``
    records, so that only one chunk is ever held as Python objects, and the number of records. A
    key missing from a record (or first seen late) is null there. Only the keys in ``keep`` (and
    ``NOT_AN_OBJECT``) become columns; a nested value is noted whatever its key."""
    flushed_parts: dict[str, list[pa.Array]] = {}
    flushed = 0  # rows already in Arrow
    lists: dict[str, list] = {}
    rows = 0  # rows in the current chunk

    def flush() -> None:
        nonlocal flushed, rows
        for name in [*flushed_parts, *(k for k in lists if k not in flushed_parts)]:
            values = lists.get(name, [])
            values.extend([None] * (rows - len(values)))
            parts = flushed_parts.setdefault(name, [pa.nulls(flushed, pa.large_string())])
            parts.append(pa.array(values, pa.large_string()))
        flushed, rows = flushed + rows, 0
        lists.clear()

    for element in records:
        record = element if isinstance(element, dict) else {NOT_AN_OBJECT: type(element).__name__}
        for name, value in record.items():
            if name not in keep and name != NOT_AN_OBJECT:
                if isinstance(value, dict | list):
                    _scalar_text(value, flushed + rows, name, nested)  # noted, though the column is not kept
                continue
            column = lists.get(name)
            if column is None:
                column = lists[name] = [None] * rows
            column.append(
                value if value is None or isinstance(value, str) else _scalar_text(value, flushed + rows, name, nested)
            )
        rows += 1
        for column in lists.values():
            if len(column) < rows:
                column.append(None)
        if rows == chunk:
            flush()
    flush()
    columns = {
        name: pd.Series(pd.array(pa.chunked_array(parts), dtype="string")) for name, parts in flushed_parts.items()
    }
    return columns, flushed


def _stream_columns(
    events, key: str, nested: list, keep: frozenset[str], chunk: int = 10_000
) -> tuple[dict[str, pd.Series], int]:
    """Columns of strings from the parse events of a column-oriented object
    ``{"col": {"0": v, ...}, ...}``, in Arrow chunks, rows ordered by their integer key, and the
    number of rows. Only the columns in ``keep`` are returned; every column is checked.

    Every column must hold the rows 0..n-1: rows that differ between columns cannot be aligned. A
    row's value that is an object or an array is missing (noted in ``nested``)."""
    columns: dict[str, pd.Series] = {}
    lengths: dict[str, int] = {}
    name, keys, values, parts = None, [], [], []
    depth, row = 0, -1  # 1: in the top object, 2: in a column object, 3+: in a row's container value

    def finish() -> None:
        if name is None:
            return
        rows = np.asarray(keys if max(keys, default=0) < 2**62 else [-1], dtype=np.int64)  # no overflow
        order = np.argsort(rows, kind="stable")
        if not np.array_equal(rows[order], np.arange(len(keys))):
            raise IngestionError(f"smpd: {key} column {name!r} does not hold the rows 0..{len(keys) - 1} once each")
        lengths[name] = len(keys)
        if name in keep:
            parts.append(pa.array(values, pa.large_string()))
            columns[name] = pd.Series(pd.array(pa.chunked_array(parts).take(order), dtype="string"))

    try:
        for _, event, value in events:
            if depth == 2:  # the hot path: a column's row keys and values
                if event == "map_key":
                    row = int(value)
                    keys.append(row)
                    continue
                if event in ("string", "number", "boolean", "null"):
                    if name not in keep:
                        continue
                    values.append(value if value is None or isinstance(value, str) else str(value))
                    if len(values) == chunk:
                        parts.append(pa.array(values, pa.large_string()))
                        values = []
                elif event == "end_map":
                    depth = 1
                else:  # a row's value is itself an object or an array
                    nested.append((row, name, event.removeprefix("start_")))
                    if name in keep:
                        values.append(None)
                    depth = 3
            elif depth > 2:
                depth += 1 if event.startswith("start_") else -1 if event.startswith("end_") else 0
            elif depth == 1 and event == "map_key":
                finish()
                name, keys, values, parts = value, [], [], []
            elif event == "start_map":
                depth += 1
            elif depth == 1 and event != "end_map":
                raise IngestionError(f"smpd: {key} column {name!r} is not an object of rows ({event})")
            else:
                depth -= 1
    except ValueError as error:  # int() of a row key
        raise IngestionError(f"smpd: {key} column {name!r} has a row key that is not a row number: {error}") from error
    finish()
    if len(set(lengths.values())) > 1:
        raise IngestionError(f"smpd: {key} columns have different lengths: {lengths}")
    return columns, next(iter(lengths.values()), 0)


def _floats(text: pd.Series, records: pd.Series, issues: Issues, file: str, field_: str) -> pd.Series:
    """'0.1,0.2,...' → list of floats; SMPD writes a missing description as a lone newline. One that is
    not comma-separated numbers is read as missing (logged)."""
    out = []
    for record, value in zip(records, text, strict=True):
        try:
            out.append(None if pd.isna(value) or not value.strip() else [float(x) for x in value.split(",")])
        except ValueError:
            reason = "not comma-separated numbers: read as missing"
            issues.add("users", file, record, field_, reason, "repaired", value[:200])
            out.append(None)
    return pd.Series(out, index=text.index, dtype=object)


def locate(folder: RawFolder, root: str, names: tuple[str, ...]) -> str | None:
    """The key of the one copy of a file that may sit at the folder's root or in ``root``, under
    any of ``names``; None when there is none. Two copies are an error: which one is aligned
    with the JSON files cannot be told."""
    found = [key for name in names for key in (name, f"{root}/{name}") if key in folder]
    if len(found) > 1:
        raise IngestionError(
            f"smpd: {len(found)} copies of the same file under {folder.root}: {found}; keep one of them"
        )
    return found[0] if found else None


def read_lines(folder: RawFolder, key: str | None, issues: Issues) -> list[str] | None:
    """The lines of a text file (any line ending; no trailing empty line), or None without a file.
    Bytes that are not UTF-8 are decoded as latin-1 (logged)."""
    if key is None:
        return None
    text = decode(folder[key]())
    lines = text.splitlines()
    if fix_text(text) == text:  # the common case: all UTF-8, checked once for the whole file
        return lines
    for i, line in enumerate(lines):
        if (fixed := fix_text(line)) != line:
            issues.add("posts", key, f"row {i}", "line", LATIN1_REPAIR, "repaired", fixed)
            lines[i] = fixed
    return lines


def string_columns(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``frame`` with each of ``names`` it lacks added, all missing (in place: no copy of a large frame)."""
    for name in names:
        if name not in frame:
            frame[name] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame


class Rejections:
    """The post rows rejected so far: each row gets one rejection, its first reason."""

    def __init__(self, issues: Issues, record: pd.Series) -> None:
        self.issues, self.record = issues, record
        self.rows = pd.Series(False, index=record.index)

    def add(self, mask: pd.Series, file: str, field_: str, reason: str, values: pd.Series | None = None) -> None:
        new = mask.fillna(False).astype(bool) & ~self.rows
        if new.any():
            values = None if values is None else values[new]
            self.issues.add_many("posts", file, self.record[new], field_, reason, values=values)
            self.rows |= new


def misaligned(reference: pd.DataFrame, other: pd.DataFrame) -> tuple[pd.Series, pd.Series | None]:
    """Rows where ``other`` names another Pid or Uid than ``reference`` does, and (where there are
    any) ``other``'s ids, for the quarantine."""
    differ = pd.Series(False, index=reference.index)
    for name in ("Pid", "Uid"):
        if name in other and name in reference:
            theirs, ours = other[name], reference[name]
            differ |= (theirs.notna() & ours.notna() & (theirs != ours)).fillna(False).astype(bool)
    if not differ.any():
        return differ, None
    pid, uid = (other[n] if n in other else pd.Series(pd.NA, index=other.index, dtype="string") for n in ("Pid", "Uid"))
    return differ, "Pid=" + pid.fillna("?") + " Uid=" + uid.fillna("?")


def image_list_ids(paths: pd.Series) -> pd.DataFrame:
    """The Uid and Pid each image list line names (``train/<Uid>/<Pid>.jpg``); missing where no line or shape."""
    found = pc.extract_regex(pa.array(paths, pa.large_string()), IMAGE_PATH_IDS.pattern)
    ids = {name: pd.array(pc.struct_field(found, name), dtype="string") for name in ("Uid", "Pid")}
    return pd.DataFrame(ids, index=paths.index)


def _read_post_files(
    folder: RawFolder, root: str, issues: Issues
) -> tuple[dict[str, pd.DataFrame], dict[str, tuple[pd.Series, pd.Series | None]]]:
    """The post files' frames, and each aligned file's rows out of alignment with ``REFERENCE``.

    Each file is checked against the reference as soon as it is read, then its Pid and Uid are
    dropped unless it needs them later (``KEEP_AFTER_CHECK``): four copies of the ids would
    otherwise be held. A file of another length is not checked (the caller stops on it)."""
    frames: dict[str, pd.DataFrame] = {}
    misaligned_rows = {}
    for name in POST_FILES:
        frame = _json_table(folder, f"{root}/{name}", issues, KEEP[name])
        if name != REFERENCE and len(frame) == len(frames[REFERENCE]):
            misaligned_rows[name] = misaligned(frames[REFERENCE], frame)
            frame = frame.drop(columns=[c for c in ("Pid", "Uid") if c in frame and c not in KEEP_AFTER_CHECK[name]])
        frames[name] = frame
    release_free_memory()  # the parser's garbage, before the tables grow
    return frames, misaligned_rows


def _reject_not_objects(frames: dict[str, pd.DataFrame], rejections: Rejections, root: str) -> None:
    """Reject the rows whose array element, in any post file, is not a JSON object."""
    for name, frame in frames.items():
        if NOT_AN_OBJECT in frame:
            kinds = frame[NOT_AN_OBJECT]
            rejections.add(kinds.notna(), f"{root}/{name}", "record", "array element is not a JSON object", kinds)


def read_smpd(raw: RawFolder, params: dict) -> Ingested:
    """Read one SMPD training folder."""
    issues = Issues("smpd")
    folder = safe_folder(raw, issues)
    root = next((r for r in ROOTS if f"{r}/{REFERENCE}" in folder), None)
    if root is None:
        raise IngestionError(f"smpd: no {ROOTS[0]}/{REFERENCE} (or {ROOTS[1]}/…) under {folder.root}")
    absent = [f"{root}/{name}" for name in POST_FILES if f"{root}/{name}" not in folder]
    if absent:
        raise IngestionError(
            f"smpd: {absent} missing under {folder.root}: the post files are aligned by row, all are read"
        )
    frames, misaligned_rows = _read_post_files(folder, root, issues)
    label_key, paths_key = locate(folder, root, LABEL_NAMES), locate(folder, root, IMAGE_LIST_NAMES)
    labels, paths = read_lines(folder, label_key, issues), read_lines(folder, paths_key, issues)
    n = len(frames[REFERENCE])
    lengths = {name: len(f) for name, f in frames.items()}
    lengths |= {key: len(lines) for key, lines in ((label_key, labels), (paths_key, paths)) if key is not None}
    if len(set(lengths.values())) != 1:
        raise IngestionError(f"smpd: files are aligned by row but have different lengths: {lengths}")
    # As Arrow strings at once: a Python string per line would stay alive (and scattered) to the end.
    label_text, path_text = (
        pd.Series(lines if lines is not None else [pd.NA] * n, dtype="string") for lines in (labels, paths)
    )
    del labels, paths

    reference = string_columns(frames[REFERENCE], ["Pid", "Uid", "Category", "Subcategory", "Concept"])[
        ["Pid", "Uid", "Category", "Subcategory", "Concept"]
    ]
    record = "row " + pd.Series(np.arange(n), dtype="string") + " Pid=" + reference["Pid"].fillna("")
    rejections = Rejections(issues, record)
    # Rows that are not records, then rows out of alignment: their fields belong to no known post.
    _reject_not_objects(frames, rejections, root)
    for name, (differ, ids) in misaligned_rows.items():
        reason = f"rows out of alignment: this file's Pid/Uid differ from {REFERENCE}'s"
        rejections.add(differ, f"{root}/{name}", "Pid/Uid", reason, ids)
    listed = image_list_ids(path_text)
    differ, _ = misaligned(reference, listed)
    reason = f"rows out of alignment: the image path names another Pid/Uid than {REFERENCE}"
    rejections.add(differ, paths_key or IMAGE_LIST_NAMES[0], "Pid/Uid", reason, path_text)

    posts = pd.concat(
        [
            reference,
            string_columns(frames["train_text.json"], ["Title", "Alltags"])[["Title", "Alltags"]],
            string_columns(frames["train_temporalspatial_information.json"], ["Postdate"])[["Postdate"]],
            string_columns(frames["train_additional_information.json"], ["Pathalias"])[["Pathalias"]],
        ],
        axis=1,
    )
    per_post_users = string_columns(frames.pop("train_user_data.json"), USER_FIELDS)
    del frames  # the raw columns are merged: free them before the tables grow
    release_free_memory()
    file = f"{root}/train_*.json"
    posts["title"] = posts["Title"]
    posts["tags"] = list_column(posts.pop("Alltags"), str.split, posts.index)

    # Posts that cannot be placed in time or attributed are rejected.
    time_file = f"{root}/train_temporalspatial_information.json"
    postdate = pd.to_numeric(posts["Postdate"], errors="coerce")
    rejections.add(postdate.isna(), time_file, "Postdate", "Postdate is not a unix timestamp", posts["Postdate"])
    out_of_range = seconds_out_of_range(postdate.astype("float64"))
    rejections.add(out_of_range, time_file, "Postdate", f"Postdate {TIME_OUT_OF_RANGE}", posts["Postdate"])
    rejections.add(posts["Pid"].isna() | posts["Uid"].isna(), file, "Pid/Uid", "post without Pid or Uid")
    posts["posted_at"] = pd.to_datetime(postdate.mask(rejections.rows), unit="s", utc=True)
    observed = pd.Timestamp(params["smpd_observed_at"], tz="UTC")
    posts["observed_at"] = observed

    # The label: log2(views/days)+1 needs a finite value and at least one day online.
    label_file = label_key or LABEL_NAMES[0]
    label = parse_numbers(label_text, record, issues, "posts", label_file, "label", integer=False, non_negative=False)
    days = (observed - posts["posted_at"]).dt.days
    zero_days = (days <= 0) & ~rejections.rows
    reason = "zero days since posting: label log2(views/days)+1 undefined, set missing"
    issues.add_many("posts", time_file, record[zero_days], "Postdate", reason, "repaired", posts["Postdate"][zero_days])
    infinite = label.notna() & ~np.isfinite(label.astype(float).fillna(0)) & ~zero_days
    not_finite = "label not finite, set missing"
    issues.add_many("posts", label_file, record[infinite], "label", not_finite, "repaired", label_text[infinite])
    posts["popularity_label"] = label.mask(zero_days | infinite)
    if rejections.rows.any():  # (no copy of the whole table when every row is kept)
        keep = ~rejections.rows
        posts, record = posts[keep], record[keep]
    posts = reject_duplicates(posts, "Pid", record, issues, "posts", file)
    record = record.loc[posts.index]

    posts["native_id"] = posts["Pid"]
    posts["post_id"] = source_id("smpd", posts["Pid"])
    posts["user_id"] = source_id("smpd", posts["Uid"])
    posts = posts.rename(columns={"Category": "category", "Subcategory": "subcategory", "Concept": "concept"})
    posts["source"] = "smpd"

    posts = posts.drop(columns=["Title", "Postdate"])
    # The users first, so that the per-post user data is freed before the images are inspected; their
    # issues are logged after the images', as they always were.
    additional_key = locate(folder, root, ("user_additional.txt",))
    user_issues = Issues(issues.source)
    users, n_users_in, users_kept = _users(per_post_users, posts, folder, user_issues, root, additional_key)
    del per_post_users

    refs = pd.DataFrame({"post_id": posts["post_id"], "key": path_text.loc[posts.index]})
    max_pixels = params.get("max_image_pixels", MAX_IMAGE_PIXELS)
    images, posts["image_path"] = inspect_images(refs, folder, issues, params["min_image_side"], max_pixels)
    records_in = {"posts": n, "images": count_image_files(folder), "users": n_users_in}
    issues.extend(user_issues)
    used = {f"{root}/{name}" for name in POST_FILES} | {label_key, paths_key, additional_key} | set(image_keys(folder))
    records_in["files"], files_used = account_files(raw, folder, used - {None}, issues)
    logger.info("smpd: %d posts, %d users, %d images", len(posts), len(users), len(images))
    tables = {"posts": conform(posts, "posts"), "users": users, "comments": empty("comments"), "images": images}
    tables["interactions"] = empty("interactions")
    return Ingested(issues.source, tables, issues.frame(), records_in, {"users": users_kept, "files": files_used})


def _whitespace_table(folder: RawFolder, key: str) -> pd.DataFrame:
    """A whitespace-separated table with a header, as strings; a malformed line is named."""
    try:
        return pd.read_csv(io.StringIO(decode(folder[key]())), sep=r"\s+", dtype="string")
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=["Pathalias", *USER_ADDITIONAL], dtype="string")
    except pd.errors.ParserError as error:
        raise IngestionError(f"smpd: {key} does not parse as a whitespace-separated table: {error}") from error


def _users(
    per_post: pd.DataFrame, posts: pd.DataFrame, folder: RawFolder, issues: Issues, root: str, key: str | None
) -> tuple[pd.DataFrame, int, int]:
    """One row per Uid from the per-post user data, joined with user_additional.txt (``key``).

    Returns the users, the user_additional.txt rows read and the rows joined to a user."""
    file = f"{root}/train_user_data.json"
    if not per_post.index.equals(posts.index):
        per_post = per_post.loc[posts.index]  # rejected posts' user rows go with them
    record = "Pid=" + per_post["Pid"].fillna("")
    u = pd.DataFrame({"Uid": posts["Uid"]})
    for col, out in [("photo_count", "photo_count"), ("timezone_offset", "timezone_offset")]:
        u[out] = parse_numbers(per_post[col], record, issues, "users", file, col, non_negative=col != "timezone_offset")
    for col, out in [("ispro", "is_pro"), ("canbuypro", "can_buy_pro")]:
        flag = parse_numbers(per_post[col], record, issues, "users", file, col)
        u[out] = flag.map({1: True, 0: False}, na_action="ignore").astype("boolean")
    for col in ("photo_firstdate", "photo_firstdatetaken"):
        seconds = parse_numbers(per_post[col], record, issues, "users", file, col, non_negative=False)
        u[col] = unix_times(seconds, record, issues, "users", file, col)
    u["timezone_id"] = per_post["timezone_timezone_id"].mask(per_post["timezone_timezone_id"].isin(["None", ""]))
    u["user_description"] = per_post["user_description"]
    u["location_description"] = per_post["location_description"].mask(
        per_post["location_description"].str.strip() == ""
    )
    u["username"] = posts["Pathalias"]
    # A user's fields repeat on each of their posts: take the first value that is present,
    # and parse the description vectors once per user, not once per post.
    users = u.groupby("Uid", sort=True).first().reset_index()
    for column in ("user_description", "location_description"):
        users[column] = _floats(users[column], "Uid=" + users["Uid"], issues, file, column)

    n_additional = n_joined = 0
    if key is not None:
        extra = _whitespace_table(folder, key)
        n_additional = len(extra)
        missing = set(USER_ADDITIONAL) - set(extra.columns)
        if missing or "Pathalias" not in extra:
            raise IngestionError(f"smpd: {key} lacks columns {sorted(missing | {'Pathalias'} - set(extra))}")
        extra_record = "Pathalias=" + extra["Pathalias"].fillna("")
        extra = reject_duplicates(extra, "Pathalias", extra_record, issues, "users", key)
        extra_record = extra_record.loc[extra.index]
        for col, out in USER_ADDITIONAL.items():
            extra[out] = parse_numbers(extra[col], extra_record, issues, "users", key, col)
        unknown = ~extra["Pathalias"].isin(users["username"])
        issues.add_many("users", key, extra_record[unknown], "Pathalias", "profile of a user with no post")
        n_joined = int((~unknown).sum())
        columns = extra[["Pathalias", *USER_ADDITIONAL.values()]]
        users = users.merge(columns, left_on="username", right_on="Pathalias", how="left").drop(columns="Pathalias")
        # photoCount (all photos) is the better count where the per-post one is missing.
        users["photo_count"] = users["photo_count"].fillna(users.pop("photo_count_all"))
    users["native_id"] = users["Uid"]
    users["user_id"] = source_id("smpd", users["Uid"])
    users["source"] = "smpd"
    return conform(users, "users"), n_additional, n_joined
