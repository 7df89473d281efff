"""CSV-based exports: PixelRec (items, interactions, covers) and Facebook CrowdTangle
(posts with reactions, comments, linked images) → canonical tables."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from collections.abc import Iterator
from typing import NamedTuple

import pandas as pd

from engagement_lab.core.raw import RawFolder
from engagement_lab.ingestion.common import (
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
    list_column,
    parse_numbers,
    reject_duplicates,
    repair_records,
    safe_folder,
    seconds_out_of_range,
    source_id,
    split_tags,
    times_out_of_range,
)

logger = logging.getLogger(__name__)
PIXELREC_COUNTS = {
    "view_number": "views",
    "comment_number": "comments",
    "thumbup_number": "likes",
    "share_number": "shares",
    "coin_number": "coins",
    "favorite_number": "favorites",
    "barrage_number": "barrage",
}
# item_info.csv's columns, in the published order.
PIXELREC_COLUMNS = ["item_id", *PIXELREC_COUNTS, "title", "tag", "description"]
CROWDTANGLE_COUNTS = {
    "Likes": "likes",
    "Comments": "comments",
    "Shares": "shares",
    "Haha": "reaction_haha",
    "Sad": "reaction_sorry",
    "Angry": "reaction_angry",
    "Wow": "reaction_wow",
    "Love": "reaction_love",
}
# CrowdTangle writes times in the dashboard's zone, named by its abbreviation.
TZ_OFFSETS = {
    "UTC": "+0000",
    "GMT": "+0000",
    "EST": "-0500",
    "EDT": "-0400",
    "CST": "-0600",
    "CDT": "-0500",
    "MST": "-0700",
    "MDT": "-0600",
    "PST": "-0800",
    "PDT": "-0700",
}


# Stands in for a bare CR while the csv module splits rows: that module ends a record at any
# CR, so a CR inside an unquoted field (CrowdTangle's Message) would stop it or cut the row.
_BARE_CR = "\ue000"
_BARE_CR_RE = re.compile(r"\r(?!\n)")


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
    lines: list[str] = []  # the physical lines of the record being read

    def remember(stream: io.StringIO) -> Iterator[str]:
        for line in stream:
            lines.append(line)
            yield line

    reader = csv.reader(remember(io.StringIO(text, newline="")))
    start, n, held = 1, 0, None  # the line a record starts on; rows so far; the last record, not yet given
    try:
        for fields in reader:
            if fields:  # a blank line is no record
                if held is not None:
                    yield held
                held = CsvRow(start, [v.replace(_BARE_CR, "\r") for v in fields] if hidden else fields)
                n += 1
                record_lines = lines[:]
            lines.clear()
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


def read_csv(
    folder: RawFolder, key: str, issues: Issues, table: str, id_field: str, required: list[str]
) -> tuple[pd.DataFrame, int]:
    """A CSV as strings (nothing guessed), text repaired, required columns checked.

    Returns the frame and the number of records read: a row whose field count differs from the
    header's (often a line break in an unquoted field) is rejected, naming its line; so is each
    line of a tail swallowed by an unterminated quote (each counted as one record)."""
    rows = csv_rows(decode(folder[key]()), issues.source, key)
    header_row = next(rows, CsvRow(0, []))
    if header_row.cut:
        raise IngestionError(f"{issues.source}: {key}: the header row never ends ({CUT}, from line 1)")
    if not header_row.fields:  # an empty file: no records
        return pd.DataFrame(columns=required, dtype="string"), 0
    header = [fix_text(name) for name in header_row.fields]
    for name, raw in zip(header, header_row.fields, strict=True):
        if name != raw:
            issues.add(table, key, "line 1", "header", "non-UTF-8 bytes decoded as latin-1", "repaired", name)
    missing = [c for c in required if c not in header]
    if missing:
        raise IngestionError(f"{issues.source}: {key} lacks columns {missing}; it has {header}")
    records, n = [], 0
    for line, fields, cut in rows:
        n += 1
        if cut:
            issues.add(table, key, f"line {line}", "row", CUT, value=fix_text(fields[0][:200]))
        elif len(fields) == len(header):
            records.append(dict(zip(header, fields, strict=True)))
        else:
            reason = f"row has {len(fields)} fields, the header {len(header)} (a line break in an unquoted field?)"
            issues.add(table, key, f"line {line}", "row", reason, value=fix_text(",".join(fields)[:200]))
    repair_records(records, issues, table, key, id_field)
    frame = pd.DataFrame.from_records(records, columns=list(dict.fromkeys(header))).astype("string")
    return frame, n


def _find(folder: RawFolder, name: str) -> str:
    """The key of a file by name, at the top or one folder down (exports are often nested)."""
    keys = sorted(k for k in folder if k == name or k.endswith("/" + name))
    if not keys:
        raise IngestionError(f"{folder.root}: no {name} found")
    return min(keys, key=len)


def read_pixelrec(raw: RawFolder, params: dict) -> Ingested:
    """PixelRec: item_info.csv (counts as float text, NaN), interactions.csv, cover/<item_id>.jpg."""
    issues = Issues("pixelrec")
    folder = safe_folder(raw, issues)
    key = _find(folder, "item_info.csv")
    items, n_items = read_csv(folder, key, issues, "posts", "item_id", PIXELREC_COLUMNS)
    record = "item_id=" + items["item_id"].fillna("")
    no_id = items["item_id"].isna() | (items["item_id"].str.strip() == "")
    issues.add_many("posts", key, record[no_id], "item_id", "item without item_id")
    items, record = items[~no_id], record[~no_id]
    items = reject_duplicates(items, "item_id", record, issues, "posts", key)
    record = record.loc[items.index]
    for col, out in PIXELREC_COUNTS.items():
        items[out] = parse_numbers(items[col], record, issues, "posts", key, col)
    items["native_id"] = items["item_id"]
    items["post_id"] = source_id("pixelrec", items["item_id"])
    items["source"] = "pixelrec"
    items["caption"] = items["description"]
    items["tags"] = list_column(items["tag"], split_tags, items.index)
    # PixelRec does not name the uploader: user_id stays missing, by design.
    refs = pd.DataFrame({"post_id": items["post_id"], "key": "cover/" + items["item_id"] + ".jpg"})
    max_pixels = params.get("max_image_pixels", MAX_IMAGE_PIXELS)
    images, items["image_path"] = inspect_images(refs, folder, issues, params["min_image_side"], max_pixels)

    interactions, n_inter, used = empty("interactions"), 0, {key, *image_keys(folder)}
    if any(k.endswith("interactions.csv") for k in folder):
        ikey = _find(folder, "interactions.csv")
        used.add(ikey)
        raw_rows, n_inter = read_csv(
            folder, ikey, issues, "interactions", "item_id", ["item_id", "user_id", "timestamp"]
        )
        interactions = _interactions(raw_rows, items, issues, ikey)
    records_in = {"posts": n_items, "images": count_image_files(folder), "interactions": n_inter}
    records_in["files"], n_used = account_files(raw, folder, used, issues)
    logger.info("pixelrec: %d items, %d images, %d interactions", len(items), len(images), len(interactions))
    return Ingested(
        issues.source,
        {
            "posts": conform(items, "posts"),
            "users": empty("users"),
            "comments": empty("comments"),
            "images": images,
            "interactions": interactions,
        },
        issues.frame(),
        records_in,
        {"files": n_used},
    )


def _interactions(raw: pd.DataFrame, items: pd.DataFrame, issues: Issues, key: str) -> pd.DataFrame:
    """Interactions with a known item and a plausible time; each other one is rejected, with one reason."""
    record = "row " + pd.Series(range(len(raw)), dtype="string", index=raw.index)
    stamp = parse_numbers(raw["timestamp"], record, issues, "interactions", key, "timestamp").astype("float64")
    unknown = ~raw["item_id"].isin(items["item_id"])
    no_time = stamp.isna() & ~unknown
    out_of_range = seconds_out_of_range(stamp) & ~unknown
    issues.add_many("interactions", key, record[unknown], "item_id", "interaction with an unknown item")
    issues.add_many("interactions", key, record[no_time], "timestamp", "no timestamp")
    issues.add_many(
        "interactions",
        key,
        record[out_of_range],
        "timestamp",
        TIME_OUT_OF_RANGE,
        values=raw.loc[out_of_range, "timestamp"],
    )
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
        "interactions",
    )


def _crowdtangle_time(text: pd.Series) -> pd.Series:
    """'2016-01-12 14:03:22 EST' (or ISO with an offset) → UTC."""
    parts = text.str.extract(r"^(?P<stamp>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})\s*(?P<zone>[A-Z]{3})?$")
    offset = parts["zone"].map(TZ_OFFSETS).fillna("+0000")
    direct = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    zoned = pd.to_datetime(parts["stamp"] + offset, utc=True, errors="coerce", format="%Y-%m-%d %H:%M:%S%z")
    return zoned.fillna(direct)


# The shapes of Facebook post URLs in CrowdTangle exports, tried in order; each captures the
# post's own id. (The export has no post-id column: "Facebook Id" is the page's id.)
POST_URL_PATTERNS = (
    r"/posts/([^/?#&]+)",  # /<page>/posts/<id>; the id is numeric, or 'pfbid…' since 2022
    r"/photos/(?:[a-z]+\.[^/?#]+/)?(\d+)",  # /<page>/photos/a.<album>/<id>/ (or pcb.<post>/, or none)
    r"/videos/(?:[^?#]*/)?(\d+)/?(?:[?#]|$)",  # /<page>/videos/<id>/, /<page>/videos/<slug>/<id>/
    r"[?&](?:story_fbid|fbid|v)=([^&#]+)",  # permalink.php?story_fbid=<id>&id=<page>, photo.php?fbid=, watch?v=
    r"/reel/(\d+)",
)


def facebook_post_number(urls: pd.Series) -> pd.Series:
    """The post's own id in each Facebook post URL; missing where no known shape matches."""
    number = pd.Series(pd.NA, index=urls.index, dtype="string")
    for pattern in POST_URL_PATTERNS:
        number = number.fillna(urls.str.extract(pattern, expand=False))
    return number


