"""Image and text embedding under torchrun: two CPU processes (Gloo) each embed a shard, rank 0 gathers them into
the same cached tables that the single-process nodes write."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import yaml

from engagement_lab.features.post_texts import build_post_texts
from engagement_lab.pipelines.features.nodes import embed_images, embed_post_texts
from tests.conftest import FAST_FEATURES, PROJECT, base_params, project_catalog, run_torchrun


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_torchrun_embeds_shards_into_the_same_cached_tables(tiny_featured, tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT / "pyproject.toml", root)
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("credentials.yml"))
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    params = base_params("features", **FAST_FEATURES)
    (root / "conf/local/parameters_features.yml").write_text(yaml.safe_dump({"features": params}))

    # A slice of the tiny world: 41 distinct images (every format of each), the posts of 61 texts.
    all_images = tiny_featured.load("images")
    images = all_images[all_images["sha1"].isin(all_images["sha1"].drop_duplicates().iloc[:41])]
    posts = tiny_featured.load("posts").iloc[:61]
    empty = pd.DataFrame(columns=["sha1", "embedding", "encoder"])
    single_images, _ = embed_images(images, empty, params)  # what the single-process node writes
    single_texts, _ = embed_post_texts(build_post_texts(posts), empty.rename(columns={"sha1": "text_sha1"}), params)

    catalog = project_catalog(root)
    catalog.save("images", images)
    catalog.save("posts", posts)
    # The previous tables: half of the images from this encoder (reused), the texts from the old torch-only name
    # (re-embedded, never mixed in).
    catalog.save(
        "image_embeddings", single_images.iloc[::2].assign(embedding=lambda t: t["embedding"].map(np.zeros_like))
    )
    catalog.save("text_embeddings", single_texts.assign(encoder="all-MiniLM-L6-v2"))
    # COLUMNS: wide enough for rich to keep a log line whole.
    result = run_torchrun(root, "engagement_lab.pipelines.features.torchrun", COLUMNS="400")
    output = result.stdout + result.stderr
    counts = "features (torchrun, 2 processes): {} {{'embedded': {}, 'from_cache': {}, 'total': {}}}"
    assert counts.format("images", 20.0, 21.0, 41.0) in output, output[-3000:]
    assert counts.format("texts", 61.0, 0.0, 61.0) in output, output[-3000:]

    saved = project_catalog(root)
    for name, single, key in (
        ("image_embeddings", single_images, "sha1"),
        ("text_embeddings", single_texts, "text_sha1"),
    ):
        table = saved.load(name)
        assert table[key].tolist() == single[key].tolist() and set(table["encoder"]) == set(single["encoder"])
        fresh = ~table[key].isin(single_images[key].iloc[::2]) if key == "sha1" else table[key].notna()
        a, b = np.stack(table.loc[fresh, "embedding"]), np.stack(single.loc[fresh, "embedding"])
        assert cosine(a, b).min() >= 0.9999  # the ranks' vectors are the single process's (1 thread vs 2)
        cached = ~fresh
        assert all(not v.any() for v in table.loc[cached, "embedding"])  # cached rows are taken as they were
    assert saved.load("post_texts")["text_sha1"].tolist() == build_post_texts(posts)["text_sha1"].tolist()
