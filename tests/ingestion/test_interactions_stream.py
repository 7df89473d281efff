"""PixelRec's interactions streamed in batches give what the whole-file reader gave: the same canonical rows,
the same quarantine rows in the same order, the same record count, or the same error.

The oracle is the reader as it was before issue 22 (``whole_file_reader`` below: the whole CSV read by the csv
module, then checked in one frame). The streamed reader is run with blocks of 64 bytes (dozens of batches, and
pyarrow falling back to the csv module's rules on a longer line) and of 1 MiB (one batch)."""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement_lab.ingestion.common import (
    TIME_OUT_OF_RANGE,
    IngestionError,
    Issues,
    conform,
    empty,
    parse_numbers,
    seconds_out_of_range,
    source_id,
)
from engagement_lab.ingestion.csvfile import read_csv, scan_csv
from engagement_lab.ingestion.interactions import StagedTable, partitions, partitions_frame, stream_interactions
from tests.ingestion.raw_folders import load, write

ITEMS = pd.Series(["1", "2", "3", "10"], dtype="string")
BLOCKS = [64, 1 << 20]


def whole_file_reader(folder, key: str, items: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The interactions reader before issue 22: the canonical frame, the issues and the records read."""
    issues = Issues("pixelrec")
    raw, n = read_csv(folder, key, issues, "interactions", "item_id", ["item_id", "user_id", "timestamp"])
    record = "row " + pd.Series(range(len(raw)), dtype="string", index=raw.index)
    stamp = parse_numbers(raw["timestamp"], record, issues, "interactions", key, "timestamp").astype("float64")
    unknown = ~raw["item_id"].isin(items)
    no_time = stamp.isna() & ~unknown
    out_of_range = seconds_out_of_range(stamp) & ~unknown
    issues.add_many("interactions", key, record[unknown], "item_id", "interaction with an unknown item")
    issues.add_many("interactions", key, record[no_time], "timestamp", "no timestamp")
    values = raw.loc[out_of_range, "timestamp"]
    issues.add_many("interactions", key, record[out_of_range], "timestamp", TIME_OUT_OF_RANGE, values=values)
    ok = ~(unknown | no_time | out_of_range)
    frame = pd.DataFrame(
        {
            "post_id": source_id("pixelrec", raw.loc[ok, "item_id"]),
            "user_id": source_id("pixelrec-viewer", raw.loc[ok, "user_id"]),
            "source": "pixelrec",
            "timestamp": pd.to_datetime(stamp[ok], unit="s", utc=True),
        }
    )
    frame = conform(frame, "interactions")
    # What the combine step saved: an empty table as ``empty("interactions")``.
    return (frame if len(frame) else empty("interactions")), issues.frame(), n


def streamed(folder, key: str, items: pd.Series, block: int) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    issues = Issues("pixelrec")
    staged, n = stream_interactions(folder, key, items, issues, {"interactions_block_bytes": block})
    return partitions_frame(partitions([staged])), issues.frame(), n


def outcome(read, *args) -> tuple:
    """What a reader gives, or the error it raises (its message)."""
    try:
        return read(*args)
    except IngestionError as error:
        return ("error", str(error))


def assert_same(got: tuple, want: tuple) -> None:
    if isinstance(want[0], str) or isinstance(got[0], str):  # an error
        assert got == want
        return
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1], want[1])
    assert got[2] == want[2]


# ----------------------------------------------------------------------------- hostile files

GOOD = ["1,u1,1614592800", "2,u2,1614679200", "3,u3,1614765600", "10,u10,1600000000"]
PLAIN_ODD_ROWS = [  # rows that keep a file plain (read by pyarrow)
    "99,u9,1614592800",  # unknown item
    "1,u1,",  # no time
    "1,u1,None",
    "1,u1,NaN",
    "1,u1,-5",
    "1,u1,99999999999999999999",  # beyond int64
    "1,u1,1e30",
    "1,u1,1614592800.6",  # rounded
    "1,u1,0x10",
    "1,u1, 1614592800",
    "1,u1,100",  # before 1990
    "1,u1,4102444800",  # after now
    "1,u1",  # a field short
    "1,u1,5,6",  # a field long
    " ",
    "1,u" + "x" * 120 + ",1614592800",  # longer than a 64-byte block
]
ODD_ROWS = [  # rows that make a file read by the csv module's rules
    "",  # a blank line
    '"1","u,1","1614592800"',  # quoted, a comma inside
    '"2","u\n2","1614592800"',  # a line break inside quotes
    '1,"u1',  # a quote never closed
    "1,u\xe9,1614592800",  # latin-1 in a value (written as bytes below)
    "1,u1\r,1614592800",  # a bare CR
    "1,u1,161459280\x00",  # NUL
]
HEADERS = [
    "item_id,user_id,timestamp",
    "\ufeffitem_id,user_id,timestamp",  # byte-order mark
    "timestamp,extra,user_id,item_id",  # reordered, one more column
    "item_id,user_id",  # a column missing
    "item_id,user_id,timestamp,user_id",  # a name twice
    "item_id,us\xe9r_id,timestamp",  # latin-1 in the header
]


def to_bytes(text: str) -> bytes:
    """UTF-8, except that \\xe9 stays the one latin-1 byte a broken export writes."""
    return text.encode("utf-8").replace("\xe9".encode(), b"\xe9")


@st.composite
def interaction_files(draw) -> bytes:
    header = draw(st.sampled_from(HEADERS))
    names = header.lstrip("\ufeff").split(",")
    pool = draw(st.sampled_from([GOOD + PLAIN_ODD_ROWS, GOOD + PLAIN_ODD_ROWS + ODD_ROWS]))
    rows = draw(st.lists(st.sampled_from(pool), max_size=25))
    if names[:3] != ["item_id", "user_id", "timestamp"] and "extra" in names:
        rows = [_reorder(row) for row in rows]
    end = draw(st.sampled_from(["\n", "\r\n"]))
    last = draw(st.sampled_from([end, ""]))
    return to_bytes(end.join([header, *rows]) + last)


def _reorder(row: str) -> str:
    """A row of the reordered header (timestamp, extra, user_id, item_id), where the row splits in three."""
    fields = row.split(",")
    return ",".join([fields[2], "x", fields[1], fields[0]]) if len(fields) == 3 else row


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(interaction_files())
def test_streamed_interactions_equal_the_whole_file_reader(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = load(write(Path(tmp), {"interactions.csv": data}))
        want = outcome(whole_file_reader, folder, "interactions.csv", ITEMS)
        for block in BLOCKS:
            assert_same(outcome(streamed, folder, "interactions.csv", ITEMS, block), want)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"item_id,user_id,timestamp",
        b"item_id,user_id,timestamp\n",
        b"\nitem_id,user_id,timestamp\n1,u1,1614592800\n",
        b"item_id,user_id,timestamp\r1,u1,1614592800\r2,u2,1614592800\r",  # CR line ends only (old Mac)
        b"item_id,user_id,timestamp\n1,u1,1614592800\r\n2,u\xe9\r,1614592800\n",  # CRLF, a bare CR, latin-1
    ],
)
def test_edge_files_equal_the_whole_file_reader(tmp_path, data):
    folder = load(write(tmp_path, {"interactions.csv": data}))
    want = outcome(whole_file_reader, folder, "interactions.csv", ITEMS)
    for block in BLOCKS:
        assert_same(outcome(streamed, folder, "interactions.csv", ITEMS, block), want)


def test_a_plain_file_is_read_by_pyarrow_and_others_by_the_csv_module(tmp_path):
    plain = write(tmp_path, {"a.csv": "item_id,user_id,timestamp\r\n1,u1,5\r\n", "b.csv": 'item_id\n"1"\n'})
    shapes = {name: scan_csv((plain / name).open("rb")) for name in ("a.csv", "b.csv")}
    assert shapes["a.csv"].plain and shapes["a.csv"].header == ["item_id", "user_id", "timestamp"]
    assert not shapes["b.csv"].plain


def test_many_batches_give_many_parts_and_the_same_table(tmp_path):
    rows = [f"{1 + i % 3},u{i},{1614592800 + i}" for i in range(500)]
    folder = load(write(tmp_path, {"interactions.csv": "item_id,user_id,timestamp\n" + "\n".join(rows) + "\n"}))
    staged, n = stream_interactions(
        folder, "interactions.csv", ITEMS, Issues("pixelrec"), {"interactions_block_bytes": 256}
    )
    assert n == 500 and len(staged) == 500 and len(staged.paths) > 20
    pd.testing.assert_frame_equal(staged.frame(), whole_file_reader(folder, "interactions.csv", ITEMS)[0])


def test_the_staging_folder_goes_with_the_table(tmp_path):
    folder = load(write(tmp_path / "raw", {"interactions.csv": "item_id,user_id,timestamp\n1,u1,1614592800\n"}))
    params = {"staging_dir": str(tmp_path / "staging")}
    staged, _ = stream_interactions(folder, "interactions.csv", ITEMS, Issues("pixelrec"), params)
    parts = partitions([staged])
    where = staged.folder
    del staged
    gc.collect()
    assert where.is_dir()  # the loaders keep it until the catalog has saved every part
    assert len(partitions_frame(parts)) == 1
    del parts
    gc.collect()
    assert not where.exists()


def test_no_interaction_at_all_is_one_empty_part():
    parts = partitions([pd.DataFrame(), StagedTable("interactions")])
    assert list(parts) == ["part-000000"] and parts["part-000000"].empty
    assert list(parts["part-000000"].columns) == ["post_id", "user_id", "source", "timestamp"]


def dask_engine(folder, key: str, items: pd.Series, blocksize: str) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The dask engine (conf/dask) on Dask's synchronous scheduler: no cluster needed to check what it reads."""
    import dask

    from engagement_lab.ingestion.dask_interactions import read_interactions_dask

    issues = Issues("pixelrec")
    with dask.config.set(scheduler="synchronous"):
        frame, n, kept = read_interactions_dask(folder, key, items, issues, {"dask": {"blocksize": blocksize}})
        table = frame.compute().reset_index(drop=True)
    assert kept == len(table)
    return (table if len(table) else empty("interactions")), issues.frame(), n


@pytest.mark.parametrize("blocksize", ["64B", "1MB"])
@pytest.mark.parametrize("pool", [GOOD + PLAIN_ODD_ROWS, PLAIN_ODD_ROWS])
def test_the_dask_engine_reads_plain_files_as_the_whole_file_reader(tmp_path, pool, blocksize):
    rows = [pool[(7 * i) % len(pool)] for i in range(60)]
    folder = load(write(tmp_path, {"interactions.csv": to_bytes("\r\n".join(["item_id,user_id,timestamp", *rows]))}))
    want = whole_file_reader(folder, "interactions.csv", ITEMS)
    assert len(want[1]) > 10  # rejected rows, unknown items, bad times: their records are renumbered across blocks
    assert_same(dask_engine(folder, "interactions.csv", ITEMS, blocksize), want)


def test_the_dask_engine_refuses_a_file_it_cannot_cut(tmp_path):
    folder = load(write(tmp_path, {"interactions.csv": 'item_id,user_id,timestamp\n"1","u\n1",1614592800\n'}))
    with pytest.raises(IngestionError, match="plain CSV only.*a quote"):
        dask_engine(folder, "interactions.csv", ITEMS, "1MB")
