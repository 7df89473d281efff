"""Hostile input (issue 18, items 1-6): corrupted copies of real-format folders, as a user's messy
exports are. Each case ends in a canonical table, in the quarantine with its reason and value, or in
one IngestionError naming the file; every file under a raw folder is accounted for."""

from __future__ import annotations

import json
import lzma
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from engagement_lab.ingestion.common import Ingested, IngestionError
from engagement_lab.ingestion.instaloader import read_instaloader
from engagement_lab.ingestion.interactions import partitions_frame
from engagement_lab.ingestion.smpd import read_smpd
from engagement_lab.ingestion.tabular import read_crowdtangle, read_pixelrec
from engagement_lab.pipelines.ingestion.nodes import combine_sources, reconcile
from tests.conftest import base_params
from tests.ingestion.raw_folders import (
    INSTALOADER_STEMS,
    PIXELREC_COLUMNS,
    SMPD_PIDS,
    crowdtangle_folder,
    csv_text,
    instaloader_files,
    instaloader_node,
    jpeg,
    load,
    pixelrec_folder,
    pixelrec_row,
    png_claiming,
    smpd_distinct_files,
    smpd_files,
    write,
    xz_json,
)

PARAMS = base_params("ingestion")
SANE_COUNT = 1e15  # no count of anything social is larger
READERS = {
    "smpd": read_smpd,
    "pixelrec": read_pixelrec,
    "crowdtangle": read_crowdtangle,
    "instaloader": read_instaloader,
}
META = "train_allmetadata_json"
UID = "55@N00"


FILES = {
    "smpd": smpd_distinct_files,
    "pixelrec": pixelrec_folder,
    "crowdtangle": crowdtangle_folder,
    "instaloader": instaloader_files,
}


def read(source: str, root: Path, params: dict | None = None) -> Ingested:
    return READERS[source](load(root), params or PARAMS)


def issues(part: Ingested, **match: str) -> pd.DataFrame:
    """The part's quarantine rows whose columns equal (or, for ``reason``, contain) the given values."""
    frame = part.issues
    for column, value in match.items():
        frame = (
            frame[frame[column].str.contains(value, regex=False)]
            if column == "reason"
            else frame[frame[column] == value]
        )
    return frame


def balanced(part: Ingested) -> pd.DataFrame:
    """The reconciliation of one part; every line adds up."""
    table = reconcile([part], part.issues)
    ignored = table["ignored"] if "ignored" in table else 0
    assert (table["records_in"] == table["canonical"] + table["rejected"] + ignored).all(), table
    return table.set_index("table")


def edit_json(files: dict, key: str, edit) -> None:
    rows = json.loads(files[key])
    files[key] = json.dumps(edit(rows))


# ------------------------------------------------------------------ 1. huge counts

HUGE = ["1e30", "inf", "1e19", "2e15"]
COUNT_FIELD = {
    "smpd": ("users", "photo_count", "photo_count"),
    "pixelrec": ("posts", "view_number", "views"),
    "crowdtangle": ("posts", "Likes", "likes"),
    "instaloader": ("posts", "edge_media_preview_like", "likes"),
}


def with_count(source: str, value: str) -> dict[str, str | bytes]:
    """The source's small folder with ``value`` as the first record's count (every record's, for SMPD's
    per-user count, which repeats on each of the user's posts)."""
    files = FILES[source]()
    if source == "smpd":
        edit_json(files, f"{META}/train_user_data.json", lambda rows: [r | {"photo_count": value} for r in rows])
    elif source == "pixelrec":
        files["item_info.csv"] = files["item_info.csv"].replace("1,10.0,", f"1,{value},", 1)
    elif source == "crowdtangle":
        files["posts.csv"] = files["posts.csv"].replace("UTC,5,", f"UTC,{value},", 1)
    else:
        node = instaloader_node("alice0", 1614592800, likes=float(value))
        files[f"alice/{INSTALOADER_STEMS[0]}.json.xz"] = xz_json({"node": node})
    return files


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("source", list(FILES))
def test_a_huge_or_infinite_count_is_set_missing_with_its_value(tmp_path, source, value):
    part = read(source, write(tmp_path, with_count(source, value)))
    table, field, column = COUNT_FIELD[source]
    flagged = issues(part, table=table, field=field, reason="out of range")
    assert len(flagged) >= 1 and set(flagged["action"]) == {"repaired"}
    assert flagged["value"].notna().all()
    counts = part.tables[table][column].astype("Float64")
    assert counts.isna().iloc[0] and not (counts.abs() > SANE_COUNT).any() and not (counts < 0).any()
    balanced(part)


