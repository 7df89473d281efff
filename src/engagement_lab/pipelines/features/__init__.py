"""Features: frozen image and text embeddings, cached by content hash."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
