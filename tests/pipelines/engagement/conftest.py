"""A PixelRec folder with hand-made defects, run through ingestion → features → engagement once per package;
and the same tables as a user's partial export (no covers, no comment or share counts, no ground truth)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from engagement_lab.datasets import OptionalParquetDataset
from engagement_lab.pipelines.engagement import create_pipeline as engagement_pipeline
from engagement_lab.pipelines.features import create_pipeline as features_pipeline
from engagement_lab.pipelines.ingestion import create_pipeline as ingestion_pipeline
from tests.conftest import FAST_FEATURES, base_params, project_catalog

# item_id → {column: raw text}: what the edited item_info.csv says for these items.
EDITS = {
    "10": {"view_number": "NaN"},  # a NaN count: no target, must not become 0
    "11": {"comment_number": ""},  # an empty count
    "12": {"share_number": "lots"},  # garbage text
    "13": {"thumbup_number": "12.0", "view_number": "300.0"},  # float-as-text counts are read exactly
}
NO_COVER = "14"  # its cover jpg is deleted: kept, with no image
MISSING_COUNTS = ["comments", "shares"]  # the partial export has no comment or share counts at all
OWN_FOLDER = "/data/own/pixelrec"  # where the partial export says it was read from


def registry_off() -> dict:
    """The registry settings with registration off: these runs test the models, not MLflow's registry (the
    registry tests do; ``engagement.register_models`` then lists every model as skipped)."""
    return base_params("registry", enabled=False)


def fast_engagement_params() -> dict:
    """Base parameters, made small enough for the tiny world on 2 cores."""
    params = base_params("engagement", device="cpu")
    params["catboost"] = {
        **params["catboost"],
        "iterations": 40,
        "learning_rate": 0.1,
        "embedding_pca": 16,
        "early_stopping_rounds": 20,
        "cv_folds": 3,
        "thread_count": 1,  # faster than 2 while other test processes share the 2 cores
    }
    small = {"d_model": 32, "n_tokens": 2, "n_heads": 2}
    params["fusion_classifier"] = {
        "model": {**params["fusion_classifier"]["model"], **small},
        "train": {**params["fusion_classifier"]["train"], "epochs": 4},
    }
    params["regression"] = {
        "model": {**params["regression"]["model"], **small, "n_fusion_layers": 1},
        "train": {**params["regression"]["train"], "epochs": 8},
    }
    return params


def edit_pixelrec(folder: Path) -> None:
    path = folder / "item_info.csv"
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        row.update(EDITS.get(row["item_id"], {}))
    with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (folder / "cover" / f"{NO_COVER}.jpg").unlink()


@pytest.fixture(scope="package")
def pixelrec_run(tiny_world, tiny_featured, tmp_path_factory):
    """The tiny world's PixelRec export, edited and placed where a user's own export goes
    (``data/01_raw/pixelrec``), then ingestion (pixelrec only) → features → engagement.

    The features cache starts from the tiny world's embeddings (``tiny_featured``, shared by the session):
    the edits change no picture and no text, so the features run finds every vector in its cache."""
    raw, world = tiny_world
    root = tmp_path_factory.mktemp("engagement")
    target = root / "data/01_raw/pixelrec"
    shutil.copytree(raw / "pixelrec", target)
    edit_pixelrec(target)
    catalog = project_catalog(root)
    catalog["ground_truth_posts"] = world.load("ground_truth_posts")
    catalog["params:ingestion"] = base_params("ingestion", sources=["pixelrec"])
    SequentialRunner().run(ingestion_pipeline(), catalog)
    catalog.save("image_embeddings", tiny_featured.load("image_embeddings"))
    catalog.save("text_embeddings", tiny_featured.load("text_embeddings"))
    catalog["params:features"] = base_params("features", **FAST_FEATURES)
    SequentialRunner().run(features_pipeline(), catalog)
    catalog["params:engagement"] = fast_engagement_params()
    catalog["params:registry"] = registry_off()
    SequentialRunner().run(engagement_pipeline(), catalog)
    return catalog


def partial_export(catalog: DataCatalog) -> dict[str, pd.DataFrame]:
    """The canonical tables of ``catalog`` as a partial PixelRec export gives them: no cover images (no
    images rows, no image path, no image embeddings) and no comment or share counts (entirely missing)."""
    posts = catalog.load("posts").copy()
    posts["image_path"] = pd.Series(pd.NA, index=posts.index, dtype="string")
    for col in MISSING_COUNTS:
        posts[col] = pd.Series(pd.NA, index=posts.index, dtype="Int64")
    images, image_embeddings = catalog.load("images"), catalog.load("image_embeddings")
    return {
        "posts": posts,
        "images": images.iloc[:0],
        "image_embeddings": image_embeddings.iloc[:0],
        "post_texts": catalog.load("post_texts"),
        "text_embeddings": catalog.load("text_embeddings"),
    }


@pytest.fixture(scope="package")
def partial_run(pixelrec_run, tmp_path_factory):
    """The engagement pipeline on :func:`partial_export` of the PixelRec tables, with no ground truth (its file
    does not exist) and an ingestion record that names the user's folder. Memory datasets only."""
    tables = partial_export(pixelrec_run)
    catalog = DataCatalog({name: MemoryDataset(frame, copy_mode="assign") for name, frame in tables.items()})
    missing = tmp_path_factory.mktemp("no_truth") / "posts.parquet"
    catalog["ground_truth_posts"] = OptionalParquetDataset(filepath=str(missing))
    posts = int((tables["posts"]["source"] == "pixelrec").sum())
    catalog["ingestion_sources"] = {"pixelrec": {"folder": OWN_FOLDER, "files": 2, "posts": posts}}
    catalog["params:engagement"] = fast_engagement_params()
    catalog["params:registry"] = registry_off()
    SequentialRunner().run(engagement_pipeline(), catalog)
    return catalog
