"""The ``ingestion`` pipeline: one namespaced reader per raw format, then combine.

Each source is the same one-node template under its own namespace (``ingestion.smpd.ingest_smpd``,
...), reading ``raw_<source>``; ``ingestion.sources`` chooses which are read.
"""

from kedro.pipeline import Node, Pipeline

from engagement_lab.ingestion.provenance import describe_sources

from .nodes import READERS, TABLES, combine_sources, make_reader, reconciliation_metrics


def source_pipeline(source: str) -> Pipeline:
    template = Pipeline([Node(make_reader(source), ["raw", "params:ingestion"], "ingested", name=f"ingest_{source}")])
    return Pipeline(
        template,
        namespace=source,
        inputs={"raw": f"raw_{source}"},
        outputs={"ingested": f"ingested_{source}"},
        parameters={"params:ingestion"},
    )


def create_pipeline(**kwargs) -> Pipeline:
    readers = sum((source_pipeline(s) for s in READERS), Pipeline([]))
    combine = Pipeline(
        [
            Node(
                combine_sources,
                [*(f"ingested_{s}" for s in READERS), "params:ingestion"],
                [*TABLES, "quarantine", "ingestion_reconciliation"],
                name="combine_sources",
            ),
            Node(
                reconciliation_metrics, "ingestion_reconciliation", "ingestion_metrics", name="reconciliation_metrics"
            ),
            Node(
                describe_sources,
                {"reconciliation": "ingestion_reconciliation", **{s: f"raw_{s}" for s in READERS}},
                "ingestion_sources",
                name="describe_sources",
            ),
        ]
    )
    return Pipeline(readers + combine, namespace="ingestion", prefix_datasets_with_namespace=False)
