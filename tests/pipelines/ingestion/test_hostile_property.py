"""Property: whatever a user's export does to a raw folder, ingestion either stops with one IngestionError
that names a file, or accounts for every record and every file, and keeps no impossible value.

Hypothesis starts from the small valid folders of ``raw_folders`` (all four formats) and applies one to
three mutations: truncation, byte flips, swapped rows, type swaps and huge numbers in JSON and CSV,
files moved into nested folders, stray or duplicated files, deleted files and symlinks (inside, outside,
dangling). Deterministic (``derandomize``), so CI sees the same examples on every run.
"""

from __future__ import annotations

import csv
import io
import json
import lzma
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement_lab.ingestion.common import COUNTS, Ingested, IngestionError
from engagement_lab.ingestion.instaloader import read_instaloader
from engagement_lab.ingestion.interactions import StagedTable
from engagement_lab.ingestion.smpd import read_smpd
from engagement_lab.ingestion.tabular import read_crowdtangle, read_pixelrec
from engagement_lab.pipelines.ingestion.nodes import combine_sources, reconcile
from tests.conftest import base_params
from tests.ingestion.raw_folders import (
    crowdtangle_folder,
    instaloader_files,
    jpeg,
    load,
    pixelrec_folder,
    smpd_distinct_files,
    write,
)

READERS: dict[str, Callable] = {
    "smpd": read_smpd,
    "pixelrec": read_pixelrec,
    "crowdtangle": read_crowdtangle,
    "instaloader": read_instaloader,
}
FOLDERS = {
    "smpd": smpd_distinct_files,
    "pixelrec": pixelrec_folder,
    "crowdtangle": crowdtangle_folder,
    "instaloader": instaloader_files,
}
PARAMS = base_params("ingestion")
SANE_COUNT = 1e15
EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")  # no post on these platforms is older
SECRET = "SECRET-OUTSIDE-THE-RAW-FOLDER"
# Values a type swap or a huge number puts in place of a field.
WEIRD = [
    None,
    "",
    "None",
    "0",
    "-1",
    "1e30",
    "-1e30",
    "inf",
    "NaN",
    "9" * 30,
    1e30,
    -1,
    10**19,
    float("inf"),
    [],
    {},
    ["x"],
    {"count": "1e30"},
    True,
    "abc",
    "caf\u00e9",
    0,
]
STRAYS = [
    "README.md",
    "notes/x.txt",
    ".DS_Store",
    "cover/extra.jpg",
    "alice/2021-03-05_10-00-00_UTC.json",
    "train/x/y.jpg",
    "images/z.png",
    "copy/item_info.csv",
    "alice/id",
    "train_allmetadata_json/extra.json",
]
Files = dict[str, bytes]


# ----------------------------------------------------------------------------- mutations


def _json_load(key: str, data: bytes) -> object:
    return json.loads(lzma.decompress(data) if key.endswith(".xz") else data)


def _json_dump(key: str, obj: object) -> bytes:
    data = json.dumps(obj).encode("utf-8")
    return lzma.compress(data, format=lzma.FORMAT_XZ) if key.endswith(".xz") else data


def _slots(obj: object) -> list[tuple[object, object]]:
    """Every (container, key or index) inside a JSON value: the places a type swap can hit."""
    slots = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    for k, v in items:
        slots.append((obj, k))
        slots += _slots(v)
    return slots


def pick(draw, files: Files, suffixes: tuple[str, ...] = ("",)) -> str | None:
    """One of the files whose name ends with one of ``suffixes``; None when there is none."""
    keys = sorted(k for k in files if k.endswith(suffixes))
    return draw(st.sampled_from(keys)) if keys else None


def truncate(draw, files: Files) -> Files:
    key = draw(st.sampled_from(sorted(files)))
    data = files[key]
    return files | {key: data[: draw(st.integers(0, max(len(data) - 1, 0)))]}


