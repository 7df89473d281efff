"""The combine step's cross-table checks, called directly on small tables."""

from __future__ import annotations

import pandas as pd
import pytest

from engagement_lab.ingestion.common import Ingested, Issues, conform, empty
from engagement_lab.pipelines.ingestion.nodes import TABLES, combine_sources
from tests.conftest import base_params


def part(source: str, posts: pd.DataFrame, users: pd.DataFrame) -> Ingested:
    tables = {t: empty(t) for t in TABLES} | {"posts": conform(posts, "posts"), "users": conform(users, "users")}
    return Ingested(source, tables, Issues(source).frame(), {"posts": len(posts), "users": len(users)})


def test_posts_from_the_future_are_rejected_and_reconciled():
    posts = pd.DataFrame(
        {
            "post_id": ["smpd:1", "smpd:2"],
            "source": "smpd",
            "user_id": "smpd:u",
            "posted_at": pd.to_datetime(["2016-01-01", "2016-09-01"], utc=True),
            "observed_at": pd.Timestamp("2016-07-15", tz="UTC"),
        }
    )
    users = pd.DataFrame({"user_id": ["smpd:u"], "source": "smpd"})
    # One post of two is rejected: far over the loss share that stops a run, which is not what this checks.
    out = combine_sources(part("smpd", posts, users), base_params("ingestion", max_rejected_share=1.0))
    kept, quarantine, reconciliation = out[0], out[-2], out[-1]
    assert kept["post_id"].tolist() == ["smpd:1"]
    row = quarantine.iloc[0]
    assert (row["source"], row["record"], row["field"], row["reason"], row["action"]) == (
        "smpd",
        "smpd:2",
        "posted_at",
        "posted after it was observed",
        "rejected",
    )
    posts_row = reconciliation.set_index("table").loc["posts"]
    assert (posts_row["records_in"], posts_row["canonical"], posts_row["rejected"], posts_row["balanced"]) == (
        2,
        1,
        1,
        True,
    )


def test_a_post_without_its_users_profile_gets_a_minimal_user():
    posts = pd.DataFrame(
        {
            "post_id": ["instaloader:a", "instaloader:b"],
            "source": "instaloader",
            "user_id": ["instaloader:1", "instaloader:2"],
        }
    )
    users = pd.DataFrame({"user_id": ["instaloader:1"], "source": "instaloader", "followers": [10]})
    out = combine_sources(part("instaloader", posts, users), base_params("ingestion"))
    users_out, quarantine = out[1], out[-2]
    assert users_out["user_id"].tolist() == ["instaloader:1", "instaloader:2"]
    assert pd.isna(users_out.loc[1, "followers"]) and users_out.loc[1, "native_id"] == "2"
    assert quarantine[["source", "table", "record", "action"]].values.tolist() == [
        ["instaloader", "users", "instaloader:2", "repaired"]
    ]


def test_strict_mode_stops_on_a_repair_too():
    posts = pd.DataFrame({"post_id": ["instaloader:a"], "source": "instaloader", "user_id": ["instaloader:9"]})
    users = pd.DataFrame({"user_id": ["instaloader:1"], "source": "instaloader"})
    with pytest.raises(ValueError, match="first: instaloader file - record instaloader:9 field user_id"):
        combine_sources(part("instaloader", posts, users), base_params("ingestion", strict=True))
