"""Errors a user can act on: their message says what is wrong and what to do, so no traceback is shown.

``kedro run`` (the project's ``run`` command, ``engagement_lab.cli``) prints such an error as one message,
``Error: <message>``, and exits with status 1; any other exception keeps Kedro's usual traceback. The project's
own errors derive from :class:`UserFacingError`: a missing upstream dataset or model
(``engagement_lab.hooks.MissingInputsError``, ``MissingModelError``, ``MissingResultsError``), a run that would
write into raw data (``RawDataError``), another run holding the project (``ProjectLockedError``), data that a
pipeline cannot run on (``InputsMissingError``) and ingestion that stops on the data
(``engagement_lab.pipelines.ingestion.nodes.IngestionStopped``: strict mode, loud losses, missing sources).
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose message is all a user needs: what is missing or wrong, and the command or setting that
    fixes it. Shown without a traceback."""


def user_facing(error: BaseException) -> UserFacingError | None:
    """``error`` itself or the error it was explicitly raised from (``raise ... from``), when that is a
    :class:`UserFacingError`; None otherwise. Implicit context is not followed: an error raised while
    handling a user-facing one is a bug, and keeps its traceback."""
    current: BaseException | None = error
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        if isinstance(current, UserFacingError):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None
