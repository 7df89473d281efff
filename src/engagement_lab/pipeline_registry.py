"""Project pipelines: the own-data run (``kedro run``) and the demo (``kedro run --pipelines=demo``).

``__default__`` reads your exports (``raw_<source>``, read-only) and runs every pipeline that applies
to them; it includes neither ``sample_world`` nor ``predict``. ``demo`` (``pipelines/demo``) puts the
sample world in front and reads its folders instead, then scores its example new posts.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from engagement_lab.pipelines.demo import NOT_IN_OWN_DATA_RUN


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    if "__default__" in pipelines:  # all were loaded (``kedro run --pipelines=x`` loads only x)
        skipped = (*NOT_IN_OWN_DATA_RUN, "demo")
        pipelines["__default__"] = sum((p for name, p in pipelines.items() if name not in skipped), Pipeline([]))
    return pipelines
