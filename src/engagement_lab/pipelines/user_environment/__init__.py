"""User environment (§III-C): per-user labels, the split, LDA topics and leave-one-out environments."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
