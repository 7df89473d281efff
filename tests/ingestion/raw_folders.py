"""Small raw folders in the published layouts, written file by file for the reader tests."""

from __future__ import annotations

import csv
import io
import json
import lzma
import struct
import zlib
from pathlib import Path

from PIL import Image

from engagement_lab.core.raw import RawFolder
from engagement_lab.datasets import RawFolderDataset
from engagement_lab.ingestion.tabular import PIXELREC_COLUMNS

SMPD_PIDS = ["101", "102", "103"]
SMPD_LABELS = ["1.5", "2.25", "3.0"]
CROWDTANGLE_COLUMNS = [
    "Page Name",
    "User Name",
    "Facebook Id",
    "Followers at Posting",
    "Post Created",
    "Likes",
    "Comments",
    "Shares",
    "Love",
    "Wow",
    "Haha",
    "Sad",
    "Angry",
    "Care",
    "URL",
    "Message",
    "Link",
]


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``{relative path: text or bytes}`` under ``root``; text as UTF-8, line endings untouched."""
    for key, content in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return root


def load(root: Path) -> RawFolder:
    """The folder as the raw_<source> catalog entry gives it to a reader."""
    return RawFolderDataset(path=str(root)).load()


def jpeg(side: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (200, 40, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


def csv_text(header: list[str], rows: list[list[str]], line_end: str = "\n") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=line_end).writerows([header, *rows])
    return buffer.getvalue()


def smpd_files(
    meta: str = "train_allmetadata_json", side_files_in: str = "", image_list: str = "train_img_filepath.txt"
) -> dict[str, str | bytes]:
    """Three posts of one user; labels and the image list at the root (``side_files_in=""``) or in
    the folder ``side_files_in``, the image list under the name ``image_list``."""
    uid = "55@N00"

    def rows(**fields: str) -> str:
        return json.dumps([{"Pid": pid, "Uid": uid, **fields} for pid in SMPD_PIDS])

    user = dict(
        photo_firstdate="1300000000",
        photo_firstdatetaken="1300000000",
        photo_count="10",
        ispro="0",
        canbuypro="1",
        timezone_offset="0",
        timezone_timezone_id="UTC",
        user_description="0.1,0.2",
        location_description="\n",
    )
    prefix = f"{side_files_in}/" if side_files_in else ""
    files: dict[str, str | bytes] = {
        f"{meta}/train_category.json": rows(Category="Food", Subcategory="Cake", Concept="cake"),
        f"{meta}/train_text.json": rows(Title="a cake", Alltags="cake sweet"),
        f"{meta}/train_temporalspatial_information.json": rows(Postdate="1451606400"),
        f"{meta}/train_additional_information.json": rows(Pathalias="alice"),
        f"{meta}/train_user_data.json": rows(**user),
        f"{prefix}train_label.txt": "\n".join(SMPD_LABELS) + "\n",
        f"{prefix}{image_list}": "".join(f"train/{uid}/{pid}.jpg\n" for pid in SMPD_PIDS),
    }
    files.update({f"train/{uid}/{pid}.jpg": jpeg() for pid in SMPD_PIDS})
    return files


def smpd_distinct_files() -> dict[str, str | bytes]:
    """``smpd_files`` with a distinct title and Postdate per post (14516<Pid>00), so that a misaligned
    row shows."""
    files = smpd_files()
    for name, field, value in (
        ("train_text.json", "Title", "title {}"),
        ("train_temporalspatial_information.json", "Postdate", "14516{}00"),
    ):
        rows = json.loads(files[f"train_allmetadata_json/{name}"])
        for row in rows:
            row[field] = value.format(row["Pid"])
        files[f"train_allmetadata_json/{name}"] = json.dumps(rows)
    return files


def pixelrec_folder(n: int = 3) -> dict[str, str | bytes]:
    """PixelRec: ``n`` items (ids 1..n) with their covers."""
    rows = [pixelrec_row(str(i), "a") for i in range(1, n + 1)]
    return {"item_info.csv": csv_text(PIXELREC_COLUMNS, rows)} | {f"cover/{i}.jpg": jpeg() for i in range(1, n + 1)}


def crowdtangle_folder(n: int = 3) -> dict[str, str | bytes]:
    """CrowdTangle: ``n`` posts (123_1..123_n), each linking a local image under images/."""
    rows = [crowdtangle_row(f"https://www.facebook.com/123/posts/{i}", f"post {i}") for i in range(1, n + 1)]
    for i, row in enumerate(rows, 1):
        row[-1] = f"images/{i}.jpg"
    return {"posts.csv": csv_text(CROWDTANGLE_COLUMNS, rows)} | {f"images/{i}.jpg": jpeg() for i in range(1, n + 1)}


def crowdtangle_row(url: str, message: str = "hello", page: str = "123") -> list[str]:
    return [
        "Page",
        "page",
        page,
        "1000",
        "2021-03-01 10:00:00 UTC",
        "5",
        "1",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        url,
        message,
        "https://example.com/image.jpg",
    ]


def pixelrec_row(item_id: str, tag: str) -> list[str]:
    return [item_id, "10.0", "1.0", "2.0", "0.0", "0.0", "1.0", "0.0", f"title {item_id}", tag, "a description"]


INSTALOADER_STEMS = ["2021-03-01_10-00-00_UTC", "2021-03-02_10-00-00_UTC"]
INSTALOADER_TAKEN_AT = [1614592800, 1614679200]  # the stems' times


def xz_json(obj: object) -> bytes:
    return lzma.compress(json.dumps(obj).encode("utf-8"), format=lzma.FORMAT_XZ)


def instaloader_node(shortcode: str, taken_at: object, owner_id: str = "900", likes: object = 5) -> dict:
    """A post's ``node`` as instaloader 4.x writes it (the fields the reader uses)."""
    return {
        "shortcode": shortcode,
        "taken_at_timestamp": taken_at,
        "edge_media_to_caption": {"edges": [{"node": {"text": f"post {shortcode} #sun"}}]},
        "edge_media_to_comment": {"count": 1},
        "edge_media_preview_like": {"count": likes},
        "owner": {"id": owner_id},
    }


def instaloader_files(profile: str = "alice", owner_id: str = "900") -> dict[str, str | bytes]:
    """One profile folder: its profile metadata and two posts, each with metadata, caption and image."""
    files: dict[str, str | bytes] = {
        f"{profile}/{profile}_{owner_id}.json.xz": xz_json(
            {"node": {"id": owner_id, "username": profile, "edge_followed_by": {"count": 50}}}
        )
    }
    for i, (stem, taken_at) in enumerate(zip(INSTALOADER_STEMS, INSTALOADER_TAKEN_AT, strict=True)):
        shortcode = f"{profile}{i}"
        files[f"{profile}/{stem}.json.xz"] = xz_json({"node": instaloader_node(shortcode, taken_at, owner_id)})
        files[f"{profile}/{stem}.txt"] = f"caption of {shortcode}"
        files[f"{profile}/{stem}.jpg"] = jpeg()
    return files


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
