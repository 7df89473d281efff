"""Fixtures shared by the pipelines that build on each other (VisE: clustering → pretraining → transfer)."""

from __future__ import annotations

import pytest
from kedro.runner import SequentialRunner

from engagement_lab.pipelines.engagement_clustering import create_pipeline as clustering_pipeline
from tests.conftest import base_params

# Fewer clusters than the demo's: the tiny world has 400 posts.
TINY_CLUSTERS = {"comment_clusters": 8, "reaction_clusters": 6}


@pytest.fixture(scope="session")
def tiny_clustered(tiny_ingested):
    """The tiny world's pseudo-labels (engagement_clustering run on its canonical tables)."""
    catalog = tiny_ingested
    catalog["params:engagement_clustering"] = base_params("engagement_clustering", **TINY_CLUSTERS)
    SequentialRunner().run(clustering_pipeline(), catalog)
    return catalog
