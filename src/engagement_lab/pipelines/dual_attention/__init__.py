"""The dual-attention popularity classifier (§III, §IV-B/C) with its baselines, ablations and analyses."""

from .pipeline import MODELS, create_pipeline

__all__ = ["MODELS", "create_pipeline"]
