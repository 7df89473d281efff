"""``predict``: score new posts with the trained models."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
