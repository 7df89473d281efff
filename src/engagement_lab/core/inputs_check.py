"""Whether a pipeline's inputs are there: the first node of each modelling pipeline returns an input check.

A user's export may lack a whole modality (no images, no comments, one source only). A pipeline whose
method is meaningless without it does not fail deep inside a library: its input-check node (tag
``input_check``) names what is missing, ``engagement_lab.runner.SkippingRunner`` skips the nodes that
depend on it with one log line, and the report shows "not run: <reason>". Run with another runner, the
first node that reads the check stops with the same reason instead.
"""

from __future__ import annotations

from typing import Any

from engagement_lab.core.errors import UserFacingError

INPUT_CHECK_TAG = "input_check"


class InputsMissingError(UserFacingError, RuntimeError):
    """A pipeline was run on data that lacks what its method needs."""


def input_check(pipeline: str, lacks: list[str], **has: Any) -> dict[str, Any]:
    """The check a gate node returns: ready when nothing is lacking; ``has`` counts what is there."""
    return {"pipeline": pipeline, "ready": not lacks, "reason": "; ".join(lacks), "lacks": list(lacks), "has": has}


def missing_source(posts: Any, name: str, advice: str) -> str:
    """Why a pipeline cannot run when the posts table has no ``name`` posts: the sources it does have, and
    ``advice`` (what the method needs, the parameter to set)."""
    present = sorted(posts["source"].dropna().unique())
    return f"no {name} posts (sources present: {present}); {advice}"


def require_inputs(check: dict[str, Any]) -> None:
    """Stop with the check's reason when the inputs are not there."""
    if not check["ready"]:
        raise InputsMissingError(f"{check['pipeline']} cannot run on this data: {check['reason']}")
