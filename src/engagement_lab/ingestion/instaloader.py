"""instaloader's layout → canonical tables: one folder per profile holding
``<date>_UTC.jpg``, ``<date>_UTC.txt`` (caption) and ``<date>_UTC.json(.xz)`` per post,
and ``<profile>_<id>.json(.xz)`` with the profile."""

from __future__ import annotations

import json
import logging
import lzma
import re

import pandas as pd

from engagement_lab.datasets import RawFolder
from engagement_lab.ingestion.common import (
    Ingested,
    Issues,
    conform,
    count_image_files,
    decode,
    empty,
    inspect_images,
    list_column,
    parse_numbers,
    read_text_file,
    reject_duplicates,
    repair_records,
    source_id,
)

logger = logging.getLogger(__name__)
POST_STEM = re.compile(r"^(?P<profile>[^/]+)/(?P<stem>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_UTC)\.json(?:\.xz)?$")


def caption_hashtags(captions: pd.Series) -> pd.Series:
    """The hashtags of each caption, without ``#`` (instaloader has no tag field; [] where missing)."""
    return list_column(captions, lambda c: re.findall(r"#(\w+)", c), captions.index)


def _load_json(data: bytes, key: str) -> dict:
    return json.loads(decode(lzma.decompress(data) if key.endswith(".xz") else data))


def _count(node: dict, *edges: str) -> int | None:
    """A like or comment count, from whichever edge this instaloader version wrote."""
    for edge in edges:
        if isinstance(node.get(edge), dict) and "count" in node[edge]:
            return node[edge]["count"]
    return None


def read_instaloader(folder: RawFolder, params: dict) -> Ingested:
    """Read every profile folder under the root."""
    issues = Issues("instaloader")
    rows, profiles = [], []
    meta_keys = sorted(k for k in folder if k.endswith((".json", ".json.xz")))
    n_posts = n_profiles = 0
    for key in meta_keys:
        is_post = POST_STEM.match(key)
        n_posts += bool(is_post)
        n_profiles += not is_post
        try:
            meta = _load_json(folder[key](), key)
            node = meta["node"]
        except (lzma.LZMAError, json.JSONDecodeError, KeyError, TypeError) as error:
            issues.add("posts" if is_post else "users", key, key, "json", "metadata does not parse", value=error)
            continue
        if not is_post:
            profiles.append({"native_id": str(node.get("id")), "username": node.get("username"),
                             "followers": _count(node, "edge_followed_by"), "following": _count(node, "edge_follow"),
                             "is_public": not node.get("is_private", False), "record": key})  # fmt: skip
            continue
        stem = f"{is_post['profile']}/{is_post['stem']}"
        caption_key = stem + ".txt"
        if caption_key in folder:
            caption = read_text_file(folder[caption_key](), issues, "posts", caption_key, key, "caption")
        else:
            edges = node.get("edge_media_to_caption", {}).get("edges", [])
            caption = edges[0]["node"]["text"] if edges else None
        owner = node.get("owner", {})
        rows.append({"native_id": node.get("shortcode"), "owner_id": owner.get("id"), "profile": is_post["profile"],
                     "posted_at": node.get("taken_at_timestamp"), "caption": caption,
                     "likes": _count(node, "edge_media_preview_like", "edge_liked_by"),
                     "comments": _count(node, "edge_media_to_comment", "edge_media_to_parent_comment"),
                     "key": stem + ".jpg", "record": key})  # fmt: skip
    repair_records(rows, issues, "posts", "*.json.xz", "native_id")
    posts = pd.DataFrame(rows, columns=["native_id", "owner_id", "profile", "posted_at", "caption", "likes",
                                        "comments", "key", "record"])  # fmt: skip
    record = posts["record"]
    no_id = posts["native_id"].isna() | posts["posted_at"].isna()
    issues.add_many("posts", "*.json.xz", record[no_id], "shortcode/taken_at_timestamp", "post without id or time")
    posts, record = posts[~no_id], record[~no_id]
    posts = reject_duplicates(posts, "native_id", record, issues, "posts", "*.json.xz")
    record = record.loc[posts.index]
    for col, edge in (("likes", "edge_media_preview_like"), ("comments", "edge_media_to_comment")):
        posts[col] = parse_numbers(posts[col].astype("string"), record, issues, "posts", "*.json.xz", edge)
    posts["posted_at"] = pd.to_datetime(posts["posted_at"].astype("int64"), unit="s", utc=True)
    posts["post_id"] = source_id("instaloader", posts["native_id"])
    # The owner id is in each post; the profile folder name stands in when it is not.
    posts["user_id"] = source_id("instaloader", posts["owner_id"].fillna(posts["profile"]).astype("string"))
    posts["source"] = "instaloader"
    posts["tags"] = caption_hashtags(posts["caption"])
    images, posts["image_path"] = inspect_images(posts[["post_id", "key"]], folder, issues, params["min_image_side"])

    users = pd.DataFrame(profiles, columns=["native_id", "username", "followers", "following", "is_public", "record"])
    users = reject_duplicates(users, "native_id", users["record"], issues, "users", "*.json.xz")
    users["user_id"] = source_id("instaloader", users["native_id"])
    users["source"] = "instaloader"
    logger.info("instaloader: %d posts, %d profiles, %d images", len(posts), len(users), len(images))
    return Ingested(
        issues.source,
        {"posts": conform(posts, "posts"), "users": conform(users, "users"), "comments": empty("comments"),
         "images": images, "interactions": empty("interactions")},
        issues.frame(),
        {"posts": n_posts, "users": n_profiles, "images": count_image_files(folder)},
    )  # fmt: skip
