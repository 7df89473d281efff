"""Sample world: a seeded simulator written in the four raw formats."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
