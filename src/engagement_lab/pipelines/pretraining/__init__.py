"""VisE §3.3: a CNN trained from scratch on the engagement pseudo-labels, one run per task set."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
