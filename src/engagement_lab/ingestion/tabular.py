"""CSV-based exports: PixelRec (items, interactions, covers) and Facebook CrowdTangle
(posts with reactions, comments, linked images) → canonical tables."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from collections.abc import Iterator

import pandas as pd

from engagement_lab.datasets import RawFolder
from engagement_lab.ingestion.common import (
    Ingested,
    IngestionError,
    Issues,
    conform,
    count_image_files,
    decode,
    empty,
    fix_text,
    inspect_images,
    list_column,
    parse_numbers,
    reject_duplicates,
    repair_records,
    source_id,
    split_tags,
)

logger = logging.getLogger(__name__)
PIXELREC_COUNTS = {
    "view_number": "views", "comment_number": "comments", "thumbup_number": "likes", "share_number": "shares",
    "coin_number": "coins", "favorite_number": "favorites", "barrage_number": "barrage",
}  # fmt: skip
CROWDTANGLE_COUNTS = {
    "Likes": "likes", "Comments": "comments", "Shares": "shares", "Haha": "reaction_haha", "Sad": "reaction_sorry",
    "Angry": "reaction_angry", "Wow": "reaction_wow", "Love": "reaction_love",
}  # fmt: skip
# CrowdTangle writes times in the dashboard's zone, named by its abbreviation.
TZ_OFFSETS = {"UTC": "+0000", "GMT": "+0000", "EST": "-0500", "EDT": "-0400", "CST": "-0600", "CDT": "-0500",
              "MST": "-0700", "MDT": "-0600", "PST": "-0800", "PDT": "-0700"}  # fmt: skip


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


def csv_rows(text: str, source: str, key: str) -> Iterator[tuple[int, list[str]]]:
    """The (first line, fields) of each row of a CSV, the header first, read with ``newline=""``
    semantics: quoted fields keep their line breaks, a bare CR inside a field stays a CR.
    A row the csv module cannot parse ends the read with an error naming the file and line."""
    text, hidden = hide_bare_cr(text)
    reader = csv.reader(io.StringIO(text, newline=""))
    start, n = 1, 0  # the line a record starts on (a quoted field may span several); rows so far
    try:
        for fields in reader:
            if fields:  # a blank line is no record
                yield start, [v.replace(_BARE_CR, "\r") for v in fields] if hidden else fields
                n += 1
            start = reader.line_num + 1
    except csv.Error as error:
        raise IngestionError(
            f"{source}: {key} record {n} (from line {start}) does not parse at line {reader.line_num}: {error}"
        ) from error


def read_csv(
    folder: RawFolder, key: str, issues: Issues, table: str, id_field: str, required: list[str]
) -> tuple[pd.DataFrame, int]:
    """A CSV as strings (nothing guessed), text repaired, required columns checked.

    Returns the frame and the number of records read: a row whose field count differs from the
    header's (often a line break in an unquoted field) is rejected, naming its line."""
    rows = csv_rows(decode(folder[key]()), issues.source, key)
    header = next(rows, (0, []))[1]
    if not header:  # an empty file: no records
        return pd.DataFrame(columns=required, dtype="string"), 0
    missing = [c for c in required if c not in header]
    if missing:
        raise IngestionError(f"{issues.source}: {key} lacks columns {missing}; it has {header}")
    records, n = [], 0
    for line, fields in rows:
        n += 1
        if len(fields) == len(header):
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


