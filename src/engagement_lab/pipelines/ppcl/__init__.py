"""The ``ppcl`` pipeline: popularity regression with three supervised contrastive tasks (PPCL)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
