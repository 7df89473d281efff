"""A post's text as every text model reads it: title, caption and tags in one string, with its content hash."""

from __future__ import annotations

import hashlib

import pandas as pd


def build_post_texts(posts: pd.DataFrame) -> pd.DataFrame:
    """One text per post (title, caption and tags, as present) and its content hash."""
    parts = [
        posts["title"].fillna(""),
        posts["caption"].fillna(""),
        posts["tags"].map(lambda t: "" if t is None else " ".join(t)),
    ]
    text = (parts[0] + " " + parts[1] + " " + parts[2]).str.split().str.join(" ").fillna("")
    return pd.DataFrame(
        {
            "post_id": posts["post_id"],
            "text": text,
            "text_sha1": text.map(lambda t: hashlib.sha1(t.encode("utf-8")).hexdigest()),
        }
    )