def test_strict_mode_fails_on_a_huge_count(tmp_path):
    part = read("pixelrec", write(tmp_path, with_count("pixelrec", "1e30")))
    with pytest.raises(IngestionError, match=r"strict ingestion: 1 issue\(s\); .*view_number: count out of range"):
        combine_sources(part, base_params("ingestion", strict=True))


# ------------------------------------------------------------------ 2. SMPD alignment


def swap_rows(rows: list) -> list:
    return [rows[1], rows[0], *rows[2:]]


def shift_rows(rows: list) -> list:
    return [*rows[1:], rows[0]]


MISALIGNED = {
    "train_text.json rows swapped": (f"{META}/train_text.json", swap_rows, {0, 1}),
    "train_temporalspatial_information.json shifted by one": (
        f"{META}/train_temporalspatial_information.json",
        shift_rows,
        {0, 1, 2},
    ),
    "train_user_data.json rows swapped": (f"{META}/train_user_data.json", swap_rows, {0, 1}),
    "train_additional_information.json shifted": (f"{META}/train_additional_information.json", shift_rows, {0, 1, 2}),
    "image list lines swapped": ("train_img_filepath.txt", swap_rows, {0, 1}),
}


@pytest.mark.parametrize("case", list(MISALIGNED))
def test_smpd_rows_whose_pid_or_uid_disagree_are_rejected_naming_the_file(tmp_path, case):
    key, mutate, bad_rows = MISALIGNED[case]
    files = smpd_distinct_files()
    if key.endswith(".txt"):
        files[key] = "".join(f"{line}\n" for line in mutate(files[key].splitlines()))
    else:
        edit_json(files, key, mutate)
    part = read("smpd", write(tmp_path, files))
    posts = part.tables["posts"]
    # Nothing from another post: every kept post has its own title and date.
    assert (posts["title"] == "title " + posts["native_id"]).all()
    assert (
        posts["posted_at"] == pd.to_datetime(("14516" + posts["native_id"] + "00").astype(int), unit="s", utc=True)
    ).all()
    rejected = issues(part, table="posts", action="rejected", reason="out of alignment")
    assert set(rejected["file"]) == {key}
    assert sorted(rejected["record"]) == [f"row {i} Pid={SMPD_PIDS[i]}" for i in sorted(bad_rows)]
    assert set(posts["native_id"]) == {SMPD_PIDS[i] for i in range(3)} - {SMPD_PIDS[i] for i in bad_rows}
    balanced(part)


@pytest.mark.parametrize(
    ("name", "lines"),
    [("train_img_filepath.txt", 4), ("train_img_filepath.txt", 2), ("train_label.txt", 4), ("train_label.txt", 2)],
)
def test_smpd_a_side_file_one_line_long_or_short_is_an_error_naming_it(tmp_path, name, lines):
    files = smpd_files()
    have = files[name].splitlines()
    files[name] = "\n".join((have + ["train/55@N00/999.jpg" if "img" in name else "1.0"])[:lines]) + "\n"
    with pytest.raises(IngestionError, match=rf"smpd: files are aligned by row but have different lengths: .*{name}"):
        read("smpd", write(tmp_path, files))


