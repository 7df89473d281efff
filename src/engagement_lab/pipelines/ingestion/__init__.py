"""Ingestion: four raw formats into the canonical tables, with a quarantine."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