def url_hash(urls: pd.Series) -> pd.Series:
    """'url-' and the first 16 hex digits of the SHA-1 of each URL: an id that is stable across
    exports of the same post, for URLs whose shape is unknown."""
    digests = [None if pd.isna(u) else hashlib.sha1(u.encode("utf-8")).hexdigest()[:16] for u in urls]
    return ("url-" + pd.Series(digests, index=urls.index, dtype="string")).astype("string")


def blank_to_missing(text: pd.Series) -> pd.Series:
    """Text stripped of surrounding whitespace, with empty strings missing."""
    text = text.str.strip()
    return text.mask(text == "")


def crowdtangle_ids(urls: pd.Series, page_ids: pd.Series) -> pd.DataFrame:
    """Each post's page id (from "Facebook Id", else the URL's ``id=``), its native id (CrowdTangle's
    platform id '<page>_<post>', rebuilt from the URL; '<page>_url-<hash>' where the URL has no known
    shape; missing where there is no URL) and whether that id is a URL hash."""
    urls = blank_to_missing(urls)
    page = blank_to_missing(page_ids).fillna(urls.str.extract(r"[?&]id=(\d+)", expand=False))
    number = facebook_post_number(urls)
    hashed = number.isna() & urls.notna()
    post = number.fillna(url_hash(urls))
    native = (page + "_" + post).fillna(post).astype("string")
    return pd.DataFrame({"page_id": page, "native_id": native, "hashed": hashed.astype(bool)})