def test_smpd_image_list_with_crlf_line_endings_finds_every_image(tmp_path):
    files = smpd_files()
    files["train_img_filepath.txt"] = files["train_img_filepath.txt"].replace("\n", "\r\n")
    part = read("smpd", write(tmp_path, files))
    assert part.tables["posts"]["image_path"].notna().all() and len(part.tables["images"]) == 3


# ------------------------------------------------------------------ 3. files: nested, symlinks, strays


def test_instaloader_post_one_folder_deeper_is_a_post_of_its_profile(tmp_path):
    files = instaloader_files()
    stem = "alice/archive/2021-03-03_10-00-00_UTC"
    files |= {
        f"{stem}.json.xz": xz_json({"node": instaloader_node("deep", 1614765600)}),
        f"{stem}.txt": "deep one",
        f"{stem}.jpg": jpeg(),
    }
    part = read("instaloader", write(tmp_path, files))
    posts = part.tables["posts"].set_index("native_id")
    assert sorted(posts.index) == ["alice0", "alice1", "deep"]
    assert posts.loc["deep", "caption"] == "deep one" and posts.loc["deep", "user_id"] == "instaloader:900"
    assert posts.loc["deep", "image_path"].endswith(f"{stem}.jpg")
    assert part.records_in["users"] == 1 and len(part.tables["users"]) == 1
    assert balanced(part).loc["files", "records_in"] == len(files)


def test_instaloader_symlinked_profile_folder_outside_the_raw_folder_is_quarantined_not_read(tmp_path):
    root, outside = (
        write(tmp_path / "raw", instaloader_files()),
        write(tmp_path / "elsewhere", instaloader_files("bob")),
    )
    (root / "bob").symlink_to(outside / "bob", target_is_directory=True)
    part = read("instaloader", root)
    assert sorted(part.tables["posts"]["native_id"]) == ["alice0", "alice1"]
    row = issues(part, table="files", file="bob")
    assert row[["action", "reason"]].values.tolist() == [
        ["rejected", "symlink points outside the raw folder: not read"]
    ]
    files = balanced(part).loc["files"]
    assert (files["records_in"], files["rejected"]) == (len(instaloader_files()) + 1, 1)


def test_instaloader_symlinked_profile_folder_inside_is_read_once_under_its_own_name(tmp_path):
    root = write(tmp_path, instaloader_files())
    (root / "alias").symlink_to(root / "alice", target_is_directory=True)
    part = read("instaloader", root)
    assert sorted(part.tables["posts"]["native_id"]) == ["alice0", "alice1"]
    row = issues(part, table="files", file="alias")
    assert row["action"].tolist() == ["ignored"] and row["reason"].str.startswith("symlink to the folder alice").all()
    assert balanced(part).loc["files", "ignored"] == 1


def test_a_symlinked_caption_outside_the_raw_folder_is_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    files = instaloader_files()
    del files[f"alice/{INSTALOADER_STEMS[0]}.txt"]
    root = write(tmp_path / "raw", files)
    (root / f"alice/{INSTALOADER_STEMS[0]}.txt").symlink_to(secret)
    part = read("instaloader", root)
    captions = part.tables["posts"].set_index("native_id")["caption"]
    assert "SECRET" not in captions.tolist() and captions["alice0"] == "post alice0 #sun"  # the metadata's caption
    row = issues(part, table="files", file=f"alice/{INSTALOADER_STEMS[0]}.txt")
    assert row[["action", "reason"]].values.tolist() == [
        ["rejected", "symlink points outside the raw folder: not read"]
    ]
    balanced(part)


def test_a_symlink_to_a_file_inside_is_read_as_that_file_and_a_dangling_one_is_quarantined(tmp_path):
    files = instaloader_files()
    del files[f"alice/{INSTALOADER_STEMS[0]}.txt"]
    root = write(tmp_path, files)
    (root / f"alice/{INSTALOADER_STEMS[0]}.txt").symlink_to(root / f"alice/{INSTALOADER_STEMS[1]}.txt")
    (root / "alice/gone.txt").symlink_to(root / "nowhere.txt")
    part = read("instaloader", root)
    assert part.tables["posts"].set_index("native_id").loc["alice0", "caption"] == "caption of alice1"
    row = issues(part, table="files", file="alice/gone.txt")
    assert row[["action", "reason"]].values.tolist() == [["rejected", "symlink target does not exist"]]
    balanced(part)


