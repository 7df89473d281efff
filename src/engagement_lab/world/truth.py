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
