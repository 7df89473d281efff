"""``engagement``: "First Impressions Matter" on PixelRec-format posts."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
