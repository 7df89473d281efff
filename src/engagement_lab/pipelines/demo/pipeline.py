"""The ``demo`` pipeline: ``sample_world`` writes its raw folders, then every other pipeline reads them.

One step of the demo: ``kedro run --pipelines=demo --tags=<pipeline>`` (each node carries its pipeline's name).

The other pipelines read raw data only through ``raw_<folder>`` (a user's exports, read-only). Here each
of those inputs is renamed to the sample world's own folder (``DEMO_INPUTS``), so kedro viz draws the
lineage from the simulator to the report and no node writes where ``raw_<folder>`` points.
"""

from __future__ import annotations

import importlib
import pkgutil

from kedro.pipeline import Pipeline

from engagement_lab.core.registry import RAW_FOLDERS

DEMO_INPUTS = {f"raw_{name}": f"sample_world_{name}" for name in RAW_FOLDERS}
# Not part of the own-data run (``kedro run``): the sample world writes the demo's data; predict scores
# new posts once models exist (``kedro run --pipelines=predict``).
NOT_IN_OWN_DATA_RUN = ("sample_world", "predict")


def on_sample_world(pipeline: Pipeline) -> Pipeline:
    """``pipeline`` reading the sample world's folders wherever it reads a raw folder."""
    mapping = {raw: world for raw, world in DEMO_INPUTS.items() if raw in pipeline.inputs()}
    return Pipeline(pipeline, inputs=mapping) if mapping else pipeline


def project_pipelines() -> dict[str, Pipeline]:
    """Every pipeline package under ``engagement_lab.pipelines`` but this one, built afresh (Kedro's
    ``find_pipelines`` would build this one too, which builds the others: a loop)."""
    package = importlib.import_module("engagement_lab.pipelines")
    return {
        module.name: importlib.import_module(f"{package.__name__}.{module.name}").create_pipeline()
        for module in pkgutil.iter_modules(package.__path__)
        if module.name != "demo"
    }


def create_pipeline(**kwargs) -> Pipeline:
    # Each node is tagged with its pipeline's name: `kedro run --pipelines=demo --tags=ppcl` runs one step.
    pipelines = {name: Pipeline(pipeline, tags=name) for name, pipeline in project_pipelines().items()}
    rest = sum((p for name, p in pipelines.items() if name != "sample_world"), Pipeline([]))
    return pipelines["sample_world"] + on_sample_world(rest)
