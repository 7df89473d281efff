"""The ``reporting`` pipeline: comparison report, figures and the MLflow model registry."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
