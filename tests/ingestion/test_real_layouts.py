"""The readers on raw folders laid out as the real exports are: SMPD's side files in either place
and under either name, CSV fields holding line breaks, CrowdTangle's URL shapes, PixelRec's tags."""

from __future__ import annotations

import pytest

from engagement_lab.ingestion.common import IngestionError
from engagement_lab.ingestion.smpd import read_smpd
from engagement_lab.ingestion.tabular import read_crowdtangle, read_pixelrec
from tests.conftest import base_params
from tests.ingestion.raw_folders import (
    CROWDTANGLE_COLUMNS,
    PIXELREC_COLUMNS,
    SMPD_LABELS,
    crowdtangle_row,
    csv_text,
    load,
    pixelrec_row,
    smpd_files,
    write,
)

PARAMS = base_params("ingestion")


def rejected(part) -> list[str]:
    return part.issues.loc[part.issues["action"] == "rejected", "reason"].tolist()


def balanced(part) -> bool:
    """records in = kept + rejected, per table (the reconciliation invariant)."""
    issues = part.issues[part.issues["action"] == "rejected"]
    return all(n == part.records_kept[t] + int((issues["table"] == t).sum()) for t, n in part.records_in.items())


# ------------------------------------------------------------------------- SMPD


@pytest.mark.parametrize("meta", ["train_allmetadata_json", "train_all_json"])
@pytest.mark.parametrize("side_files_in", ["", "metadata folder"])
@pytest.mark.parametrize("image_list", ["train_img_filepath.txt", "train_img_path.txt"])
def test_smpd_labels_and_image_list_found_at_the_root_or_in_the_metadata_folder(
    tmp_path, meta, side_files_in, image_list
):
    where = meta if side_files_in else ""
    part = read_smpd(load(write(tmp_path, smpd_files(meta, where, image_list))), PARAMS)
    posts = part.tables["posts"]
    assert posts["popularity_label"].astype(float).tolist() == [float(x) for x in SMPD_LABELS]
    assert posts["image_path"].notna().all() and len(part.tables["images"]) == 3
    assert not part.issues["reason"].eq("value missing").any()
    assert balanced(part)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("train_img_filepath.txt", "train_allmetadata_json/train_img_filepath.txt"),
        ("train_img_filepath.txt", "train_img_path.txt"),
        ("train_label.txt", "train_allmetadata_json/train_label.txt"),
    ],
)
def test_smpd_two_copies_of_a_side_file_are_an_error_naming_both(tmp_path, first, second):
    files = smpd_files()
    files[second] = files[first]
    with pytest.raises(IngestionError, match=r"smpd: 2 copies of the same file .*keep one"):
        read_smpd(load(write(tmp_path, files)), PARAMS)


# -------------------------------------------------------------------------- CSV


def test_csv_fields_holding_line_breaks_are_read_whole(tmp_path):
    quoted = crowdtangle_row("https://www.facebook.com/123/posts/1", "line one\r\nline two\nline three")
    bare_cr = crowdtangle_row("https://www.facebook.com/123/posts/2", "before\rafter")
    # csv quotes a field holding a CR; CrowdTangle's export leaves Message unquoted: write that row by hand.
    text = csv_text(CROWDTANGLE_COLUMNS, [quoted]) + ",".join(bare_cr) + "\n"
    part = read_crowdtangle(load(write(tmp_path, {"posts.csv": text})), PARAMS)
    captions = part.tables["posts"]["caption"].tolist()
    assert captions == ["line one\r\nline two\nline three", "before\rafter"]
    assert rejected(part) == [] and balanced(part)


def test_csv_with_crlf_line_endings_and_a_bare_cr_in_a_field(tmp_path):
    rows = [crowdtangle_row(f"https://www.facebook.com/123/posts/{i}", f"post {i}") for i in range(3)]
    text = csv_text(CROWDTANGLE_COLUMNS, rows, line_end="\r\n").replace("post 1", "post\r1")
    part = read_crowdtangle(load(write(tmp_path, {"posts.csv": text})), PARAMS)
    assert part.tables["posts"]["caption"].tolist() == ["post 0", "post\r1", "post 2"]


def test_a_row_cut_by_an_unquoted_line_break_is_rejected_naming_its_line(tmp_path):
    rows = [pixelrec_row("1", "a"), pixelrec_row("2", "b"), pixelrec_row("3", "c")]
    text = csv_text(PIXELREC_COLUMNS, rows).replace("title 2", "title\n2")
    part = read_pixelrec(load(write(tmp_path, {"item_info.csv": text})), PARAMS)
    assert part.tables["posts"]["native_id"].tolist() == ["1", "3"]
    ragged = part.issues[part.issues["field"] == "row"]
    assert ragged["record"].tolist() == ["line 3", "line 4"] and set(ragged["file"]) == {"item_info.csv"}
    assert ragged["reason"].str.startswith("row has").all() and balanced(part)


