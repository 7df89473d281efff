"""The ``demo`` pipeline: the sample world, then every pipeline on it."""

from .pipeline import DEMO_INPUTS, NOT_IN_OWN_DATA_RUN, create_pipeline, on_sample_world, project_pipelines

__all__ = [
    "DEMO_INPUTS",
    "NOT_IN_OWN_DATA_RUN",
    "create_pipeline",
    "on_sample_world",
    "project_pipelines",
]
