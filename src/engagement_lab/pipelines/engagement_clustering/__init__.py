"""VisE §3.1–3.2: cluster comments and reactions into pseudo-labels for pretraining."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
