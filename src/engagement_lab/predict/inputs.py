"""New posts to score: read from an instaloader folder (through the ingestion adapter) or from a CSV of
image path, caption and user id, and checked row by row.

Every input row comes out exactly once, in input order (a folder's: profile, then date), with ``status`` ``"ok"`` (to be scored) or
``"error"`` and a ``reason`` naming the problem (an unreadable image with its path and the decoder's
message, an empty caption, metadata that does not parse); nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from engagement_lab.datasets import RawFolder
from engagement_lab.ingestion.instaloader import read_instaloader

logger = logging.getLogger(__name__)

COLUMNS = ["row", "post_ref", "user_id", "posted_at", "caption", "image_path", "status", "reason"]
CSV_COLUMNS = ("image_path", "caption", "user_id")


class PredictInputError(ValueError):
    """The new posts cannot be read at all (no rows, a CSV without its columns): a named problem."""


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["row"] = np.arange(len(frame), dtype=np.int64)
    frame["posted_at"] = pd.to_datetime(frame["posted_at"], utc=True, errors="coerce")
    for col in ("post_ref", "user_id", "caption", "image_path", "status", "reason"):
        frame[col] = frame[col].astype("string")
    return frame


def check_caption(caption: object) -> str | None:
    """The reason a caption cannot be scored, or None."""
    if pd.isna(caption):
        return "empty caption: the post has no caption"
    if not str(caption).strip():
        return "empty caption: the caption is blank"
    return None


def check_image(data: bytes, path: str, min_side: int) -> str | None:
    """The reason an image cannot be scored (decoded fully, as ingestion does), or None."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            width, height = image.size
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        return f"image unreadable: {path}: {error}"
    if min(width, height) < min_side:
        return f"image unreadable: {path}: smaller than {min_side} px ({width}x{height})"
    return None


def read_folder(folder: RawFolder, source: str, min_side: int) -> pd.DataFrame:
    """An instaloader folder → one row per post metadata file, through the ingestion adapter.

    The adapter's issue log gives each row's problem: an image that does not decode, is too small or
    is missing; metadata that does not parse or lacks its id; a duplicate shortcode."""
    if not len(folder):
        raise PredictInputError(f"no new posts: the folder {folder.root} is empty or missing "
                                "(write one with `kedro run --pipelines=sample_world`, or point raw_new_posts at yours)")  # fmt: skip
    ingested = read_instaloader(folder, {"min_image_side": min_side})
    posts, issues = ingested.tables["posts"], ingested.issues
    # The adapter keys posts by id; its issues name the post id (images) or the metadata file (posts).
    root = folder.root.rstrip("/") + "/"
    image_key = {pid: str(path).removeprefix(root) for pid, path in zip(posts["post_id"], posts["image_path"],
                                                                        strict=True) if isinstance(path, str)}  # fmt: skip
    image_issue = {}
    for record, file, reason, value in issues.loc[issues["field"] == "image", ["record", "file", "reason", "value"]].itertuples(index=False):  # fmt: skip
        image_key.setdefault(record, file)
        path = folder.path(file)
        if reason.startswith("image file missing"):
            image_issue[record] = f"image missing: {path} does not exist"
        elif reason.startswith("image smaller"):
            image_issue[record] = f"image unreadable: {path}: {reason} ({value})"
        else:
            image_issue[record] = f"image unreadable: {path}: {value if isinstance(value, str) and value else reason}"
    stems = {key: key.removesuffix(".xz").removesuffix(".json") for key in folder}
    rows = []
    for post in posts.itertuples(index=False):
        reason = image_issue.get(post.post_id) or check_caption(post.caption)
        key = image_key.get(post.post_id)
        rows.append({"post_ref": key.rsplit(".", 1)[0] if key else str(post.post_id), "user_id": post.user_id,
                     "posted_at": post.posted_at, "caption": post.caption,
                     "image_path": post.image_path if isinstance(post.image_path, str) else None,
                     "status": "error" if reason else "ok", "reason": reason or ""})  # fmt: skip
    rejected = issues[(issues["table"] == "posts") & (issues["action"] == "rejected")]
    for record, field, reason, value in rejected[["record", "field", "reason", "value"]].itertuples(index=False):
        detail = f" ({value})" if isinstance(value, str) and value else ""
        rows.append({"post_ref": stems.get(record, record), "user_id": None, "posted_at": None, "caption": None,
                     "image_path": None, "status": "error", "reason": f"post rejected: {field}: {reason}{detail}"})  # fmt: skip
    if ingested.records_in["posts"] != len(rows):
        raise PredictInputError(f"{folder.root}: {ingested.records_in['posts']} post files but {len(rows)} rows out")
    orphans = issues[issues["reason"] == "image file belongs to no post"]
    if len(orphans):
        logger.warning("%d image files in %s belong to no post and are not scored: %s", len(orphans), folder.root,
                       ", ".join(orphans["file"].head(5)))  # fmt: skip
    frame = _frame(sorted(rows, key=lambda r: str(r["post_ref"])))  # folder order: profile, then date
    logger.info("predict: %d new posts read from %s (%d with a problem)", len(frame), folder.root,
                int((frame["status"] == "error").sum()))  # fmt: skip
    return frame


def read_csv(folder: RawFolder, source: str, min_side: int) -> pd.DataFrame:
    """A folder holding one CSV with columns image_path, caption, user_id (optional post_ref, posted_at).

    A relative image path is read from the CSV's folder, an absolute one from disk. A user id without
    a ``<source>:`` prefix is taken as the native id of ``source`` (the models' users)."""
    tables = sorted(k for k in folder if k.lower().endswith(".csv"))
    if len(tables) != 1:
        raise PredictInputError(f"{folder.root} must hold exactly one .csv of new posts "
                                f"(columns {', '.join(CSV_COLUMNS)}); found {tables or 'none'}")  # fmt: skip
    text = folder[tables[0]]().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise PredictInputError(f"{folder.path(tables[0])} lacks the columns {missing} "
                                f"(has {reader.fieldnames}); need {', '.join(CSV_COLUMNS)}")  # fmt: skip
    rows = []
    for i, record in enumerate(reader):
        image_path, caption, user = (record.get(c) or "" for c in CSV_COLUMNS)
        user = user.strip()
        reason = None
        if not user:
            reason = "missing user_id"
        if not image_path.strip():
            reason = reason or "image missing: no image_path given"
            path = None
        else:
            key = image_path.strip()
            path = key if Path(key).is_absolute() else folder.path(key)
            if key in folder:
                data = folder[key]()
            elif Path(path).is_file():
                data = Path(path).read_bytes()
            else:
                data = None
                reason = reason or f"image missing: {path} does not exist"
            if data is not None:
                reason = reason or check_image(data, path, min_side)
        reason = reason or check_caption(caption)
        user_id = user if not user or ":" in user else f"{source}:{user}"
        rows.append({"post_ref": record.get("post_ref") or f"{tables[0]} row {i + 1}", "user_id": user_id or None,
                     "posted_at": record.get("posted_at") or None, "caption": caption, "image_path": path,
                     "status": "error" if reason else "ok", "reason": reason or ""})  # fmt: skip
    if not rows:
        raise PredictInputError(f"{folder.path(tables[0])} has no rows")
    frame = _frame(rows)
    logger.info("predict: %d new posts read from %s (%d with a problem)", len(frame), folder.path(tables[0]),
                int((frame["status"] == "error").sum()))  # fmt: skip
    return frame