@pytest.mark.parametrize("source", list(FILES))
def test_every_file_is_accounted_for_and_a_stray_one_is_ignored_with_a_reason(tmp_path, source):
    files = FILES[source]() | {"notes/README.md": "my notes", "Thumbs.db": b"\0\1"}
    part = read(source, write(tmp_path, files))
    strays = issues(part, table="files", action="ignored")
    assert sorted(strays["file"]) == ["Thumbs.db", "notes/README.md"]
    assert set(strays["reason"]) == {f"not part of the {source} layout"}
    line = balanced(part).loc["files"]
    assert line["records_in"] == len(files) and line["ignored"] == 2
    assert line["records_in"] == line["canonical"] + line["rejected"] + line["ignored"]


# ------------------------------------------------------------------ 4. CSV edge cases, times


def test_a_csv_row_with_extra_cells_is_rejected_naming_its_line(tmp_path):
    files = pixelrec_folder()
    files["item_info.csv"] = files["item_info.csv"].replace("a description\n", "a description,extra\n", 1)
    part = read("pixelrec", write(tmp_path, files))
    row = issues(part, field="row")
    assert row[["record", "reason"]].values.tolist() == [
        ["line 2", "row has 12 fields, the header 11 (a line break in an unquoted field?)"]
    ]
    assert row["value"].str.endswith("a description,extra").all()
    assert part.records_in["posts"] == 3 and balanced(part).loc["posts", "rejected"] == 1


CUTS = {
    # An opening quote in item 2's title: the rest of the file is one field, items 2-4 vanish.
    "quote opened mid-file": (lambda text: text.replace(",title 2,", ',"title 2,'), 4, ["line 3", "line 4", "line 5"]),
    # The file ends inside the last (quoted) description: the row parses with a truncated field.
    "cut inside the last field": (
        lambda text: text.rstrip("\n").removesuffix("a description") + '"a descr',
        4,
        ["line 5"],
    ),
}


@pytest.mark.parametrize("case", list(CUTS))
def test_a_csv_that_ends_inside_a_quoted_field_counts_and_quarantines_its_tail(tmp_path, case):
    cut, n_records, lines = CUTS[case]
    text = cut(csv_text(PIXELREC_COLUMNS, [pixelrec_row(str(i), "a") for i in range(1, 5)]))
    part = read("pixelrec", write(tmp_path, {"item_info.csv": text}))
    assert part.records_in["posts"] == n_records
    tail = issues(part, table="posts", reason="file ends inside a quoted field")
    assert (
        sorted(tail["record"]) == lines
        and set(tail["action"]) == {"rejected"}
        and set(tail["file"]) == {"item_info.csv"}
    )
    assert "4" not in part.tables["posts"]["native_id"].tolist()
    balanced(part)


@pytest.mark.parametrize("name", ["item_info.csv", "interactions.csv"])
def test_a_utf8_bom_does_not_hide_the_first_column(tmp_path, name):
    files = pixelrec_folder() | {"interactions.csv": "item_id,user_id,timestamp\n1,u1,1614592800\n"}
    files[name] = "\ufeff" + files[name]
    part = read("pixelrec", write(tmp_path, files))
    assert len(part.tables["posts"]) == 3 and len(part.tables["interactions"]) == 1
    assert not len(issues(part, action="rejected"))


FUTURE = 4102444800  # 2100-01-01


