"""Nodes of the ``ingestion`` pipeline: one reader per raw format, then one combine step."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from engagement_lab.core.errors import UserFacingError
from engagement_lab.core.progress import heartbeat
from engagement_lab.core.raw import RawFolder
from engagement_lab.ingestion.common import SCHEMA, Ingested, IngestionError, Issues, conform, empty, run_start
from engagement_lab.ingestion.instaloader import read_instaloader
from engagement_lab.ingestion.interactions import partitions
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


class IngestionStopped(IngestionError, UserFacingError):
    """Ingestion stopped on the data: a selected or auto-detected source is missing, a reader rejected a file,
    a source lost too many records, or strict mode found issues. The message says which and what to do;
    ``kedro run`` shows it without a traceback."""


AUTO = "auto"
PROVIDE_DATA = (
    "to provide data, copy the export folders to data/01_raw/<source>/ or point raw_<source> at them in "
    "conf/local/catalog.yml; or run the demo on the sample world (`make run`, or `kedro run --pipelines=demo`)"
)


def selected_sources(sources: str | list[str]) -> list[str] | None:
    """The sources ``ingestion.sources`` lists, or None for ``auto`` (every source whose raw folder
    has data); an unknown name is an error."""
    if sources == AUTO:
        return None
    if isinstance(sources, str):
        sources = [sources]
    unknown = set(sources) - set(READERS)
    if unknown:
        raise IngestionStopped(
            f"ingestion.sources has unknown sources {sorted(unknown)}; known: {list(READERS)} (or {AUTO})"
        )
    return list(sources)


def not_read(source: str, root: str, errors: list[str] | None = None) -> Ingested:
    """An empty result for a source that was not read, with what stopped it, if anything."""
    tables = {t: empty(t) for t in TABLES}
    return Ingested(source, tables, Issues(source).frame(), {}, errors=errors or [], read=False, root=root)


def make_reader(source: str) -> Callable[[RawFolder, dict[str, Any]], Ingested]:
    """The node function for one source (a named function, so kedro viz shows it).

    A reader's IngestionError does not stop the run here: it travels in the result, so that
    the combine step reports every source's errors together. Any other exception is a bug and
    propagates."""

    def ingest(folder: RawFolder, params: dict[str, Any]) -> Ingested:
        sources = selected_sources(params["sources"])
        if sources is not None and source not in sources:
            logger.info("%s is not in ingestion.sources: skipped", source)
            return not_read(source, folder.root)
        if not folder:
            if sources is None:
                logger.info("%s: not present: %s", source, folder.root)
                return not_read(source, folder.root)
            error = f"{source} is selected in ingestion.sources but {folder.root} is missing or empty; {PROVIDE_DATA}"
            return not_read(source, folder.root, [error])
        try:
            with heartbeat(logger, f"ingestion.{source}: reading {folder.root}"):  # ~40 s at SMPD scale
                part = READERS[source](folder, params)
        except IngestionError as error:
            # Most messages already start with the source; the rest get it, so each line says whose it is.
            message = str(error) if str(error).startswith(source) else f"{source}: {error}"
            logger.error("%s", message)
            return not_read(source, folder.root, [message])
        part.root = folder.root
        return part

    ingest.__name__ = ingest.__qualname__ = f"ingest_{source}"
    ingest.__doc__ = f"Read the {source} raw folder into canonical tables and its issue log."
    return ingest


def _reject_posts_from_the_future(part: Ingested) -> Ingested:
    """A post observed before it was posted, or (with no observation time) posted after the run
    started, has an impossible timeline: rejected. Every source, whatever its reader checked."""
    posts = part.tables["posts"]
    posted, observed = posts["posted_at"], posts["observed_at"]
    after_observed = (posted.notna() & observed.notna() & (posted > observed)).astype(bool)
    after_now = (posted.notna() & observed.isna() & (posted > run_start())).astype(bool)
    if not (after_observed | after_now).any():
        return part
    issues = Issues(part.source)
    reasons = {
        "posted after it was observed": after_observed,
        "posted in the future (after the run started)": after_now,
    }
    for reason, future in reasons.items():
        issues.add_many("posts", "-", posts.loc[future, "post_id"], "posted_at", reason, values=posted[future])
    future = after_observed | after_now
    tables = {**part.tables, "posts": posts[~future].reset_index(drop=True)}
    kept = {**part.records_kept, "posts": part.records_kept["posts"] - int(future.sum())}
    quarantine = pd.concat([part.issues, issues.frame()], ignore_index=True)
    return dataclasses.replace(part, tables=tables, issues=quarantine, records_kept=kept)


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
        issues.add_many(
            "users", "-", group["user_id"], "user_id", "user has no profile record: minimal user row added", "repaired"
        )
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


def interactions_output(tables: list[Any], engine: str = "pandas") -> Any:
    """What the catalog's ``interactions`` entry saves: the parts of every source's table for the pandas
    engine's ``PartitionedDataset`` (each loaded only while it is saved), one Dask frame for the dask
    engine's ``dask.ParquetDataset`` (conf/dask)."""
    if engine == "dask":
        from engagement_lab.ingestion.dask_interactions import as_dask

        return as_dask(tables)
    return partitions(tables)


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(frames, ignore_index=True)`` of frames with the same columns and types; one non-empty
    frame with a default index is passed through without a copy (SMPD's issue log can be 300K rows)."""
    filled = [f for f in frames if len(f)]
    alike = all(f.dtypes.equals(frames[0].dtypes) for f in frames)
    if len(filled) == 1 and alike and filled[0].index.equals(pd.RangeIndex(len(filled[0]))):
        return filled[0]
    return pd.concat(frames, ignore_index=True)


def reconcile(parts: list[Ingested], quarantine: pd.DataFrame) -> pd.DataFrame:
    """Per source and table: records in, canonical rows kept, rejected and ignored records, and
    whether they add up. The ``files`` line counts every file under the source's raw folder:
    canonical there is the files used."""
    counts = quarantine.groupby(["source", "table", "action"]).size()
    rows = [
        dict(
            source=p.source,
            table=t,
            records_in=n,
            canonical=p.records_kept[t],
            rejected=int(counts.get((p.source, t, "rejected"), 0)),
            ignored=int(counts.get((p.source, t, "ignored"), 0)),
        )
        for p in parts
        for t, n in p.records_in.items()
    ]
    table = pd.DataFrame(rows, columns=["source", "table", "records_in", "canonical", "rejected", "ignored"])
    table["balanced"] = table["records_in"] == table["canonical"] + table["rejected"] + table["ignored"]
    return table


def top_reasons(quarantine: pd.DataFrame, source: str, table: str = "posts", n: int = 3) -> str:
    """The ``n`` commonest reasons a source's records of ``table`` were rejected, with counts."""
    mine = quarantine[
        (quarantine["source"] == source) & (quarantine["table"] == table) & (quarantine["action"] == "rejected")
    ]
    counts = mine["reason"].value_counts().head(n)
    return "; ".join(f"{reason!r} x {count}" for reason, count in counts.items()) or "none"


def loss_problems(
    parts: list[Ingested], reconciliation: pd.DataFrame, quarantine: pd.DataFrame, max_share: float
) -> list[str]:
    """One line per source read that kept no posts, or rejected more than ``max_share`` of them."""
    posts = reconciliation[reconciliation["table"] == "posts"].set_index("source")
    problems = []
    for part in parts:
        if not part.read or part.errors:
            continue
        if part.source not in posts.index or posts.loc[part.source, "canonical"] == 0:
            n_in = int(posts.loc[part.source, "records_in"]) if part.source in posts.index else 0
            problems.append(
                f"{part.source}: 0 canonical posts from {part.root} ({n_in} post records read; rejected: "
                f"{top_reasons(quarantine, part.source)})"
            )
            continue
        row = posts.loc[part.source]
        share = row["rejected"] / row["records_in"]
        if share > max_share:
            problems.append(
                f"{part.source}: {row['rejected']} of {row['records_in']} posts rejected ({share:.1%}), more than "
                f"ingestion.max_rejected_share ({max_share:.1%}); top reasons: {top_reasons(quarantine, part.source)}. "
                f"Fix the data, or raise ingestion.max_rejected_share (e.g. in conf/local/parameters_ingestion.yml) "
                f"to accept the loss"
            )
    return problems


def log_reconciliation(reconciliation: pd.DataFrame) -> None:
    """One line per source and table (and its files): INFO when nothing was rejected, WARNING when
    records were lost (under the share that stops the run), ERROR when the counts do not add up."""
    for row in reconciliation.itertuples():
        level = logging.ERROR if not row.balanced else logging.WARNING if row.rejected else logging.INFO
        lost = " (see quarantine)" if row.rejected or row.ignored else ""
        counts = (row.source, row.table, row.records_in, row.canonical, row.rejected, row.ignored, lost)
        logger.log(level, "%s/%s: %d records in = %d canonical + %d rejected + %d ignored%s", *counts)


def no_source_present(parts: list[Ingested]) -> str:
    """The error for ``sources: auto`` when no raw folder has data."""
    looked = ", ".join(f"{p.source}: {p.root}" for p in parts)
    return f"ingestion.sources is {AUTO} but no raw folder has data (looked at {looked}); {PROVIDE_DATA}"


def raise_problems(problems: list[str]) -> None:
    """One IngestionError for all problems: each on its own line."""
    if len(problems) == 1:
        raise IngestionStopped(problems[0])
    if problems:
        raise IngestionStopped(f"ingestion failed with {len(problems)} problems:\n- " + "\n- ".join(problems))


def strict_problem(quarantine: pd.DataFrame, n_reasons: int = 3) -> str:
    """Strict mode's summary of the issue log: how many issues, the first (file, record, field, reason) and the
    commonest reasons, with where to see them all."""
    first = quarantine.iloc[0]
    reasons = quarantine.groupby(["source", "reason", "action"], sort=False).size().sort_values(ascending=False)
    common = "; ".join(f"{s}: {r} ({a}) x {n}" for (s, r, a), n in reasons.head(n_reasons).items())
    more = f" and {len(reasons) - n_reasons} more" if len(reasons) > n_reasons else ""
    return (
        f"strict ingestion: {len(quarantine)} issue(s); first: {first['source']} file {first['file']} "
        f"record {first['record']} field {first['field']}: {first['reason']} ({first['action']}). "
        f"Commonest: {common}{more}. Ingestion saved nothing; run with ingestion.strict=false to keep the clean "
        "records and log every issue in the quarantine table (data/02_intermediate/quarantine.parquet)"
    )


def combine_sources(*parts: Ingested | dict[str, Any]) -> tuple[pd.DataFrame, ...]:
    """Union of the sources' tables, cross-table checks, the quarantine and the reconciliation.

    ``records in = canonical + rejected + ignored`` for every source and table (ignored: files that
    are not part of the source's layout, in the ``files`` line). The run stops with one
    IngestionError listing every source's reader errors, every source that kept no posts or
    rejected more than ``max_rejected_share`` of them, and, in strict mode, any issue at all: strict mode reads
    every file first, so that one run names every problem (the count, the first issue and the commonest reasons),
    then stops before anything is saved.
    """
    *ingested, params = parts
    if selected_sources(params["sources"]) is None and not any(p.read or p.errors for p in ingested):
        raise IngestionStopped(no_source_present(ingested))
    ingested = [_reject_posts_from_the_future(p) for p in ingested]
    tables = {t: _union([p.tables[t] for p in ingested], t) for t in TABLES if t != "interactions"}
    engine = params.get("interactions_engine", "pandas")
    tables["interactions"] = interactions_output([p.tables["interactions"] for p in ingested], engine)
    tables["users"], user_issues = _add_missing_users(tables["posts"], tables["users"])
    quarantine = _stack([*(p.issues for p in ingested), user_issues])
    reconciliation = reconcile(ingested, quarantine)
    log_reconciliation(reconciliation)
    if not reconciliation["balanced"].all():
        raise IngestionError(f"records lost in ingestion:\n{reconciliation[~reconciliation['balanced']]}")
    problems = [error for p in ingested for error in p.errors]
    problems += loss_problems(ingested, reconciliation, quarantine, params["max_rejected_share"])
    if params["strict"] and len(quarantine):
        problems.append(strict_problem(quarantine))
    raise_problems(problems)
    return (*(tables[t] for t in TABLES), quarantine, reconciliation)


def reconciliation_metrics(reconciliation: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The reconciliation as MLflow metrics <source>.<table>.<count> (the catalog adds ``ingestion.``)."""
    metrics = {}
    for row in reconciliation.itertuples():
        for name in ("records_in", "canonical", "rejected", "ignored"):
            metrics[f"{row.source}.{row.table}.{name}"] = {"value": float(getattr(row, name)), "step": 0}
    return metrics
