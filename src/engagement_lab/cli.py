"""Project commands: Kedro's own, with ``kedro run`` defaulting to the project's runner and ending in one short
message when the project stops a run.

Kedro loads ``<package>.cli`` and lets its commands override the built-in ones. ``kedro run`` here is Kedro's
``run`` command with two changes:

- ``--runner`` defaults to ``engagement_lab.runner.SkippingRunner`` (a pipeline whose inputs are missing is
  skipped and reported as not run); ``--runner SequentialRunner`` still gives Kedro's own;
- an error the project raises for the user to act on (``engagement_lab.core.errors.UserFacingError``: a dataset
  an upstream pipeline has not written, strict or lossy ingestion, a missing source folder, another run holding
  the project, ...) is printed as ``Error: <message>`` on stderr and the command exits with status 1, without a
  traceback. Every other exception keeps Kedro's traceback.
"""

from __future__ import annotations

import copy
import functools
import logging
import sys
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

from engagement_lab.core.errors import UserFacingError, user_facing

DEFAULT_RUNNER = "engagement_lab.runner.SkippingRunner"
NODE_LOGGER = "kedro.pipeline.node"  # logs "Node ... failed with error: <message>" before re-raising


class _NotUserFacing(logging.Filter):
    """Drops Kedro's "Node ... failed with error" record when the error is one the command prints itself (the
    record is logged inside the ``except`` block that handles it), so that the message shows once."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = sys.exc_info()[1]
        return not (record.levelno >= logging.ERROR and error is not None and user_facing(error) is not None)


def _with_default_runner(command: click.Command) -> click.Command:
    command = copy.copy(command)
    command.params = [copy.copy(param) for param in command.params]
    for param in command.params:
        if param.name == "runner":
            param.default = DEFAULT_RUNNER
            param.help = f"{param.help} Default: {DEFAULT_RUNNER}."
    return command


def _with_short_errors(command: click.Command) -> click.Command:
    """``command`` printing a :class:`UserFacingError` as ``Error: <message>`` and exiting with status 1."""
    command = copy.copy(command)
    callback = command.callback
    assert callback is not None

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        quiet = _NotUserFacing()
        node_logger = logging.getLogger(NODE_LOGGER)
        node_logger.addFilter(quiet)
        try:
            return callback(*args, **kwargs)
        except Exception as error:
            shown: UserFacingError | None = user_facing(error)
            if shown is None:
                raise
            click.echo(f"Error: {shown}", err=True)
            raise SystemExit(1) from None
        finally:
            node_logger.removeFilter(quiet)

    command.callback = run
    return command


@click.group(name="engagement_lab")
def cli() -> None:
    """Engagement Lab's project commands."""


# Also the command `python -m engagement_lab` runs (Kedro's find_run_command looks for `run` here).
run = _with_short_errors(_with_default_runner(kedro_run))
cli.add_command(run, name="run")