def future_post(source: str) -> tuple[dict[str, str | bytes], str]:
    """The source's folder with its first post dated 2100; and the native id of that post."""
    files = FILES[source]()
    if source == "smpd":
        edit_json(
            files,
            f"{META}/train_temporalspatial_information.json",
            lambda rows: [rows[0] | {"Postdate": str(FUTURE)}, *rows[1:]],
        )
        return files, SMPD_PIDS[0]
    if source == "crowdtangle":
        files["posts.csv"] = files["posts.csv"].replace("2021-03-01 10:00:00 UTC", "2100-01-01 10:00:00 UTC", 1)
        return files, "123_1"
    if source == "pixelrec":  # no post time: an interaction in the future stands for it
        files["interactions.csv"] = f"item_id,user_id,timestamp\n1,u1,{FUTURE}\n2,u2,1614592800\n"
        return files, ""
    files[f"alice/{INSTALOADER_STEMS[0]}.json.xz"] = xz_json({"node": instaloader_node("alice0", FUTURE)})
    return files, "alice0"


@pytest.mark.parametrize("source", list(FILES))
def test_a_time_in_the_future_is_rejected_for_every_source(tmp_path, source):
    files, native = future_post(source)
    part = read(source, write(tmp_path, files))
    out = combine_sources(part, base_params("ingestion", max_rejected_share=1.0))
    posts, interactions, quarantine = out[0], partitions_frame(out[4]), out[-2]
    now = pd.Timestamp.now(tz="UTC")
    assert native not in posts["native_id"].tolist() and (posts["posted_at"].dropna() <= now).all()
    assert (interactions["timestamp"] <= now).all()
    flagged = quarantine[
        quarantine["reason"].str.contains("future|after it was observed") & (quarantine["action"] == "rejected")
    ]
    assert len(flagged) == 1
    assert out[-1]["balanced"].all()


@pytest.mark.parametrize("taken_at", [1e30, -5, "soon", 1e10, float("nan")])
def test_instaloader_a_taken_at_that_is_no_time_is_rejected_with_its_value(tmp_path, taken_at):
    files = instaloader_files()
    files[f"alice/{INSTALOADER_STEMS[0]}.json.xz"] = xz_json({"node": instaloader_node("alice0", taken_at)})
    part = read("instaloader", write(tmp_path, files))
    assert part.tables["posts"]["native_id"].tolist() == ["alice1"]
    row = issues(part, table="posts", action="rejected", field="taken_at_timestamp")
    assert len(row) == 1
    balanced(part)


# ------------------------------------------------------------------ 5. type surprises


def without_uid(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "Uid"} for r in rows]


def smpd_case(case: str) -> dict[str, str | bytes]:
    files = smpd_distinct_files()
    category, text = f"{META}/train_category.json", f"{META}/train_text.json"
    if case == "array element is a list":
        edit_json(files, text, lambda rows: [rows[0], ["a", "b"], rows[2]])
    elif case == "array element is a number":
        edit_json(files, f"{META}/train_user_data.json", lambda rows: [rows[0], 7, rows[2]])
    elif case == "a record without Uid":
        edit_json(files, category, lambda rows: [rows[0], {k: v for k, v in rows[1].items() if k != "Uid"}, rows[2]])
    elif case == "no record of a file has Uid":
        edit_json(files, text, without_uid)
    elif case == "no record of the user data has Uid":
        edit_json(files, f"{META}/train_user_data.json", without_uid)
    elif case == "a field holds an object":
        edit_json(files, text, lambda rows: [rows[0], rows[1] | {"Title": {"_content": "x"}}, rows[2]])
    elif case == "Postdate 1e30":
        edit_json(
            files,
            f"{META}/train_temporalspatial_information.json",
            lambda rows: [rows[0], rows[1] | {"Postdate": "1e30"}, rows[2]],
        )
    elif case == "photo_firstdate 1e30":
        edit_json(files, f"{META}/train_user_data.json", lambda rows: [r | {"photo_firstdate": "1e30"} for r in rows])
    return files


