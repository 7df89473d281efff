"""Reporting: the comparison report over every results contract, its figures, and the MLflow model registry."""
