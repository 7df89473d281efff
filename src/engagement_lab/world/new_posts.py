"""A small folder of *new* posts in instaloader's layout, for the ``predict`` pipeline to score.

The posts are drawn by the world's own machinery (a concept and an emotion per post, the rendered
image, caption words) but are not in the world: new post ids give new images and captions, and they
are stamped after the crawl date with no likes yet (not published). The example covers every case
the scorer must handle:

* ``known``: posts of world users that have a history (three of them, one off the user's habits);
* ``unknown_user``: a creator the world has never seen (no history: population-level prediction);
* ``corrupt_image``: a known user's post whose JPEG is cut short (unreadable image);
* ``empty_caption``: a known user's post with an empty caption.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engagement_lab.world.config import EMOTIONS
from engagement_lab.world.export import Files, write_instaloader
from engagement_lab.world.render import render_post_images
from engagement_lab.world.simulate import World, add_text

# (case, whether the concept is one of the user's habits), in the order the posts are written.
EXAMPLE_CASES = (
    ("known", True),
    ("known", True),
    ("known", False),
    ("unknown_user", True),
    ("corrupt_image", True),
    ("empty_caption", True),
)
UNKNOWN_USERNAME = "new_creator"


def example_posts(world: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The example's posts (truth columns included) and the users they belong to."""
    cfg = world.config
    rng = np.random.default_rng([cfg.seed, 8_000_001])
    counts = world.posts.groupby("user_id").size()
    # Known users with a real history: among those with the most posts, drawn at random.
    candidates = counts[counts >= counts.quantile(0.5)].index.to_numpy()
    known = rng.choice(candidates, size=sum(case != "unknown_user" for case, _ in EXAMPLE_CASES), replace=False)
    unknown_id = int(world.users["user_id"].max()) + 1
    users = world.users[world.users["user_id"].isin(known)].copy()
    stranger = users.iloc[:1].copy()
    stranger["user_id"], stranger["username"] = unknown_id, UNKNOWN_USERNAME
    stranger["habits"] = [sorted(rng.choice(cfg.n_concepts, cfg.habits_per_user, replace=False).tolist())]
    users = pd.concat([users, stranger], ignore_index=True)
    habits = dict(zip(users["user_id"], users["habits"], strict=True))

    observed = pd.Timestamp(cfg.observed_at, tz="UTC")
    rows, known_iter = [], iter(known)
    for i, (case, on_habit) in enumerate(EXAMPLE_CASES):
        user = unknown_id if case == "unknown_user" else int(next(known_iter))
        own = list(habits[user])
        concept = int(rng.choice(own)) if on_habit else int(rng.choice(np.setdiff1d(np.arange(cfg.n_concepts), own)))
        rows.append(
            {
                "post_id": len(world.posts) + i,
                "user_id": user,
                "case": case,
                "concept_id": concept,
                "on_habit": on_habit,
                "emotion": str(rng.choice(EMOTIONS)),
                "posted_at": observed + pd.Timedelta(hours=6 * (i + 1)),
            }
        )
    posts = pd.DataFrame(rows)
    tax = world.taxonomy.set_index("concept_id")
    for col in ("category_id", "subcategory_id", "category", "subcategory", "concept"):
        posts[col] = tax.loc[posts["concept_id"], col].to_numpy()
    add_text(cfg, np.random.default_rng([cfg.seed, 8_000_002]), world.taxonomy, posts)
    posts.loc[posts["case"] == "empty_caption", "caption"] = ""
    posts["defect"] = np.where(posts["case"] == "corrupt_image", "corrupt_image", "")
    posts["likes"] = posts["comments"] = 0  # not published yet
    posts["ig_shortcode"] = [f"NEW{p:08d}" for p in posts["post_id"]]
    return posts, users


def write_new_posts(world: World) -> Files:
    """The example folder (``{relative path: bytes}``); empty when the world renders no images or does
    not write the instaloader format."""
    if not world.config.render_images or "instaloader" not in world.config.formats:
        return {}
    posts, users = example_posts(world)
    cfg = world.config
    images = render_post_images(posts, cfg)
    files, _ = write_instaloader(World(cfg, world.taxonomy, users, posts, pd.DataFrame()), images)
    return files
