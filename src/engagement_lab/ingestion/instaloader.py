"""instaloader's layout → canonical tables: one folder per profile holding
``<date>_UTC.jpg``, ``<date>_UTC.txt`` (caption) and ``<date>_UTC.json(.xz)`` per post,
and ``<profile>_<id>.json(.xz)`` with the profile.

A post's files may sit deeper inside its profile folder (``--dirname-pattern`` exports, an
``archive/`` kept by hand): a post's metadata is recognised by its file name at any depth, its
profile is the top folder, and its caption and image are the files of the same stem beside it.
Any other ``.json(.xz)`` is a profile's metadata. Metadata is decompressed to at most
``max_metadata_bytes`` (parameter; ``MAX_METADATA_BYTES`` by default): a larger file, such as a
decompression bomb, is rejected unread.
"""

from __future__ import annotations

import json
import logging
import lzma
import re

import pandas as pd

from engagement_lab.core.raw import RawFolder
from engagement_lab.ingestion.common import (
    MAX_IMAGE_PIXELS,
    Ingested,
    Issues,
    account_files,
    conform,
    count_image_files,
    decode,
    empty,
    image_keys,
    inspect_images,
    list_column,
    parse_numbers,
    read_text_file,
    reject_duplicates,
    repair_records,
    safe_folder,
    source_id,
    unix_times,
)

logger = logging.getLogger(__name__)
STEM = r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_UTC"
POST_STEM = re.compile(rf"^(?:(?P<dir>.+)/)?(?P<stem>{STEM})\.json(?:\.xz)?$")
# Files instaloader writes beside a post that are not the post's metadata (its comments, with --comments).
POST_EXTRA = re.compile(rf"(?:^|/){STEM}_[^/]*\.json(?:\.xz)?$")
# A post's metadata is a few kB; an instaloader profile's, with its pictures' URLs, some 100 kB.
MAX_METADATA_BYTES = 50 * 2**20
META_FILES = "*.json.xz"  # how issues about fields read from many metadata files name their file


class MetadataError(ValueError):
    """A metadata file that cannot be used: the quarantine's reason."""


def caption_hashtags(captions: pd.Series) -> pd.Series:
    """The hashtags of each caption, without ``#`` (instaloader has no tag field; [] where missing)."""
    return list_column(captions, lambda c: re.findall(r"#(\w+)", c), captions.index)


def unxz(data: bytes, limit: int, block: int = 1 << 20) -> bytes:
    """The decompressed bytes of one or more concatenated .xz streams, at most ``limit`` of them.

    Decompressed a ``block`` at a time, so that a bomb stops at ``limit`` bytes held, not twice that."""
    out, size = [], 0
    while data:
        decompressor = lzma.LZMADecompressor()
        chunk = decompressor.decompress(data, max_length=block)
        while True:
            size += len(chunk)
            if size > limit:
                raise MetadataError(f"metadata larger than {limit} bytes decompressed: not read")
            out.append(chunk)
            if decompressor.eof or decompressor.needs_input:
                break
            chunk = decompressor.decompress(b"", max_length=block)
        if not decompressor.eof:
            raise lzma.LZMAError("compressed data ends before the end-of-stream marker")
        data = decompressor.unused_data
    return b"".join(out)


def load_node(folder: RawFolder, key: str, limit: int) -> dict:
    """The ``node`` object of a metadata file, read and decompressed to at most ``limit`` bytes."""
    with folder.open(key) as stream:
        data = stream.read(limit + 1)  # xz never shrinks JSON less than this: a longer file is too large
    if len(data) > limit:
        raise MetadataError(f"metadata larger than {limit} bytes: not read")
    if key.endswith(".xz"):
        data = unxz(data, limit)
    meta = json.loads(decode(data))
    node = meta.get("node") if isinstance(meta, dict) else None
    if not isinstance(node, dict):
        raise MetadataError(f"metadata without a 'node' object (got {type(node).__name__})")
    return node


def _count(node: dict, *edges: str) -> object:
    """A like or comment count, from whichever edge this instaloader version wrote (checked later)."""
    for edge in edges:
        if isinstance(node.get(edge), dict) and "count" in node[edge]:
            return node[edge]["count"]
    return None


def _caption(node: dict) -> str | None:
    """The caption in the metadata, where its edges have the shape instaloader writes."""
    edges = node.get("edge_media_to_caption")
    edges = edges.get("edges") if isinstance(edges, dict) else None
    first = edges[0] if isinstance(edges, list) and edges and isinstance(edges[0], dict) else {}
    text = first.get("node", {}).get("text") if isinstance(first.get("node"), dict) else None
    return text if isinstance(text, str) else None


def _text_id(value: object) -> str | None:
    """An id as instaloader writes it (a string, or a number): anything else is no id."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) if str(value).strip() else None


def _post_row(node: dict, key: str, match: re.Match, folder: RawFolder, issues: Issues) -> dict:
    """One post's fields (raw: counts and time are checked on the whole table)."""
    stem = f"{match['dir']}/{match['stem']}" if match["dir"] else match["stem"]
    caption_key = stem + ".txt"
    if caption_key in folder:
        caption = read_text_file(folder[caption_key](), issues, "posts", caption_key, key, "caption")
    else:
        caption = _caption(node)
    owner = node.get("owner")
    if owner is not None and not isinstance(owner, dict):
        reason = "owner is not an object: the profile folder stands in"
        issues.add("posts", key, key, "owner", reason, "repaired", repr(owner)[:200])
    taken_at = node.get("taken_at_timestamp")
    return {
        "native_id": _text_id(node.get("shortcode")),
        "shortcode": node.get("shortcode"),
        "owner_id": _text_id(owner.get("id")) if isinstance(owner, dict) else None,
        "profile": match["dir"].split("/")[0] if match["dir"] else None,
        "posted_at": taken_at if isinstance(taken_at, int | float | str) and not isinstance(taken_at, bool) else None,
        "taken_at": taken_at,
        "caption": caption,
        "likes": _count(node, "edge_media_preview_like", "edge_liked_by"),
        "comments": _count(node, "edge_media_to_comment", "edge_media_to_parent_comment"),
        "key": stem + ".jpg",
        "record": key,
    }


