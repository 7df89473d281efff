"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

import logging
import os
import warnings
from pathlib import Path

# Telemetry off unless the user opts in: kedro-telemetry and MLflow read these.
# (MLflow honours only the literal "true".)
for _var in ("DO_NOT_TRACK", "KEDRO_DISABLE_TELEMETRY", "MLFLOW_DISABLE_TELEMETRY"):
    os.environ.setdefault(_var, "true")

# Matplotlib in nodes draws off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")

# Warnings from libraries that a user can do nothing about, shown by every command otherwise. Each is filtered on
# its exact message and the module that raises it, so that every other warning still shows. (Kedro loads this
# file before the plugins' commands, so these apply to them too.)
# kedro-mlflow's KedroPipelineModel subclasses MLflow's PythonModel without type hints on `predict`; MLflow warns
# (wrapped in ANSI colour codes) as soon as the class is defined, i.e. whenever kedro-mlflow's commands load. MLflow
# raises it under its own `simplefilter("once")`, which overrides any warnings filter, so it is dropped where it is
# printed: Kedro sends warnings to the `py.warnings` logger.
logging.getLogger("py.warnings").addFilter(
    lambda record: (
        "Add type hints to the `predict` method" not in record.getMessage()
        or "data_validation.py" not in record.getMessage()
    )
)
# OmegaConf 2.4 deprecates register_new_resolver(); Kedro's config loader (its built-in resolvers) and kedro-mlflow
# (km.random_name) still call it. The project registers no resolver of its own.
for _module in (r"kedro\.config\.omegaconf_config", r"kedro_mlflow\.framework\.hooks\.mlflow_hook"):
    warnings.filterwarnings(
        "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning, module=_module
    )
# kedro-viz's web app (`kedro viz`) still uses FastAPI's deprecated ORJSONResponse.
warnings.filterwarnings("ignore", message=r"ORJSONResponse is deprecated", module=r"kedro_viz\.api\.apps")

# MLflow gives its loggers a handler of its own when it is imported: its own format, on stderr, with ANSI colour
# codes. Let their records go through the project's logging instead (conf/logging.yml sets their level). Only at
# this import: the variable is dropped again, so an `mlflow ui` started from here logs as MLflow does.
_mlflow_logging = "MLFLOW_CONFIGURE_LOGGING" not in os.environ
if _mlflow_logging:
    os.environ["MLFLOW_CONFIGURE_LOGGING"] = "false"

from engagement_lab.hooks import (  # noqa: E402  (imports MLflow)
    AtomicOutputsHook,
    KilledRunsHook,
    MissingInputsHook,
    MlflowArtifactsHook,
    RawDataGuardHook,
    ReportingInputsHook,
    RunLockHook,
    RunNameHook,
)

if _mlflow_logging:
    del os.environ["MLFLOW_CONFIGURE_LOGGING"]

# RunLockHook wraps the others (tryfirst wrappers): one run per project at a time, MLflow set up by one process.
HOOKS = (
    RunLockHook(),
    AtomicOutputsHook(),
    KilledRunsHook(),
    RawDataGuardHook(),
    MlflowArtifactsHook(),
    RunNameHook(),
    MissingInputsHook(),
    ReportingInputsHook(),
)


def _project_root() -> str:
    """The Kedro project the process runs in (``${project_root:}`` in conf/): a notebook kernel started in
    notebooks/ must open the project's MLflow store, not create notebooks/mlflow.db."""
    from kedro.utils import find_kedro_project

    return str(find_kedro_project(Path.cwd()) or Path.cwd())


CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment overrides single keys (conf/paper sets sample_world.preset) without
    # replacing the whole parameter block.
    "merge_strategy": {"parameters": "soft"},
    "custom_resolvers": {"project_root": _project_root},
}
