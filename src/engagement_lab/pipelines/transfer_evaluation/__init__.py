"""VisE §4.2–4.4: linear evaluation and fine-tuning of every backbone on the labelled emotion set."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
