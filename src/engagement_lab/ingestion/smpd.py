"""SMPD (Flickr, SMP Challenge 2019-2023 and the 2020 names) → canonical tables.

Post files are JSON arrays aligned by row index; numbers arrive as strings; user data
is per post, row- or column-oriented; ``user_additional.txt`` adds profile counts.
"""

from __future__ import annotations

import io
import json
import logging

import ijson
import numpy as np
import pandas as pd
import pyarrow as pa

from engagement_lab.datasets import RawFolder
from engagement_lab.ingestion.common import (
    Ingested,
    IngestionError,
    Issues,
    conform,
    count_image_files,
    decode,
    empty,
    inspect_images,
    is_utf8,
    list_column,
    parse_numbers,
    reject_duplicates,
    repair_records,
    source_id,
)

logger = logging.getLogger(__name__)
ROOTS = ("train_allmetadata_json", "train_all_json")
# As distributed, these sit at the folder's root or inside the metadata folder; the image
# list has two published names.
LABEL_NAMES = ("train_label.txt",)
IMAGE_LIST_NAMES = ("train_img_filepath.txt", "train_img_path.txt")
POST_FILES = ("train_category.json", "train_text.json", "train_temporalspatial_information.json",
              "train_additional_information.json", "train_user_data.json")  # fmt: skip
USER_ADDITIONAL = {
    "totalViews": "total_views", "totalTags": "total_tags", "totalGeotagged": "total_geotagged",
    "totalFaves": "total_faves", "totalInGroup": "total_in_group", "photoCount": "photo_count_all",
    "followerCount": "followers", "followingCount": "following",
}  # fmt: skip


def _json_table(folder: RawFolder, key: str, issues: Issues) -> pd.DataFrame:
    """A JSON array of records, or a column-oriented object, as a frame of strings.

    Streamed (ijson): the records are never all in memory as Python dicts, only the
    columns being built, so memory grows with the table kept, not with the JSON text."""
    with folder.open(key) as stream:
        clean = is_utf8(stream)
    data = None
    if not clean:  # rare: repair field by field on the parsed records, then stream those
        records = json.loads(decode(folder[key]()))
        if isinstance(records, dict):
            order = sorted(next(iter(records.values()), {}), key=int)
            records = [{name: values.get(i) for name, values in records.items()} for i in order]
        repair_records(records, issues, "posts" if "user_data" not in key else "users", key, "Pid")
        data = json.dumps(records, ensure_ascii=False).encode("utf-8")

    def source():
        return io.BytesIO(data) if data is not None else folder.open(key)

    try:
        with source() as stream:
            first = next(ijson.parse(stream))[1]
        columns: dict[str, pd.Series] = {}
        if first == "start_map":  # column-oriented: {"col": {"0": v, ...}}
            with source() as stream:
                columns = _stream_columns(ijson.parse(stream))
        else:
            with source() as stream:
                columns = _stream_records(ijson.items(stream, "item"))
    except ijson.JSONError as error:
        raise IngestionError(f"smpd: {key} is not valid JSON ({error})") from error
    return pd.DataFrame(columns)


def _stream_records(records, chunk: int = 50_000) -> dict[str, pd.Series]:
    """Columns of strings from a stream of flat records, flushed to Arrow every ``chunk``
    records, so that only one chunk is ever held as Python objects. A key missing from a
    record (or first seen late) is null there."""
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

    for record in records:
        for name, value in record.items():
            column = lists.get(name)
            if column is None:
                column = lists[name] = [None] * rows
            column.append(value if value is None or isinstance(value, str) else str(value))
        rows += 1
        for column in lists.values():
            if len(column) < rows:
                column.append(None)
        if rows == chunk:
            flush()
    flush()
    return {name: pd.Series(pd.array(pa.chunked_array(parts), dtype="string")) for name, parts in flushed_parts.items()}


