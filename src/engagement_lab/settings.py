"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

import os

# Telemetry off unless the user opts in: kedro-telemetry and MLflow read these.
# (MLflow honours only the literal "true".)
for _var in ("DO_NOT_TRACK", "KEDRO_DISABLE_TELEMETRY", "MLFLOW_DISABLE_TELEMETRY"):
    os.environ.setdefault(_var, "true")

# Matplotlib in nodes draws off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")

from engagement_lab.hooks import (  # noqa: E402
    AtomicOutputsHook,
    KilledRunsHook,
    MissingModelsHook,
    MlflowArtifactsHook,
    RawDataGuardHook,
    ReportingInputsHook,
    RunLockHook,
)

# RunLockHook wraps the others (tryfirst wrappers): one run per project at a time, MLflow set up by one process.
HOOKS = (
    RunLockHook(),
    AtomicOutputsHook(),
    KilledRunsHook(),
    RawDataGuardHook(),
    MlflowArtifactsHook(),
    MissingModelsHook(),
    ReportingInputsHook(),
)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment overrides single keys (conf/paper sets sample_world.preset) without
    # replacing the whole parameter block.
    "merge_strategy": {"parameters": "soft"},
}
