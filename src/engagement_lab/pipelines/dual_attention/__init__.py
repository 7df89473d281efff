"""The dual-attention popularity classifier (§III, §IV-B/C) with its baselines, ablations and analyses."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