def test_a_csv_that_cannot_be_parsed_names_the_file_and_record(tmp_path):
    rows = [pixelrec_row("1", "a"), pixelrec_row("2", "b")]
    # An unclosed quote swallows the rest of the file into one field, past the csv module's limit.
    text = csv_text(PIXELREC_COLUMNS, rows).replace("title 2", '"title 2') + "x" * 200_000 + "\n"
    with pytest.raises(IngestionError, match=r"pixelrec: item_info.csv record 2 \(from line 3\) does not parse"):
        read_pixelrec(load(write(tmp_path, {"item_info.csv": text})), PARAMS)


# ------------------------------------------------------------------ CrowdTangle

URL_SHAPES = {
    "https://www.facebook.com/123/posts/456": "123_456",
    "https://www.facebook.com/somepage/posts/pfbid02AbCdEf": "123_pfbid02AbCdEf",
    "https://www.facebook.com/somepage/photos/a.789/457/?type=3": "123_457",
    "https://www.facebook.com/somepage/photos/pcb.460/458/": "123_458",
    "https://www.facebook.com/somepage/videos/459/": "123_459",
    "https://www.facebook.com/somepage/videos/a-title/461/": "123_461",
    "https://www.facebook.com/permalink.php?story_fbid=462&id=123": "123_462",
    "https://www.facebook.com/photo.php?fbid=463&set=a.1": "123_463",
    "https://www.facebook.com/watch/?v=464": "123_464",
    "https://www.facebook.com/reel/465": "123_465",
}


def test_crowdtangle_reads_every_real_post_url_shape(tmp_path):
    rows = [crowdtangle_row(url) for url in URL_SHAPES]
    part = read_crowdtangle(load(write(tmp_path, {"posts.csv": csv_text(CROWDTANGLE_COLUMNS, rows)})), PARAMS)
    assert part.tables["posts"]["native_id"].tolist() == list(URL_SHAPES.values())
    assert rejected(part) == [] and balanced(part)


def test_crowdtangle_page_from_the_permalink_when_facebook_id_is_blank(tmp_path):
    rows = [crowdtangle_row("https://www.facebook.com/permalink.php?story_fbid=9&id=77", page="")]
    part = read_crowdtangle(load(write(tmp_path, {"posts.csv": csv_text(CROWDTANGLE_COLUMNS, rows)})), PARAMS)
    posts = part.tables["posts"]
    assert posts[["native_id", "user_id"]].values.tolist() == [["77_9", "crowdtangle:77"]]


def test_crowdtangle_url_of_unknown_shape_gets_a_stable_hash_id_not_a_rejection(tmp_path):
    url = "https://www.facebook.com/groups/somegroup/"
    rows = [crowdtangle_row(url), crowdtangle_row("")]
    part = read_crowdtangle(load(write(tmp_path, {"posts.csv": csv_text(CROWDTANGLE_COLUMNS, rows)})), PARAMS)
    native = part.tables["posts"]["native_id"].tolist()
    again = read_crowdtangle(
        load(write(tmp_path / "again", {"posts.csv": csv_text(CROWDTANGLE_COLUMNS, rows)})), PARAMS
    )
    assert (
        len(native) == 1 and native[0].startswith("123_url-") and again.tables["posts"]["native_id"].tolist() == native
    )
    hashed = part.issues[part.issues["reason"] == "no post id in URL: native id is a hash of the URL"]
    assert hashed["action"].tolist() == ["repaired"] and hashed["value"].tolist() == native
    assert rejected(part) == ["post without URL: it cannot be identified"] and balanced(part)


# --------------------------------------------------------------------- PixelRec


def test_pixelrec_tag_strings_become_lists_of_tags(tmp_path):
    tags = {"1": "动画 搞笑", "2": "game,music", "3": "a, b ,c", "4": "单曲，翻唱", "5": "solo", "6": ""}
    rows = [pixelrec_row(item, tag) for item, tag in tags.items()]
    part = read_pixelrec(load(write(tmp_path, {"item_info.csv": csv_text(PIXELREC_COLUMNS, rows)})), PARAMS)
    got = part.tables["posts"]["tags"].map(list).tolist()
    assert got == [["动画", "搞笑"], ["game", "music"], ["a", "b", "c"], ["单曲", "翻唱"], ["solo"], []]