def read_pixelrec(folder: RawFolder, params: dict) -> Ingested:
    """PixelRec: item_info.csv (counts as float text, NaN), interactions.csv, cover/<item_id>.jpg."""
    issues = Issues("pixelrec")
    key = _find(folder, "item_info.csv")
    items, n_items = read_csv(
        folder, key, issues, "posts", "item_id", ["item_id", *PIXELREC_COUNTS, "title", "tag", "description"]
    )
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
    images, items["image_path"] = inspect_images(refs, folder, issues, params["min_image_side"])

    interactions, n_inter = empty("interactions"), 0
    if any(k.endswith("interactions.csv") for k in folder):
        ikey = _find(folder, "interactions.csv")
        raw, n_inter = read_csv(folder, ikey, issues, "interactions", "item_id", ["item_id", "user_id", "timestamp"])
        irecord = "row " + pd.Series(range(len(raw)), dtype="string", index=raw.index)
        stamp = parse_numbers(raw["timestamp"], irecord, issues, "interactions", ikey, "timestamp")
        unknown = ~raw["item_id"].isin(items["item_id"])
        bad = unknown | stamp.isna()
        issues.add_many("interactions", ikey, irecord[unknown], "item_id", "interaction with an unknown item")
        issues.add_many("interactions", ikey, irecord[stamp.isna() & ~unknown], "timestamp", "no timestamp")
        interactions = conform(
            pd.DataFrame({"post_id": source_id("pixelrec", raw.loc[~bad, "item_id"]),
                          "user_id": source_id("pixelrec-viewer", raw.loc[~bad, "user_id"]), "source": "pixelrec",
                          "timestamp": pd.to_datetime(stamp[~bad], unit="s", utc=True)}),
            "interactions",
        )  # fmt: skip
    logger.info("pixelrec: %d items, %d images, %d interactions", len(items), len(images), len(interactions))
    return Ingested(
        issues.source,
        {"posts": conform(items, "posts"), "users": empty("users"), "comments": empty("comments"), "images": images,
         "interactions": interactions},
        issues.frame(),
        {"posts": n_items, "images": count_image_files(folder, "cover/"), "interactions": n_inter},
    )  # fmt: skip


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


def read_crowdtangle(folder: RawFolder, params: dict) -> Ingested:
    """CrowdTangle export: posts.csv (+ comments.csv) and the images its Link column names."""
    issues = Issues("crowdtangle")
    key = _find(folder, "posts.csv")
    required = ["Facebook Id", "User Name", "Followers at Posting", "Post Created", "URL", "Message", "Link",
                *CROWDTANGLE_COUNTS]  # fmt: skip
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
    bad = no_url | no_time
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
    images, posts["image_path"] = inspect_images(refs, folder, issues, params["min_image_side"])

    # A page's profile: its latest follower count.
    users = (
        pd.DataFrame({"native_id": posts["page_id"], "username": posts["User Name"], "followers": followers,
                      "posted_at": posts["posted_at"]})
        .sort_values("posted_at").groupby("native_id").last().reset_index()
    )  # fmt: skip
    users["user_id"] = source_id("crowdtangle", users["native_id"])
    users["source"] = "crowdtangle"

    comments, n_comments = empty("comments"), 0
    if any(k.endswith("comments.csv") for k in folder):
        ckey = _find(folder, "comments.csv")
        raw, n_comments = read_csv(
            folder, ckey, issues, "comments", "id", ["id", "post_id", "parent_id", "post_created", "text"]
        )
        crecord = "id=" + raw["id"].fillna("")
        orphan = ~raw["post_id"].isin(posts["native_id"])
        issues.add_many("comments", ckey, crecord[orphan], "post_id", "comment on a post not in posts.csv")
        raw, crecord = raw[~orphan], crecord[~orphan]
        raw = reject_duplicates(raw, "id", crecord, issues, "comments", ckey)
        parent = raw["parent_id"].mask(raw["parent_id"].fillna("").str.strip() == "")
        comments = conform(
            pd.DataFrame({"comment_id": source_id("crowdtangle", raw["id"]), "post_id": source_id("crowdtangle", raw["post_id"]),
                          "parent_id": source_id("crowdtangle", parent).mask(parent.isna()), "source": "crowdtangle",
                          "created_at": _crowdtangle_time(raw["post_created"]), "text": raw["text"]}),
            "comments",
        )  # fmt: skip
    logger.info("crowdtangle: %d posts, %d pages, %d comments", len(posts), len(users), len(comments))
    return Ingested(
        issues.source,
        {"posts": conform(posts, "posts"), "users": conform(users, "users"), "comments": comments, "images": images,
         "interactions": empty("interactions")},
        issues.frame(),
        {"posts": n_posts, "images": count_image_files(folder, "images/"), "comments": n_comments},
    )  # fmt: skip
