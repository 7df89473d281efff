"""Nodes of the ``sample_world`` pipeline: simulate one world, write it in four raw formats."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from engagement_lab.core.progress import heartbeat
from engagement_lab.world.config import build_config, config_to_dict
from engagement_lab.world.export import DEFECT_COLUMNS, WRITERS, write_emotion_subset
from engagement_lab.world.new_posts import write_new_posts
from engagement_lab.world.render import render_post_images
from engagement_lab.world.simulate import World, simulate

logger = logging.getLogger(__name__)


def simulate_world(params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Draw the world: taxonomy, users and posts (the ground truth) and comment texts."""
    world = simulate(build_config(params))
    return world.taxonomy, world.users, world.posts, world.comments


def render_images(posts: pd.DataFrame, params: dict[str, Any]) -> dict[int, bytes]:
    """JPEG bytes per post id, or nothing when the preset renders no images."""
    config = build_config(params)
    if not config.render_images:
        logger.info("render_images is false: writing metadata only")
        return {}
    images = render_post_images(posts, config)
    logger.info("Rendered %d images of %dx%d px", len(images), config.image_size, config.image_size)
    return images


def _export(
    fmt: str,
    params: dict[str, Any],
    taxonomy: pd.DataFrame,
    users: pd.DataFrame,
    posts: pd.DataFrame,
    comments: pd.DataFrame,
    images: dict[int, bytes],
) -> tuple[dict[str, bytes], pd.DataFrame]:
    config = build_config(params)
    if fmt not in config.formats:
        logger.info("Format %s is not in sample_world.formats: nothing written", fmt)
        return {}, pd.DataFrame(columns=DEFECT_COLUMNS)
    with heartbeat(logger, f"sample_world: writing the {fmt} export ({len(posts)} posts)"):  # minutes at SMPD scale
        files, defects = WRITERS[fmt](World(config, taxonomy, users, posts, comments), images)
    logger.info(
        "Wrote %s: %d files, %.1f MB, %d defects", fmt, len(files), sum(map(len, files.values())) / 1e6, len(defects)
    )
    return files, pd.DataFrame(defects, columns=DEFECT_COLUMNS)


def export_smpd(*args: Any) -> tuple[dict[str, bytes], pd.DataFrame]:
    """SMPD layout (string numbers, sentinels, aligned JSON arrays)."""
    return _export("smpd", *args)


def export_pixelrec(*args: Any) -> tuple[dict[str, bytes], pd.DataFrame]:
    """PixelRec layout (float-as-text counts, viewer interactions, covers)."""
    return _export("pixelrec", *args)


def export_crowdtangle(*args: Any) -> tuple[dict[str, bytes], pd.DataFrame]:
    """Facebook CrowdTangle posts and comments exports with linked images."""
    return _export("crowdtangle", *args)


def export_instaloader(*args: Any) -> tuple[dict[str, bytes], pd.DataFrame]:
    """instaloader profile folders with .jpg, .txt and .json.xz per post."""
    return _export("instaloader", *args)


def export_new_posts(
    params: dict[str, Any], taxonomy: pd.DataFrame, users: pd.DataFrame, posts: pd.DataFrame
) -> dict[str, bytes]:
    """An example folder of new posts (instaloader layout) for the predict pipeline: known users, one
    unknown user, one corrupt image, one empty caption. Renders its own images, so it runs alone too:
    ``kedro run --pipelines=sample_world --nodes=export_new_posts``."""
    files = write_new_posts(World(build_config(params), taxonomy, users, posts, pd.DataFrame()))
    logger.info("Wrote %d example new-post files", len(files))
    return files


def export_emotion_subset(taxonomy: pd.DataFrame, params: dict[str, Any]) -> tuple[dict[str, bytes], pd.DataFrame]:
    """The labelled emotion image set for transfer evaluation, and its truth table."""
    config = build_config(params)
    if not config.render_images:
        return {}, pd.DataFrame(columns=["path", "emotion", "concept_id"])
    world = World(config, taxonomy, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    return write_emotion_subset(world)


def collect_defects(*defects: pd.DataFrame) -> pd.DataFrame:
    """Every defect written, one row per (format, record)."""
    frames = [d for d in defects if len(d)]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=DEFECT_COLUMNS)
    return table.astype({"post_id": "int64"})


def summarise_world(
    users: pd.DataFrame, posts: pd.DataFrame, comments: pd.DataFrame, defects: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """Sizes and realised effect sizes of the world, for the report and MLflow."""
    config = build_config(params)
    finite = posts[np.isfinite(posts["label"])]
    like_rate = posts.groupby("on_habit")["likes"].sum() / posts.groupby("on_habit")["views"].sum()
    return {
        "config": config_to_dict(config),
        "users": len(users),
        "posts": len(posts),
        "comments": len(comments),
        "defects": {k: int(v) for k, v in defects.groupby("format").size().items()},
        "noise_share_realised": float(finite["noise"].var() / finite["latent_score"].var()),
        "oracle_r2_on_label": float(
            1 - ((finite["label"] - finite["oracle_score"]) ** 2).mean() / finite["label"].var()
        ),
        # log2 of the off-habit over the on-habit like rate (likes per view): like_novelty_effect, realised.
        "like_novelty_realised": float(np.log2(like_rate.get(False, np.nan) / like_rate.get(True, np.nan))),
        "component_sd": {
            c: float(posts[c].std())
            for c in (
                "follower_term",
                "user_term",
                "concept_term",
                "emotion_term",
                "novelty_term",
                "time_term",
                "noise",
                "engagement_term",
            )
        },
    }