def _stream_columns(events, chunk: int = 50_000) -> dict[str, pd.Series]:
    """Columns of strings from the parse events of a column-oriented object
    ``{"col": {"0": v, ...}, ...}``, in Arrow chunks, rows ordered by their integer key."""
    columns: dict[str, pd.Series] = {}
    name, keys, values, parts = None, [], [], []

    def finish() -> None:
        if name is None:
            return
        parts.append(pa.array(values, pa.large_string()))
        order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
        columns[name] = pd.Series(pd.array(pa.chunked_array(parts).take(order), dtype="string"))

    for prefix, event, value in events:
        if event == "map_key" and prefix == "":
            finish()
            name, keys, values, parts = value, [], [], []
        elif event == "map_key":
            keys.append(int(value))
        elif prefix != name and event in ("string", "number", "boolean", "null"):
            values.append(value if value is None or isinstance(value, str) else str(value))
            if len(values) == chunk:
                parts.append(pa.array(values, pa.large_string()))
                values = []
    finish()
    return columns


def _floats(text: pd.Series) -> pd.Series:
    """'0.1,0.2,...' → list of floats; SMPD writes a missing description as a lone newline."""
    return text.map(lambda s: None if pd.isna(s) or not s.strip() else [float(x) for x in s.split(",")])


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


def read_lines(folder: RawFolder, key: str | None) -> list[str] | None:
    """The lines of a text file (any line ending; no trailing empty line), or None without a file."""
    return None if key is None else decode(folder[key]()).splitlines()


def read_smpd(folder: RawFolder, params: dict) -> Ingested:
    """Read one SMPD training folder."""
    issues = Issues("smpd")
    root = next((r for r in ROOTS if f"{r}/train_category.json" in folder), None)
    if root is None:
        raise IngestionError(f"smpd: no {ROOTS[0]}/train_category.json (or {ROOTS[1]}/…) under {folder.root}")
    frames = {name: _json_table(folder, f"{root}/{name}", issues) for name in POST_FILES}
    label_key, paths_key = locate(folder, root, LABEL_NAMES), locate(folder, root, IMAGE_LIST_NAMES)
    labels, paths = read_lines(folder, label_key), read_lines(folder, paths_key)
    n = len(frames["train_category.json"])
    lengths = {name: len(f) for name, f in frames.items()}
    lengths |= {key: len(lines) for key, lines in ((label_key, labels), (paths_key, paths)) if key is not None}
    if len(set(lengths.values())) != 1:
        raise IngestionError(f"smpd: files are aligned by row but have different lengths: {lengths}")

    posts = pd.concat(
        [frames["train_category.json"][["Pid", "Uid", "Category", "Subcategory", "Concept"]],
         frames["train_text.json"][["Title", "Alltags"]],
         frames["train_temporalspatial_information.json"][["Postdate"]],
         frames["train_additional_information.json"][["Pathalias"]]],
        axis=1,
    )  # fmt: skip
    per_post_users = frames.pop("train_user_data.json")
    del frames  # the raw columns are merged: free them before the tables grow
    file = f"{root}/train_*.json"
    record = "row " + pd.Series(np.arange(n), dtype="string") + " Pid=" + posts["Pid"].fillna("")
    posts["title"] = posts["Title"]
    posts["tags"] = list_column(posts["Alltags"], str.split, posts.index)

    # Posts that cannot be placed in time or attributed are rejected.
    postdate = pd.to_numeric(posts["Postdate"], errors="coerce")
    no_time = postdate.isna() | (postdate <= 0)
    issues.add_many("posts", f"{root}/train_temporalspatial_information.json", record[no_time], "Postdate",
                    "Postdate is not a unix timestamp", values=posts.loc[no_time, "Postdate"])  # fmt: skip
    no_id = posts["Pid"].isna() | posts["Uid"].isna()
    issues.add_many("posts", file, record[no_id & ~no_time], "Pid/Uid", "post without Pid or Uid")
    posts["posted_at"] = pd.to_datetime(postdate, unit="s", utc=True)
    observed = pd.Timestamp(params["smpd_observed_at"], tz="UTC")
    posts["observed_at"] = observed

    # The label: log2(views/days)+1 needs a finite value and at least one day online.
    label_text = pd.Series(labels if labels is not None else [pd.NA] * n, dtype="string")
    label_file = label_key or LABEL_NAMES[0]
    label = parse_numbers(label_text, record, issues, "posts", label_file, "label", integer=False, non_negative=False)
    days = (observed - posts["posted_at"]).dt.days
    zero_days = (days <= 0) & ~no_time
    issues.add_many("posts", f"{root}/train_temporalspatial_information.json", record[zero_days], "Postdate",
                    "zero days since posting: label log2(views/days)+1 undefined, set missing", "repaired",
                    posts.loc[zero_days, "Postdate"])  # fmt: skip
    infinite = label.notna() & ~np.isfinite(label.astype(float).fillna(0)) & ~zero_days
    not_finite = "label not finite, set missing"
    issues.add_many("posts", label_file, record[infinite], "label", not_finite, "repaired", label_text[infinite])
    posts["popularity_label"] = label.mask(zero_days | infinite)
    keep = ~(no_time | no_id)
    posts, record = posts[keep], record[keep]
    posts = reject_duplicates(posts, "Pid", record, issues, "posts", file)
    record = record.loc[posts.index]

    posts["native_id"] = posts["Pid"]
    posts["post_id"] = source_id("smpd", posts["Pid"])
    posts["user_id"] = source_id("smpd", posts["Uid"])
    posts = posts.rename(columns={"Category": "category", "Subcategory": "subcategory", "Concept": "concept"})
    posts["source"] = "smpd"

    path_keys = pd.Series(paths if paths is not None else [pd.NA] * n, dtype="string").loc[posts.index]
    refs = pd.DataFrame({"post_id": posts["post_id"], "key": path_keys})
    images, posts["image_path"] = inspect_images(refs, folder, issues, params["min_image_side"])
    records_in = {"posts": n, "images": count_image_files(folder, "train/")}

    posts = posts.drop(columns=["Title", "Alltags", "Postdate"])
    users, records_in["users"], users_kept = _users(per_post_users, posts, folder, issues, root)
    del per_post_users
    logger.info("smpd: %d posts, %d users, %d images", len(posts), len(users), len(images))
    return Ingested(
        issues.source,
        {"posts": conform(posts, "posts"), "users": users, "comments": empty("comments"), "images": images,
         "interactions": empty("interactions")},
        issues.frame(),
        records_in,
        {"users": users_kept},
    )  # fmt: skip


