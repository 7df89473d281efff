"""Predict's inputs on hostile files (issue 18): every input row comes out once, a bad one as an error
row with its reason, and the valid rows are still scored. No trained model needed: only the readers."""

from __future__ import annotations

import pytest

from engagement_lab.predict.inputs import check_image, read_csv, read_folder
from tests.ingestion.raw_folders import (
    INSTALOADER_STEMS,
    instaloader_files,
    jpeg,
    load,
    png_claiming,
    write,
)

MIN_SIDE = 32
HEADER = b"image_path,caption,user_id\n"


def csv_folder(tmp_path, body: bytes, images: dict[str, bytes] | None = None):
    """A folder with posts.csv (``HEADER`` + ``body``) and images (a.jpg by default)."""
    return load(write(tmp_path, {"posts.csv": HEADER + body} | (images or {"a.jpg": jpeg()})))


def test_a_latin1_csv_is_read_and_its_text_decoded(tmp_path):
    posts = read_csv(csv_folder(tmp_path, b"a.jpg,caf\xe9 cr\xe8me,u1\na.jpg,plain,u2\n"), "smpd", MIN_SIDE)
    assert posts["caption"].tolist() == ["café crème", "plain"]
    assert posts["status"].tolist() == ["ok", "ok"]


def test_a_utf8_bom_still_reads_the_first_column(tmp_path):
    folder = load(write(tmp_path, {"posts.csv": b"\xef\xbb\xbf" + HEADER + b"a.jpg,hello,u1\n", "a.jpg": jpeg()}))
    assert read_csv(folder, "smpd", MIN_SIDE)["status"].tolist() == ["ok"]


def test_an_unterminated_quote_gives_an_error_row_per_line_not_merged_rows(tmp_path):
    body = b'a.jpg,first,u1\na.jpg,"never closed,u2\na.jpg,third,u3\na.jpg,fourth,u4\n'
    posts = read_csv(csv_folder(tmp_path, body), "smpd", MIN_SIDE)
    assert posts["status"].tolist() == ["ok", "error", "error", "error"]
    assert posts["caption"].iloc[0] == "first"
    reasons = posts["reason"].iloc[1:]
    assert reasons.str.startswith("file ends inside a quoted field").all()
    assert [r.split("line ")[-1].rstrip(")") for r in reasons] == ["3", "4", "5"]


def test_a_row_with_extra_cells_is_an_error_row_naming_its_line(tmp_path):
    posts = read_csv(csv_folder(tmp_path, b"a.jpg,hello,u1,extra\na.jpg,fine,u2\n"), "smpd", MIN_SIDE)
    assert posts["status"].tolist() == ["error", "ok"]
    assert posts["reason"].iloc[0] == "row has 4 fields, the header 3 (line 2)"


@pytest.mark.parametrize("side", [20_000, 10_000])
def test_an_image_bomb_in_a_csv_is_an_error_row_and_the_valid_rows_stay(tmp_path, side):
    images = {"a.jpg": jpeg(), "bomb.png": png_claiming(side, side)}
    posts = read_csv(csv_folder(tmp_path, b"bomb.png,boom,u1\na.jpg,fine,u2\n", images), "smpd", MIN_SIDE)
    assert posts["status"].tolist() == ["error", "ok"]
    assert posts["reason"].iloc[0].startswith(f"image unreadable: {tmp_path}/bomb.png: image too large to decode")


def test_an_image_bomb_in_a_folder_is_an_error_row_and_the_valid_rows_stay(tmp_path):
    files = instaloader_files()
    files[f"alice/{INSTALOADER_STEMS[0]}.jpg"] = png_claiming(20_000, 20_000)
    posts = read_folder(load(write(tmp_path, files)), "instaloader", MIN_SIDE)
    assert posts["status"].tolist() == ["error", "ok"]
    reason = posts["reason"].iloc[0]
    assert reason.startswith(f"image unreadable: {tmp_path}/alice/{INSTALOADER_STEMS[0]}.jpg: image too large")
    assert "400000000 pixels" in reason


def test_check_image_names_a_bomb(tmp_path):
    reason = check_image(png_claiming(20_000, 20_000), "x.png", MIN_SIDE)
    assert reason == "image unreadable: x.png: image too large to decode (a decompression bomb?) (400000000 pixels)"
