"""Nodes of the ``ingestion`` pipeline: one reader per raw format, then one combine step."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from engagement_lab.datasets import RawFolder
from engagement_lab.ingestion.common import SCHEMA, Ingested, IngestionError, Issues, conform, empty
from engagement_lab.ingestion.instaloader import read_instaloader
from engagement_lab.ingestion.smpd import read_smpd
from engagement_lab.ingestion.tabular import read_crowdtangle, read_pixelrec

logger = logging.getLogger(__name__)
READERS: dict[str, Callable[[RawFolder, dict], Ingested]] = {
    "smpd": read_smpd,
    "pixelrec": read_pixelrec,
    "crowdtangle": read_crowdtangle,
    "instaloader": read_instaloader,
}
TABLES = list(SCHEMA)


def make_reader(source: str) -> Callable[[RawFolder, dict[str, Any]], Ingested]:
    """The node function for one source (a named function, so kedro viz shows it)."""

    def ingest(folder: RawFolder, params: dict[str, Any]) -> Ingested:
        unknown = set(params["sources"]) - set(READERS)
        if unknown:
            raise IngestionError(f"ingestion.sources has unknown sources {sorted(unknown)}; known: {list(READERS)}")
        if source not in params["sources"]:
            logger.info("%s is not in ingestion.sources: skipped", source)
            return Ingested(source, {t: empty(t) for t in TABLES}, Issues(source).frame(), {})
        if not folder:
            raise IngestionError(
                f"{source} is selected in ingestion.sources but {folder.root} is missing or empty: "
                f"write the sample world (kedro run --pipelines=sample_world) or point raw_{source} at your data"
            )
        return READERS[source](folder, params)

    ingest.__name__ = ingest.__qualname__ = f"ingest_{source}"
    ingest.__doc__ = f"Read the {source} raw folder into canonical tables and its issue log."
    return ingest


def _reject_posts_from_the_future(part: Ingested) -> Ingested:
    """A post observed before it was posted has an impossible timeline: rejected."""
    posts = part.tables["posts"]
    future = posts["posted_at"].notna() & posts["observed_at"].notna() & (posts["posted_at"] > posts["observed_at"])
    if not future.any():
        return part
    issues = Issues(part.source)
    issues.add_many("posts", "-", posts.loc[future, "post_id"], "posted_at", "posted after it was observed",
                    values=posts.loc[future, "posted_at"])  # fmt: skip
    tables = {**part.tables, "posts": posts[~future].reset_index(drop=True)}
    kept = {**part.records_kept, "posts": part.records_kept["posts"] - int(future.sum())}
    return Ingested(part.source, tables, pd.concat([part.issues, issues.frame()], ignore_index=True),
                    part.records_in, kept)  # fmt: skip


def _add_missing_users(posts: pd.DataFrame, users: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every post's user exists: a post whose user has no profile record gets a minimal user
    row, logged as repaired under the post's source."""
    orphan = (
        posts["user_id"].notna()
        & posts["source"].isin(users["source"].unique())
        & ~posts["user_id"].isin(users["user_id"])
    )
    stub = posts.loc[orphan, ["user_id", "source"]].drop_duplicates("user_id")
    frames = []
    for source, group in stub.groupby("source"):
        issues = Issues(source)
        issues.add_many("users", "-", group["user_id"], "user_id",
                        "user has no profile record: minimal user row added", "repaired")  # fmt: skip
        frames.append(issues.frame())
    if not frames:
        return users, Issues("-").frame()
    stub["native_id"] = stub["user_id"].str.split(":", n=1).str[1]
    return pd.concat([users, conform(stub, "users")], ignore_index=True), pd.concat(frames, ignore_index=True)


def _union(frames: list[pd.DataFrame], table: str) -> pd.DataFrame:
    """Rows of all sources; one non-empty source is passed through without a copy."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty(table)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def reconcile(parts: list[Ingested], quarantine: pd.DataFrame) -> pd.DataFrame:
    """Per source and table: records in, canonical rows kept, rejected records, and whether they add up."""
    rejected = quarantine[quarantine["action"] == "rejected"].groupby(["source", "table"]).size()
    rows = [
        dict(
            source=p.source,
            table=t,
            records_in=n,
            canonical=p.records_kept[t],
            rejected=int(rejected.get((p.source, t), 0)),
        )
        for p in parts
        for t, n in p.records_in.items()
    ]
    table = pd.DataFrame(rows, columns=["source", "table", "records_in", "canonical", "rejected"])
    table["balanced"] = table["records_in"] == table["canonical"] + table["rejected"]
    return table


def combine_sources(*parts: Ingested | dict[str, Any]) -> tuple[pd.DataFrame, ...]:
    """Union of the sources' tables, cross-table checks, the quarantine and the reconciliation.

    ``records in = canonical + rejected`` for every source and table; strict mode stops at
    the first issue, naming its file, record and field.
    """
    *ingested, params = parts
    ingested = [_reject_posts_from_the_future(p) for p in ingested]
    tables = {t: _union([p.tables[t] for p in ingested], t) for t in TABLES}
    tables["users"], user_issues = _add_missing_users(tables["posts"], tables["users"])
    quarantine = pd.concat([*(p.issues for p in ingested), user_issues], ignore_index=True)
    reconciliation = reconcile(ingested, quarantine)
    for row in reconciliation.itertuples():
        log = logger.info if row.balanced else logger.error
        log("%s/%s: %d records in = %d canonical + %d rejected", row.source, row.table, row.records_in,
            row.canonical, row.rejected)  # fmt: skip
    if params["strict"] and len(quarantine):
        first = quarantine.iloc[0]
        raise IngestionError(
            f"strict ingestion: {len(quarantine)} issue(s); first: {first['source']} file {first['file']} "
            f"record {first['record']} field {first['field']}: {first['reason']} ({first['action']})"
        )
    if not reconciliation["balanced"].all():
        raise IngestionError(f"records lost in ingestion:\n{reconciliation[~reconciliation['balanced']]}")
    return (*(tables[t] for t in TABLES), quarantine, reconciliation)


def reconciliation_metrics(reconciliation: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The reconciliation as MLflow metrics <source>.<table>.<count> (the catalog adds ``ingestion.``)."""
    metrics = {}
    for row in reconciliation.itertuples():
        for name in ("records_in", "canonical", "rejected"):
            metrics[f"{row.source}.{row.table}.{name}"] = {"value": float(getattr(row, name)), "step": 0}
    return metrics