def _whitespace_table(folder: RawFolder, key: str) -> pd.DataFrame:
    """A whitespace-separated table with a header, as strings; a malformed line is named."""
    try:
        return pd.read_csv(io.StringIO(decode(folder[key]())), sep=r"\s+", dtype="string")
    except pd.errors.ParserError as error:
        raise IngestionError(f"smpd: {key} does not parse as a whitespace-separated table: {error}") from error


def _users(per_post: pd.DataFrame, posts: pd.DataFrame, folder: RawFolder, issues: Issues,
           root: str) -> tuple[pd.DataFrame, int, int]:  # fmt: skip
    """One row per Uid from the per-post user data, joined with user_additional.txt.

    Returns the users, the user_additional.txt rows read and the rows joined to a user."""
    file = f"{root}/train_user_data.json"
    per_post = per_post.loc[posts.index]  # rejected posts' user rows go with them
    record = "Pid=" + per_post["Pid"].fillna("")
    u = pd.DataFrame({"Uid": per_post["Uid"]})
    for col, out in [("photo_count", "photo_count"), ("timezone_offset", "timezone_offset")]:
        u[out] = parse_numbers(per_post[col], record, issues, "users", file, col, non_negative=col != "timezone_offset")
    for col, out in [("ispro", "is_pro"), ("canbuypro", "can_buy_pro")]:
        flag = parse_numbers(per_post[col], record, issues, "users", file, col)
        u[out] = flag.map({1: True, 0: False}, na_action="ignore").astype("boolean")
    for col in ("photo_firstdate", "photo_firstdatetaken"):
        seconds = parse_numbers(per_post[col], record, issues, "users", file, col, non_negative=False)
        u[col] = pd.to_datetime(seconds.astype("Float64").mask(seconds <= 0), unit="s", utc=True)
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
        users[column] = _floats(users[column])

    n_additional = n_joined = 0
    key = locate(folder, root, ("user_additional.txt",))
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
        users = users.merge(extra[["Pathalias", *USER_ADDITIONAL.values()]], left_on="username",
                            right_on="Pathalias", how="left").drop(columns="Pathalias")  # fmt: skip
        # photoCount (all photos) is the better count where the per-post one is missing.
        users["photo_count"] = users["photo_count"].fillna(users.pop("photo_count_all"))
    users["native_id"] = users["Uid"]
    users["user_id"] = source_id("smpd", users["Uid"])
    users["source"] = "smpd"
    return conform(users, "users"), n_additional, n_joined