SMPD_CASES = {  # case → (rejected post rows, or None where the post stays) and the field named
    "array element is a list": ({1}, "train_text.json"),
    "array element is a number": ({1}, "train_user_data.json"),
    "a record without Uid": ({1}, "train_*.json"),
    "no record of a file has Uid": (set(), None),
    "no record of the user data has Uid": (set(), None),
    "a field holds an object": (set(), "train_text.json"),
    "Postdate 1e30": ({1}, "train_temporalspatial_information.json"),
    "photo_firstdate 1e30": (set(), "train_user_data.json"),
}


@pytest.mark.parametrize("case", list(SMPD_CASES))
def test_smpd_type_surprises_become_quarantine_rows(tmp_path, case):
    rejected_rows, file = SMPD_CASES[case]
    part = read("smpd", write(tmp_path, smpd_case(case)))
    kept = set(part.tables["posts"]["native_id"])
    assert kept == {SMPD_PIDS[i] for i in range(3)} - {SMPD_PIDS[i] for i in rejected_rows}
    if file:
        assert part.issues["file"].str.endswith(file).any(), part.issues
    users = part.tables["users"]
    for column in ("photo_firstdate", "photo_firstdatetaken"):
        times = users[column].dropna()
        assert ((times >= pd.Timestamp("1990-01-01", tz="UTC")) & (times <= pd.Timestamp.now(tz="UTC"))).all()
    balanced(part)


def test_smpd_truncated_json_with_a_latin1_byte_is_one_error_naming_the_file(tmp_path):
    files = smpd_files()
    files[f"{META}/train_text.json"] = files[f"{META}/train_text.json"].encode("utf-8")[:60] + b"caf\xe9"
    with pytest.raises(IngestionError, match=rf"^smpd: {META}/train_text.json is not valid JSON"):
        read("smpd", write(tmp_path, files))


INSTALOADER_CASES = {  # case → post-file metadata, whether alice0 stays, the field named
    "owner is a string": ({"node": instaloader_node("alice0", 1614592800) | {"owner": "alice"}}, True, "owner"),
    "node is a list": ({"node": [1, 2]}, False, "json"),
    "metadata is a list": ([{"node": {}}], False, "json"),
    "caption edges are a string": (
        {"node": instaloader_node("alice0", 1614592800) | {"edge_media_to_caption": "text"}},
        True,
        None,
    ),
    "likes are an object": (
        {"node": instaloader_node("alice0", 1614592800, likes={"n": 1})},
        True,
        "edge_media_preview_like",
    ),
    "shortcode is an object": (
        {"node": instaloader_node("alice0", 1614592800) | {"shortcode": {"a": 1}}},
        False,
        "shortcode",
    ),
}


@pytest.mark.parametrize("case", list(INSTALOADER_CASES))
def test_instaloader_type_surprises_become_quarantine_rows(tmp_path, case):
    meta, kept, field = INSTALOADER_CASES[case]
    files = instaloader_files()
    files[f"alice/{INSTALOADER_STEMS[0]}.json.xz"] = xz_json(meta)
    part = read("instaloader", write(tmp_path, files))
    assert ("alice0" in part.tables["posts"]["native_id"].tolist()) == kept
    if field:
        # Fields checked on the whole table name the metadata file as the record.
        assert len(issues(part, record=f"alice/{INSTALOADER_STEMS[0]}.json.xz", field=field)) == 1, part.issues
    balanced(part)


# ------------------------------------------------------------------ 6. decompression bombs


def bomb_files(source: str, side: int) -> tuple[dict[str, str | bytes], str]:
    """The source's folder with its first post's image replaced by a ``side`` x ``side`` PNG header."""
    files = FILES[source]()
    key = {
        "smpd": f"train/{UID}/{SMPD_PIDS[0]}.jpg",
        "pixelrec": "cover/1.jpg",
        "crowdtangle": "images/1.jpg",
        "instaloader": f"alice/{INSTALOADER_STEMS[0]}.jpg",
    }[source]
    files[key] = png_claiming(side, side)
    return files, key


# Over twice PIL's limit, PIL refuses the file before its size can be read; between once and twice, PIL
# would only warn and allocate 300 MB to decode it: the header check refuses it first.
BOMBS = {20_000: "400000000 pixels", 10_000: "10000x10000 (100000000 pixels)"}