def _profile_row(node: dict, key: str) -> dict:
    username = node.get("username")
    return {
        "native_id": _text_id(node.get("id")),
        "username": username if isinstance(username, str) else None,
        "followers": _count(node, "edge_followed_by"),
        "following": _count(node, "edge_follow"),
        "is_public": not node.get("is_private", False),
        "record": key,
    }


def _posts(rows: list[dict], issues: Issues) -> pd.DataFrame:
    """The posts table from the parsed metadata: a post without a usable shortcode or time is
    rejected (one reason each), counts are checked, ids are canonical."""
    repair_records(rows, issues, "posts", META_FILES, "native_id")
    columns = ["native_id", "shortcode", "owner_id", "profile", "posted_at", "taken_at", "caption"]
    columns += ["likes", "comments", "key", "record"]
    posts = pd.DataFrame(rows, columns=columns)
    record = posts["record"]
    no_id = posts["native_id"].isna()
    shortcodes = posts.loc[no_id, "shortcode"].map(repr)
    issues.add_many("posts", META_FILES, record[no_id], "shortcode", "post without a shortcode", values=shortcodes)
    seconds = pd.to_numeric(posts["posted_at"].astype("string"), errors="coerce")
    no_time = seconds.isna() & ~no_id
    values = posts.loc[no_time, "taken_at"].map(repr)
    reason = "taken_at_timestamp is not a unix time"
    issues.add_many("posts", META_FILES, record[no_time], "taken_at_timestamp", reason, values=values)
    keep = ~(no_id | no_time)
    posts, record = posts[keep], record[keep]
    posts["posted_at"] = unix_times(
        seconds[keep], record, issues, "posts", META_FILES, "taken_at_timestamp", action="rejected"
    )
    posts, record = posts[posts["posted_at"].notna()], record[posts["posted_at"].notna()]
    posts = reject_duplicates(posts, "native_id", record, issues, "posts", META_FILES)
    record = record.loc[posts.index]
    for col, edge in (("likes", "edge_media_preview_like"), ("comments", "edge_media_to_comment")):
        posts[col] = parse_numbers(posts[col].astype("string"), record, issues, "posts", META_FILES, edge)
    posts["post_id"] = source_id("instaloader", posts["native_id"])
    # The owner id is in each post; the profile folder name stands in when it is not.
    posts["user_id"] = source_id("instaloader", posts["owner_id"].fillna(posts["profile"]).astype("string"))
    posts["source"] = "instaloader"
    posts["tags"] = caption_hashtags(posts["caption"])
    return posts


def read_instaloader(raw: RawFolder, params: dict) -> Ingested:
    """Read every profile folder under the root."""
    issues = Issues("instaloader")
    folder = safe_folder(raw, issues)
    limit = params.get("max_metadata_bytes", MAX_METADATA_BYTES)
    rows, profiles, used = [], [], set(image_keys(folder))
    meta_keys = sorted(k for k in folder if k.endswith((".json", ".json.xz")) and not POST_EXTRA.search(k))
    n_posts = n_profiles = 0
    for key in meta_keys:
        is_post = POST_STEM.match(key)
        n_posts += bool(is_post)
        n_profiles += not is_post
        used.add(key)
        if is_post:
            used.add(key.removesuffix(".xz").removesuffix(".json") + ".txt")  # its caption, if there is one
        table = "posts" if is_post else "users"
        try:
            node = load_node(folder, key, limit)
        except MetadataError as error:
            issues.add(table, key, key, "json", str(error))
            continue
        except (lzma.LZMAError, json.JSONDecodeError, RecursionError) as error:
            issues.add(table, key, key, "json", "metadata does not parse", value=error)
            continue
        if is_post:
            rows.append(_post_row(node, key, is_post, folder, issues))
        else:
            profiles.append(_profile_row(node, key))
    posts = _posts(rows, issues)
    max_pixels = params.get("max_image_pixels", MAX_IMAGE_PIXELS)
    refs = posts[["post_id", "key"]]
    images, posts["image_path"] = inspect_images(refs, folder, issues, params["min_image_side"], max_pixels)

    users = pd.DataFrame(profiles, columns=["native_id", "username", "followers", "following", "is_public", "record"])
    no_id = users["native_id"].isna()
    issues.add_many("users", META_FILES, users.loc[no_id, "record"], "id", "profile without an id")
    users = users[~no_id]
    users = reject_duplicates(users, "native_id", users["record"], issues, "users", META_FILES)
    for col, edge in (("followers", "edge_followed_by"), ("following", "edge_follow")):
        users[col] = parse_numbers(users[col].astype("string"), users["record"], issues, "users", META_FILES, edge)
    users["user_id"] = source_id("instaloader", users["native_id"])
    users["source"] = "instaloader"
    records_in = {"posts": n_posts, "users": n_profiles, "images": count_image_files(folder)}
    records_in["files"], n_used = account_files(raw, folder, used, issues)
    logger.info("instaloader: %d posts, %d profiles, %d images", len(posts), len(users), len(images))
    return Ingested(
        issues.source,
        {
            "posts": conform(posts, "posts"),
            "users": conform(users, "users"),
            "comments": empty("comments"),
            "images": images,
            "interactions": empty("interactions"),
        },
        issues.frame(),
        records_in,
        {"files": n_used},
    )
