"""New posts to score: read from an instaloader folder (through the ingestion adapter) or from a CSV of
image path, caption and user id, and checked row by row.

Every input row comes out exactly once, in input order (a folder's: profile, then date), with ``status`` ``"ok"`` (to be scored) or
``"error"`` and a ``reason`` naming the problem (an unreadable image with its path and the decoder's
message, an empty caption, metadata that does not parse); nothing is dropped silently.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from engagement_lab.core.raw import RawFolder
from engagement_lab.ingestion.common import ImageProblem, IngestionError, decode, fix_text, image_size
from engagement_lab.ingestion.instaloader import POST_STEM, read_instaloader
from engagement_lab.ingestion.tabular import CUT, csv_rows

logger = logging.getLogger(__name__)

COLUMNS = ["row", "post_ref", "user_id", "posted_at", "caption", "image_path", "status", "reason"]
CSV_COLUMNS = ("image_path", "caption", "user_id")


class PredictInputError(ValueError):
    """The new posts cannot be read at all (no rows, a CSV without its columns): a named problem."""


def posts_frame(rows: list[dict]) -> pd.DataFrame:
    """Checked rows (:func:`check_post`'s dicts) as the posts table: ``row`` in input order, ``posted_at``
    parsed as UTC (a time that does not parse is missing), text columns typed ``string``."""
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
    """The reason an image cannot be scored (decoded fully, as ingestion does; a decompression bomb
    is refused from its header), or None."""
    try:
        width, height = image_size(data)
    except ImageProblem as problem:
        detail = problem.value if problem.reason == "image does not decode" else f"{problem.reason} ({problem.value})"
        return f"image unreadable: {path}: {detail}"
    if min(width, height) < min_side:
        return f"image unreadable: {path}: smaller than {min_side} px ({width}x{height})"
    return None


def _image_issues(issues: pd.DataFrame, folder: RawFolder) -> tuple[dict[str, str], dict[str, str]]:
    """Per post id, the key of its image and the reason it cannot be used, from the adapter's issues."""
    image_key, image_issue = {}, {}
    columns = ["record", "file", "reason", "value"]
    for record, file, reason, value in issues.loc[issues["field"] == "image", columns].itertuples(index=False):
        image_key.setdefault(record, file)
        path = folder.path(file)
        if reason.startswith("image file missing"):
            image_issue[record] = f"image missing: {path} does not exist"
        elif reason == "image does not decode":
            image_issue[record] = f"image unreadable: {path}: {value if isinstance(value, str) and value else reason}"
        else:  # too small, too large: the reason and the size
            image_issue[record] = f"image unreadable: {path}: {reason} ({value})"
    return image_key, image_issue


def _error_row(post_ref: str, reason: str) -> dict:
    """A row for an input that cannot be scored at all: only its reference and the reason."""
    return {
        "post_ref": post_ref,
        "user_id": None,
        "posted_at": None,
        "caption": None,
        "image_path": None,
        "status": "error",
        "reason": reason,
    }


def read_folder(folder: RawFolder, source: str, min_side: int) -> pd.DataFrame:
    """An instaloader folder → one row per post metadata file, through the ingestion adapter.

    The adapter's issue log gives each row's problem: an image that does not decode, is too small or
    too large (a decompression bomb) or is missing; metadata that does not parse, is too large or
    lacks its id; a duplicate shortcode; a metadata file that is a symlink out of the folder."""
    if not len(folder):
        raise PredictInputError(
            f"no new posts: the folder {folder.root} is empty or missing "
            "(put yours in data/01_raw/new_posts/ or point raw_new_posts at them; the demo writes an example)"
        )
    ingested = read_instaloader(folder, {"min_image_side": min_side})
    posts, issues = ingested.tables["posts"], ingested.issues
    # The adapter keys posts by id; its issues name the post id (images) or the metadata file (posts).
    root = folder.root.rstrip("/") + "/"
    image_key, image_issue = _image_issues(issues, folder)
    for pid, path in zip(posts["post_id"], posts["image_path"], strict=True):
        if isinstance(path, str):
            image_key[pid] = str(path).removeprefix(root)
    stems = {key: key.removesuffix(".xz").removesuffix(".json") for key in folder}
    rows = []
    for post in posts.itertuples(index=False):
        reason = image_issue.get(post.post_id) or check_caption(post.caption)
        key = image_key.get(post.post_id)
        image_path = post.image_path if isinstance(post.image_path, str) else None
        rows.append(
            {
                "post_ref": key.rsplit(".", 1)[0] if key else str(post.post_id),
                "user_id": post.user_id,
                "posted_at": post.posted_at,
                "caption": post.caption,
                "image_path": image_path,
                "status": "error" if reason else "ok",
                "reason": reason or "",
            }
        )
    rejected = issues[(issues["table"] == "posts") & (issues["action"] == "rejected")]
    for record, field, reason, value in rejected[["record", "field", "reason", "value"]].itertuples(index=False):
        detail = f" ({value})" if isinstance(value, str) and value else ""
        rows.append(_error_row(stems.get(record, record), f"post rejected: {field}: {reason}{detail}"))
    # A post's metadata file that was never read (a symlink out of the folder) is a post too.
    unread = issues[
        (issues["table"] == "files") & (issues["action"] == "rejected") & issues["file"].str.match(POST_STEM)
    ]
    for file, reason in unread[["file", "reason"]].itertuples(index=False):
        rows.append(_error_row(file.removesuffix(".xz").removesuffix(".json"), f"post rejected: file: {reason}"))
    if ingested.records_in["posts"] + len(unread) != len(rows):
        raise PredictInputError(f"{folder.root}: {ingested.records_in['posts']} post files but {len(rows)} rows out")
    orphans = issues[issues["reason"] == "image file belongs to no post"]
    if len(orphans):
        shown = ", ".join(orphans["file"].head(5))
        logger.warning(
            "%d image files in %s belong to no post and are not scored: %s", len(orphans), folder.root, shown
        )
    frame = posts_frame(sorted(rows, key=lambda r: str(r["post_ref"])))  # folder order: profile, then date
    n_errors = int((frame["status"] == "error").sum())
    logger.info("predict: %d new posts read from %s (%d with a problem)", len(frame), folder.root, n_errors)
    return frame


def _read_image(folder: RawFolder, image_path: str, min_side: int) -> tuple[str | None, str | None]:
    """Where a CSV row's image is, and the reason it cannot be scored (None when it can)."""
    key = image_path.strip()
    if not key:
        return None, "image missing: no image_path given"
    path = key if Path(key).is_absolute() else folder.path(key)
    if key in folder:
        data = folder[key]()
    elif Path(path).is_file():
        data = Path(path).read_bytes()
    else:
        return path, f"image missing: {path} does not exist"
    return path, check_image(data, path, min_side)


def check_post(record: dict[str, str], ref: str, folder: RawFolder, source: str, min_side: int) -> dict:
    """One CSV record (column → text: ``image_path``, ``caption``, ``user_id``, optional ``post_ref`` and
    ``posted_at``) as a row to score, or an error row with the first problem found: no user, an image that is
    missing or does not decode (or is a decompression bomb, or too small), an empty caption. The served
    models (``predict.serving``) check each request row with it too."""
    image_path, caption, user = (record.get(c) or "" for c in CSV_COLUMNS)
    user = user.strip()
    path, image_reason = _read_image(folder, image_path, min_side)
    reason = ("missing user_id" if not user else None) or image_reason or check_caption(caption)
    user_id = user if not user or ":" in user else f"{source}:{user}"
    return {
        "post_ref": record.get("post_ref") or ref,
        "user_id": user_id or None,
        "posted_at": record.get("posted_at") or None,
        "caption": caption,
        "image_path": path,
        "status": "error" if reason else "ok",
        "reason": reason or "",
    }


def read_csv(folder: RawFolder, source: str, min_side: int) -> pd.DataFrame:
    """A folder holding one CSV with columns image_path, caption, user_id (optional post_ref, posted_at).

    A relative image path is read from the CSV's folder, an absolute one from disk. A user id without
    a ``<source>:`` prefix is taken as the native id of ``source`` (the models' users). The CSV is read
    as ingestion reads one (bytes that are not UTF-8 decoded as latin-1, a byte-order mark dropped): a
    row with another number of fields than the header, and each line after a quote that never closes,
    is an error row naming its line."""
    tables = sorted(k for k in folder if k.lower().endswith(".csv"))
    if len(tables) != 1:
        raise PredictInputError(
            f"{folder.root} must hold exactly one .csv of new posts "
            f"(columns {', '.join(CSV_COLUMNS)}); found {tables or 'none'}"
        )
    key = tables[0]
    try:
        rows = list(csv_rows(decode(folder[key]()), "predict", folder.path(key)))
    except IngestionError as error:
        raise PredictInputError(str(error)) from error
    header = [fix_text(h) for h in rows[0].fields] if rows and not rows[0].cut else []
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise PredictInputError(
            f"{folder.path(key)} lacks the columns {missing} (has {header}); need {', '.join(CSV_COLUMNS)}"
        )
    out = []
    for i, (line, fields, cut) in enumerate(rows[1:]):
        ref = f"{key} row {i + 1}"
        if cut:
            out.append(_error_row(ref, f"{CUT}: not read (line {line})"))
        elif len(fields) != len(header):
            out.append(_error_row(ref, f"row has {len(fields)} fields, the header {len(header)} (line {line})"))
        else:
            record = dict(zip(header, (fix_text(v) for v in fields), strict=True))
            out.append(check_post(record, ref, folder, source, min_side))
    if not out:
        raise PredictInputError(f"{folder.path(key)} has no rows")
    frame = posts_frame(out)
    n_errors = int((frame["status"] == "error").sum())
    logger.info("predict: %d new posts read from %s (%d with a problem)", len(frame), folder.path(key), n_errors)
    return frame
