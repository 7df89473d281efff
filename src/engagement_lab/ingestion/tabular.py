"""CSV-based exports: PixelRec (items, interactions, covers) and Facebook CrowdTangle
(posts with reactions, comments, linked images) → canonical tables."""

from __future__ import annotations

import hashlib
import logging

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
    empty,
    image_keys,
    inspect_images,
    list_column,
    parse_numbers,
    reject_duplicates,
    safe_folder,
    source_id,
    split_tags,
    times_out_of_range,
)
from engagement_lab.ingestion.csvfile import CUT, csv_rows, read_csv  # noqa: F401 (predict reads CUT, csv_rows here)
from engagement_lab.ingestion.interactions import stream_interactions

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

    interactions, n_inter, n_kept, used = empty("interactions"), 0, 0, {key, *image_keys(folder)}
    if any(k.endswith("interactions.csv") for k in folder):
        ikey = _find(folder, "interactions.csv")
        used.add(ikey)
        interactions, n_inter, n_kept = read_interactions(folder, ikey, items["item_id"], issues, params)
    records_in = {"posts": n_items, "images": count_image_files(folder), "interactions": n_inter}
    records_in["files"], n_used = account_files(raw, folder, used, issues)
    logger.info("pixelrec: %d items, %d images, %d interactions", len(items), len(images), n_kept)
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
        {"files": n_used, "interactions": n_kept},
    )


def read_interactions(
    folder: RawFolder, key: str, item_ids: pd.Series, issues: Issues, params: dict
) -> tuple[object, int, int]:
    """The canonical interactions, the records read and the rows kept: streamed into a staged table, or with
    ``interactions_engine: dask`` a lazy Dask frame (``ingestion.dask_interactions``)."""
    if params.get("interactions_engine", "pandas") == "dask":
        from engagement_lab.ingestion.dask_interactions import read_interactions_dask

        return read_interactions_dask(folder, key, item_ids, issues, params)
    staged, n_read = stream_interactions(folder, key, item_ids, issues, params)
    return staged, n_read, len(staged)


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