@pytest.mark.parametrize("side", list(BOMBS))
@pytest.mark.parametrize("source", list(FILES))
def test_an_image_bomb_is_a_rejected_image_naming_its_size(tmp_path, source, side):
    files, key = bomb_files(source, side)
    assert len(files[key]) < 200
    part = read(source, write(tmp_path, files))
    row = issues(part, table="images", file=key)
    assert row["reason"].str.startswith("image too large to decode").all() and len(row) == 1
    assert row["value"].tolist() == [BOMBS[side]]
    assert len(part.tables["images"]) == len(part.tables["posts"]) - 1
    balanced(part)


def xz_bomb(size: int) -> bytes:
    """A post's metadata: valid JSON that expands to ``size`` bytes of padding."""
    compressor = lzma.LZMACompressor(format=lzma.FORMAT_XZ, preset=1)
    head = json.dumps({"node": instaloader_node("alice0", 1614592800)})[:-1] + ', "pad": "'
    parts, block = [compressor.compress(head.encode())], b" " * (1 << 20)
    parts += [compressor.compress(block) for _ in range(size >> 20)]
    return b"".join([*parts, compressor.compress(b'"}'), compressor.flush()])


def test_an_xz_bomb_is_rejected_and_memory_stays_bounded(tmp_path):
    files = instaloader_files()
    key = f"alice/{INSTALOADER_STEMS[0]}.json.xz"
    files[key] = xz_bomb(200 << 20)
    assert len(files[key]) < 100_000
    root = write(tmp_path, files)
    tracemalloc.start()
    try:
        part = read("instaloader", root)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    row = issues(part, table="posts", file=key, action="rejected")
    assert row["reason"].str.startswith("metadata larger than").all() and len(row) == 1
    assert peak < 80 << 20, f"peak {peak / 2**20:.0f} MiB"
    assert part.tables["posts"]["native_id"].tolist() == ["alice1"]
    balanced(part)


def test_the_metadata_size_limit_is_a_parameter(tmp_path):
    files = instaloader_files()
    part = read("instaloader", write(tmp_path, files), base_params("ingestion", max_metadata_bytes=100))
    assert len(part.tables["posts"]) == 0 and len(issues(part, reason="metadata larger than 100 bytes")) == 3


def columns_of(rows: list[dict]) -> dict[str, dict[str, object]]:
    """Row-oriented records as SMPD's column-oriented user data: {"col": {"0": v, ...}}."""
    return {name: {str(i): row.get(name) for i, row in enumerate(rows)} for name in rows[0]}


def test_smpd_column_oriented_user_data_with_an_object_value_reads_it_as_missing(tmp_path):
    files = smpd_files()
    key = f"{META}/train_user_data.json"
    columns = columns_of(json.loads(files[key]))
    columns["timezone_timezone_id"]["1"] = {"id": "UTC"}
    files[key] = json.dumps(columns)
    part = read("smpd", write(tmp_path, files))
    assert len(part.tables["posts"]) == 3 and part.tables["users"]["timezone_id"].tolist() == ["UTC"]
    row = issues(part, file=key, field="timezone_timezone_id")
    assert row[["record", "action"]].values.tolist() == [["row 1", "repaired"]]


@pytest.mark.parametrize(("row_key", "message"), [("x", "not a row number"), ("7", "does not hold the rows 0..2")])
def test_smpd_column_oriented_user_data_with_a_bad_row_key_is_one_error_naming_file_and_column(
    tmp_path, row_key, message
):
    files = smpd_files()
    key = f"{META}/train_user_data.json"
    columns = columns_of(json.loads(files[key]))
    columns["photo_count"] = {"0": "1", "1": "2", row_key: "3"}
    files[key] = json.dumps(columns)
    with pytest.raises(IngestionError, match=rf"^smpd: {key} column 'photo_count' .*{message}"):
        read("smpd", write(tmp_path, files))