def read_crowdtangle(raw: RawFolder, params: dict) -> Ingested:
    """CrowdTangle export: posts.csv (+ comments.csv) and the images its Link column names."""
    issues = Issues("crowdtangle")
    folder = safe_folder(raw, issues)
    key = _find(folder, "posts.csv")
    required = ["Facebook Id", "User Name", "Followers at Posting", "Post Created", "URL", "Message", "Link"]
    required += list(CROWDTANGLE_COUNTS)
    posts, n_posts = read_csv(folder, key, issues, "posts", "URL", required)
    record = "URL=" + posts["URL"].fillna("")
    ids = crowdtangle_ids(posts["URL"], posts["Facebook Id"])
    posts["native_id"], posts["page_id"] = ids["native_id"], ids["page_id"]
    posts["posted_at"] = _crowdtangle_time(posts["Post Created"])
    hashed = ids["hashed"]
    reason = "no post id in URL: native id is a hash of the URL"
    issues.add_many("posts", key, record[hashed], "URL", reason, "repaired", posts.loc[hashed, "native_id"])
    no_url = posts["native_id"].isna()
    issues.add_many("posts", key, record[no_url], "URL", "post without URL: it cannot be identified")
    no_time = posts["posted_at"].isna() & ~no_url
    times = posts.loc[no_time, "Post Created"]
    issues.add_many("posts", key, record[no_time], "Post Created", "Post Created is not a time", values=times)
    out_of_range = times_out_of_range(posts["posted_at"]) & ~no_url
    created = posts.loc[out_of_range, "Post Created"]
    issues.add_many("posts", key, record[out_of_range], "Post Created", TIME_OUT_OF_RANGE, values=created)
    bad = no_url | no_time | out_of_range
    posts, record = posts[~bad], record[~bad]
    posts = reject_duplicates(posts, "native_id", record, issues, "posts", key)
    record = record.loc[posts.index]
    for col, out in CROWDTANGLE_COUNTS.items():
        posts[out] = parse_numbers(posts[col], record, issues, "posts", key, col)
    posts["post_id"] = source_id("crowdtangle", posts["native_id"])
    posts["user_id"] = source_id("crowdtangle", posts["page_id"])
    posts["source"] = "crowdtangle"
    posts["caption"] = posts["Message"]
    posts["tags"] = list_column([None] * len(posts), str.split, posts.index)
    followers = parse_numbers(posts["Followers at Posting"], record, issues, "posts", key, "Followers at Posting")
    # Links that are web addresses have no local file; relative ones point into the export.
    local = posts["Link"].where(~posts["Link"].fillna("").str.contains("://"))
    refs = pd.DataFrame({"post_id": posts["post_id"], "key": local})
    max_pixels = params.get("max_image_pixels", MAX_IMAGE_PIXELS)
    images, posts["image_path"] = inspect_images(refs, folder, issues, params["min_image_side"], max_pixels)

    # A page's profile: its latest follower count.
    users = (
        pd.DataFrame(
            {
                "native_id": posts["page_id"],
                "username": posts["User Name"],
                "followers": followers,
                "posted_at": posts["posted_at"],
            }
        )
        .sort_values("posted_at")
        .groupby("native_id")
        .last()
        .reset_index()
    )
    users["user_id"] = source_id("crowdtangle", users["native_id"])
    users["source"] = "crowdtangle"

    comments, n_comments, used = empty("comments"), 0, {key, *image_keys(folder)}
    if any(k.endswith("comments.csv") for k in folder):
        ckey = _find(folder, "comments.csv")
        used.add(ckey)
        raw_rows, n_comments = read_csv(
            folder, ckey, issues, "comments", "id", ["id", "post_id", "parent_id", "post_created", "text"]
        )
        comments = _comments(raw_rows, posts, issues, ckey)
    records_in = {"posts": n_posts, "images": count_image_files(folder), "comments": n_comments}
    records_in["files"], n_used = account_files(raw, folder, used, issues)
    logger.info("crowdtangle: %d posts, %d pages, %d comments", len(posts), len(users), len(comments))
    return Ingested(
        issues.source,
        {
            "posts": conform(posts, "posts"),
            "users": conform(users, "users"),
            "comments": comments,
            "images": images,
            "interactions": empty("interactions"),
        },
        issues.frame(),
        records_in,
        {"files": n_used},
    )


