"""Project commands: Kedro's own, with ``kedro run`` defaulting to the project's runner.

Kedro loads ``<package>.cli`` and lets its commands override the built-in ones. ``kedro run`` here is
Kedro's ``run`` command unchanged except that ``--runner`` defaults to
``engagement_lab.runner.SkippingRunner`` (a pipeline whose inputs are missing is skipped and reported
as not run); ``--runner SequentialRunner`` still gives Kedro's own.
"""

from __future__ import annotations

import copy

import click
from kedro.framework.cli.project import run as kedro_run

DEFAULT_RUNNER = "engagement_lab.runner.SkippingRunner"


def _with_default_runner(command: click.Command) -> click.Command:
    command = copy.copy(command)
    command.params = [copy.copy(param) for param in command.params]
    for param in command.params:
        if param.name == "runner":
            param.default = DEFAULT_RUNNER
            param.help = f"{param.help} Default: {DEFAULT_RUNNER}."
    return command


@click.group(name="engagement_lab")
def cli() -> None:
    """Engagement Lab's project commands."""


cli.add_command(_with_default_runner(kedro_run), name="run")