def flip_bytes(draw, files: Files) -> Files:
    key = draw(st.sampled_from(sorted(files)))
    data = bytearray(files[key])
    for _ in range(draw(st.integers(1, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return files | {key: bytes(data)}


def swap_rows(draw, files: Files) -> Files:
    """Two elements of a JSON array, or two lines of a text file, trade places."""
    key = pick(draw, files, (".json", ".csv", ".txt"))
    if key is None:
        return files
    if key.endswith(".json"):
        try:
            rows = json.loads(files[key])
        except ValueError:  # an earlier mutation broke it
            return files
        if not isinstance(rows, list) or len(rows) < 2:
            return files
        i, j = draw(st.lists(st.integers(0, len(rows) - 1), min_size=2, max_size=2, unique=True))
        rows[i], rows[j] = rows[j], rows[i]
        return files | {key: json.dumps(rows).encode()}
    lines = files[key].split(b"\n")
    if len(lines) < 2:
        return files
    i, j = draw(st.lists(st.integers(0, len(lines) - 1), min_size=2, max_size=2, unique=True))
    lines[i], lines[j] = lines[j], lines[i]
    return files | {key: b"\n".join(lines)}


def type_swap(draw, files: Files) -> Files:
    """A value somewhere inside a JSON file (SMPD's arrays, instaloader's metadata) becomes another type."""
    key = pick(draw, files, (".json", ".json.xz"))
    if key is None:
        return huge_number(draw, files)
    try:
        obj = _json_load(key, files[key])
    except (ValueError, lzma.LZMAError):  # an earlier mutation broke it
        return files
    slots = _slots(obj)
    if not slots:
        return files
    container, slot = draw(st.sampled_from(slots))
    container[slot] = draw(st.sampled_from(WEIRD))
    return files | {key: _json_dump(key, obj)}


def huge_number(draw, files: Files) -> Files:
    """A cell of a CSV, or a line of a text file, becomes a huge, negative or non-finite number."""
    key = pick(draw, files, (".csv", ".txt"))
    if key is None:
        return files
    value = draw(st.sampled_from(["1e30", "-1e30", "inf", "-inf", "1e19", "9" * 30, "2e15", "nan"]))
    if key.endswith(".txt"):
        lines = files[key].decode("utf-8", "replace").splitlines()
        if lines:
            lines[draw(st.integers(0, len(lines) - 1))] = value
        return files | {key: ("\n".join(lines) + "\n").encode()}
    try:
        rows = list(csv.reader(io.StringIO(files[key].decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error):  # an earlier mutation broke it
        return files
    if len(rows) < 2:
        return files
    row = rows[draw(st.integers(1, len(rows) - 1))]
    if not row:  # a blank line
        return files
    row[draw(st.integers(0, len(row) - 1))] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return files | {key: out.getvalue().encode()}


def nest(draw, files: Files) -> Files:
    """A file moves one folder deeper (an ``archive/`` beside it, or a new top folder)."""
    key = draw(st.sampled_from(sorted(files)))
    head, _, name = key.rpartition("/")
    new = draw(st.sampled_from([f"{head}/archive/{name}" if head else f"archive/{name}", f"nested/{key}"]))
    rest = {k: v for k, v in files.items() if k != key}
    return rest | {new: files[key]}


def extra_file(draw, files: Files) -> Files:
    name = draw(st.sampled_from(STRAYS))
    content = draw(st.sampled_from([b"", b"stray bytes", jpeg(), b"\xff\xd8\xff garbage", b'{"node": []}']))
    return files | {name: content}


def delete(draw, files: Files) -> Files:
    if len(files) < 2:
        return files
    key = draw(st.sampled_from(sorted(files)))
    return {k: v for k, v in files.items() if k != key}


def duplicate(draw, files: Files) -> Files:
    key = draw(st.sampled_from(sorted(files)))
    head, _, name = key.rpartition("/")
    return files | {f"{head}/copy_{name}" if head else f"copy_{name}": files[key]}


MUTATIONS = {
    f.__name__: f
    for f in (truncate, flip_bytes, swap_rows, type_swap, huge_number, nest, extra_file, delete, duplicate)
}
LINKS = ["outside file", "outside folder", "inside file", "inside folder", "dangling"]


@st.composite
def hostile_folders(draw) -> tuple[str, Files, list[tuple[str, str]], list[str]]:
    """A source, its mutated files, the symlinks to add (name, kind) and the mutations applied."""
    source = draw(st.sampled_from(sorted(FOLDERS)))
    files = {k: v.encode("utf-8") if isinstance(v, str) else v for k, v in FOLDERS[source]().items()}
    applied = draw(st.lists(st.sampled_from([*MUTATIONS, "symlink"]), min_size=1, max_size=3))
    links = []
    for name in applied:
        if name == "symlink":
            kind = draw(st.sampled_from(LINKS))
            existing = draw(st.sampled_from(sorted(files)))
            # A link replaces a file of the layout (its name), or comes beside it.
            at = draw(
                st.sampled_from([existing, existing.rpartition("/")[0] + "/linked" if "/" in existing else "linked"])
            )
            files.pop(at, None)
            links.append((at, kind))
        else:
            files = MUTATIONS[name](draw, files)
    return source, files, links, applied


def make_link(root: Path, outside: Path, at: str, kind: str) -> None:
    """A symlink at ``root/at`` of ``kind``; never over a file the mutations left there."""
    path = root / at
    if path.exists() or path.is_symlink() or any(p.is_file() or p.is_symlink() for p in path.parents):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    inside = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p != path]
    targets = {
        "outside file": outside / "secret.txt",
        "outside folder": outside,
        "inside file": inside[0] if inside else root / "none",
        "inside folder": root,
        "dangling": root / "no_such_file",
    }
    path.symlink_to(targets[kind])


# ----------------------------------------------------------------------------- the invariant


def entries(root: Path) -> int:
    """Files and symlinks under ``root``, symlinked folders not followed: what must be accounted for."""
    count = 0
    for _, dirs, names in os.walk(root):
        count += len(names) + sum(1 for d in dirs if (Path(_) / d).is_symlink())
    return count


def frame_of(table: pd.DataFrame | StagedTable) -> pd.DataFrame:
    """A table in memory: a reader's streamed interactions are staged in parquet parts."""
    return table.frame() if isinstance(table, StagedTable) else table


def assert_sane(part: Ingested, root: Path) -> None:
    """Every record and file accounted for; no count or time out of its valid range; nothing from outside."""
    table = reconcile([part], part.issues)
    assert table["balanced"].all(), table
    files = table.set_index("table").loc["files"]
    assert files["records_in"] == entries(root), (files, entries(root))
    posts, users = part.tables["posts"], part.tables["users"]
    for frame, columns in ((posts, COUNTS), (users, ["followers", "following", "photo_count", "total_views"])):
        for column in columns:
            values = frame[column].dropna().astype(float)
            assert ((values >= 0) & (values <= SANE_COUNT)).all(), (column, values.tolist())
    now = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    times = [
        posts["posted_at"],
        posts["observed_at"],
        users["photo_firstdate"],
        users["photo_firstdatetaken"],
        part.tables["comments"]["created_at"],
        frame_of(part.tables["interactions"])["timestamp"],
    ]
    for column in times:
        present = column.dropna()
        assert ((present >= EARLIEST) & (present <= now)).all(), present.tolist()
    for name, table in part.tables.items():
        frame = frame_of(table)
        text = frame.select_dtypes(include=["string", "object"]).astype(str)
        assert not text.apply(lambda c: c.str.contains(SECRET, regex=False)).any().any(), name


def names_a_file(message: str, root: Path, keys: list[str]) -> bool:
    """Whether an error message names a file of the folder, a layout file, or the folder itself."""
    names = set(keys) | {k.rpartition("/")[2] for k in keys} | {str(root)}
    names |= {"train_category.json", "item_info.csv", "posts.csv", "comments.csv", "interactions.csv"}
    return any(name and name in message for name in names)


# CI: the same 80 examples every run. To explore (as this test was built): HOSTILE_EXAMPLES=2000 HOSTILE_RANDOM=1.
@settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "80")),
    deadline=None,
    derandomize=not os.environ.get("HOSTILE_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_folders())
def test_a_mutated_raw_folder_is_read_whole_or_refused_naming_a_file(case):
    source, files, links, _applied = case
    with tempfile.TemporaryDirectory() as tmp:
        root, outside = Path(tmp) / "raw", Path(tmp) / "outside"
        write(outside, {"secret.txt": SECRET, "profile/2021-03-01_10-00-00_UTC.txt": SECRET})
        write(root, files)
        for at, kind in links:
            make_link(root, outside, at, kind)
        try:
            part = READERS[source](load(root), PARAMS)
        except IngestionError as error:
            assert names_a_file(str(error), root, [*files, *(at for at, _ in links)]), str(error)
            return
        assert_sane(part, root)
        # The combine step keeps the accounts (a source with no post left stops it, naming the source).
        try:
            out = combine_sources(part, base_params("ingestion", max_rejected_share=1.0))
        except IngestionError as error:
            assert str(error).startswith(f"{source}: 0 canonical posts"), str(error)
            return
        assert out[-1]["balanced"].all()
