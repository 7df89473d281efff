"""Join the sample world's ground truth to canonical post ids (evaluation only, never features)."""

from __future__ import annotations

import pandas as pd

# The ground-truth column holding each raw format's native post id; canonical ids are
# '<source>:<native id>' (engagement_lab.ingestion.common.source_id).
NATIVE_POST_ID = {
    "smpd": "smpd_pid",
    "pixelrec": "pixelrec_item_id",
    "crowdtangle": "fb_post_id",
    "instaloader": "ig_shortcode",
}


def truth_by_post_id(ground_truth_posts: pd.DataFrame, sources: list[str] | None = None) -> pd.DataFrame:
    """One row per canonical post id (``post_id``) and source; the world's own id is ``world_post_id``.

    Every ground-truth column (concept, emotion, oracle_score, ...) is kept, so a model's
    predictions join on ``post_id`` to the planted structure and the oracle."""
    frames = []
    for source in sources or list(NATIVE_POST_ID):
        native = ground_truth_posts[NATIVE_POST_ID[source]].astype("string")
        frame = ground_truth_posts.rename(columns={"post_id": "world_post_id"})
        frame.insert(0, "source", source)
        frame.insert(0, "post_id", (source + ":" + native).astype("string"))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def truth_for(
    ground_truth_posts: pd.DataFrame | None,
    post_ids: pd.Series,
    source: str,
) -> tuple[pd.DataFrame | None, str]:
    """The ground truth of exactly these posts (indexed by ``post_id``), or ``None`` and why it is omitted.

    Ground truth exists only for the sample world. It is used only when it describes every evaluated
    post: after a demo run its files stay on disk, and a user's own posts must not meet them."""
    if ground_truth_posts is None or ground_truth_posts.empty:
        return None, "no ground truth: only the sample world has one (data/09_ground_truth)"
    truth = truth_by_post_id(ground_truth_posts, [source]).drop_duplicates("post_id").set_index("post_id")
    wanted = pd.Index(post_ids.astype("string").unique())
    found = int(wanted.isin(truth.index).sum())
    if found < len(wanted):
        return None, (
            f"no ground truth for these posts: the sample world's ground truth describes {found} of "
            f"{len(wanted)} {source} posts, so it belongs to other data"
        )
    return truth.loc[wanted], ""
