"""CSV-based exports: PixelRec (items, interactions, covers) and Facebook CrowdTangle
(posts with reactions, comments, linked images) → canonical tables."""

from __future__ import annotations

import csv
import io
import logging

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
    inspect_images,
    list_column,
    parse_numbers,
    reject_duplicates,
    repair_records,
    source_id,
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


def read_csv(folder: RawFolder, key: str, issues: Issues, table: str, id_field: str,
             required: list[str]) -> pd.DataFrame:  # fmt: skip
    """A CSV as strings (nothing guessed), text repaired, required columns checked."""
    rows = list(csv.DictReader(io.StringIO(decode(folder[key]()))))
    repair_records(rows, issues, table, key, id_field)
    frame = pd.DataFrame.from_records(rows).astype("string") if rows else pd.DataFrame(columns=required)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise IngestionError(f"{issues.source}: {key} lacks columns {missing}; it has {list(frame.columns)}")
    return frame


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
    items = read_csv(
        folder, key, issues, "posts", "item_id", ["item_id", *PIXELREC_COUNTS, "title", "tag", "description"]
    )
    n_items = len(items)
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
    items["tags"] = list_column(items["tag"], lambda s: [t for t in s.split(",") if t], items.index)
    # PixelRec does not name the uploader: user_id stays missing, by design.
    refs = pd.DataFrame({"post_id": items["post_id"], "key": "cover/" + items["item_id"] + ".jpg"})
    images, items["image_path"] = inspect_images(refs, folder, issues, params["min_image_side"])

    interactions, n_inter = empty("interactions"), 0
    if any(k.endswith("interactions.csv") for k in folder):
        ikey = _find(folder, "interactions.csv")
        raw = read_csv(folder, ikey, issues, "interactions", "item_id", ["item_id", "user_id", "timestamp"])
        n_inter = len(raw)
        irecord = "row " + pd.Series(range(n_inter), dtype="string", index=raw.index)
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


def read_crowdtangle(folder: RawFolder, params: dict) -> Ingested:
    """CrowdTangle export: posts.csv (+ comments.csv) and the images its Link column names."""
    issues = Issues("crowdtangle")
    key = _find(folder, "posts.csv")
    required = ["Facebook Id", "User Name", "Followers at Posting", "Post Created", "URL", "Message", "Link",
                *CROWDTANGLE_COUNTS]  # fmt: skip
    posts = read_csv(folder, key, issues, "posts", "URL", required)
    n_posts = len(posts)
    record = "URL=" + posts["URL"].fillna("")
    # The post id is CrowdTangle's platform id '<page>_<post>', rebuilt from the post URL.
    post_number = posts["URL"].str.extract(r"/posts/([^/?#]+)")[0]
    posts["native_id"] = posts["Facebook Id"] + "_" + post_number
    posts["posted_at"] = _crowdtangle_time(posts["Post Created"])
    bad = posts["native_id"].isna() | posts["posted_at"].isna()
    issues.add_many("posts", key, record[posts["native_id"].isna()], "URL", "no post id in URL")
    issues.add_many("posts", key, record[posts["posted_at"].isna() & posts["native_id"].notna()], "Post Created",
                    "Post Created is not a time", values=posts.loc[posts["posted_at"].isna() & posts["native_id"].notna(),
                                                                   "Post Created"])  # fmt: skip
    posts, record = posts[~bad], record[~bad]
    posts = reject_duplicates(posts, "native_id", record, issues, "posts", key)
    record = record.loc[posts.index]
    for col, out in CROWDTANGLE_COUNTS.items():
        posts[out] = parse_numbers(posts[col], record, issues, "posts", key, col)
    posts["post_id"] = source_id("crowdtangle", posts["native_id"])
    posts["user_id"] = source_id("crowdtangle", posts["Facebook Id"])
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
        pd.DataFrame({"native_id": posts["Facebook Id"], "username": posts["User Name"], "followers": followers,
                      "posted_at": posts["posted_at"]})
        .sort_values("posted_at").groupby("native_id").last().reset_index()
    )  # fmt: skip
    users["user_id"] = source_id("crowdtangle", users["native_id"])
    users["source"] = "crowdtangle"

    comments, n_comments = empty("comments"), 0
    if any(k.endswith("comments.csv") for k in folder):
        ckey = _find(folder, "comments.csv")
        raw = read_csv(folder, ckey, issues, "comments", "id", ["id", "post_id", "parent_id", "post_created", "text"])
        n_comments = len(raw)
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