def _comments(raw: pd.DataFrame, posts: pd.DataFrame, issues: Issues, key: str) -> pd.DataFrame:
    """Comments on known posts, first of each id; a creation time out of range is set missing (logged)."""
    record = "id=" + raw["id"].fillna("")
    orphan = ~raw["post_id"].isin(posts["native_id"])
    issues.add_many("comments", key, record[orphan], "post_id", "comment on a post not in posts.csv")
    raw, record = raw[~orphan], record[~orphan]
    raw = reject_duplicates(raw, "id", record, issues, "comments", key)
    record = record.loc[raw.index]
    created = _crowdtangle_time(raw["post_created"])
    out_of_range = times_out_of_range(created)
    reason = f"{TIME_OUT_OF_RANGE}: set missing"
    issues.add_many(
        "comments", key, record[out_of_range], "post_created", reason, "repaired", raw.loc[out_of_range, "post_created"]
    )
    parent = raw["parent_id"].mask(raw["parent_id"].fillna("").str.strip() == "")
    return conform(
        pd.DataFrame(
            {
                "comment_id": source_id("crowdtangle", raw["id"]),
                "post_id": source_id("crowdtangle", raw["post_id"]),
                "parent_id": source_id("crowdtangle", parent).mask(parent.isna()),
                "source": "crowdtangle",
                "created_at": created.mask(out_of_range),
                "text": raw["text"],
            }
        ),
        "comments",
    )
