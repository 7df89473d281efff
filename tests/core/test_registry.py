"""The registry is the one list of each pipeline's variants: conf holds their parameters under the same keys,
and every pipeline nests its nodes (and each variant's) under its own namespace."""

from __future__ import annotations

import pytest
from kedro.config import OmegaConfigLoader

from engagement_lab.core import registry
from engagement_lab.pipelines.demo import project_pipelines
from tests.conftest import PROJECT


@pytest.fixture(scope="module")
def parameters() -> dict:
    return OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="base")["parameters"]


@pytest.mark.parametrize(
    ("section", "variants"),
    [
        (("pretraining", "variants"), registry.PRETRAINING_VARIANTS),
        (("dual_attention", "models"), registry.DUAL_ATTENTION_MODELS),
        (("ppcl", "models"), registry.PPCL_MODELS),
    ],
)
def test_conf_has_parameters_for_exactly_the_registered_variants(parameters, section, variants):
    pipeline, key = section
    assert list(parameters[pipeline][key]) == list(variants)


def test_every_node_is_nested_under_its_pipeline_and_each_variant_under_both():
    pipelines = project_pipelines()
    for name, pipeline in pipelines.items():
        outside = [node.name for node in pipeline.nodes if not (node.namespace or "").startswith(name)]
        assert not outside, f"{name}: nodes outside the {name!r} namespace: {outside}"
    namespaces = {node.namespace for pipeline in pipelines.values() for node in pipeline.nodes}
    assert {f"pretraining.{v}" for v in registry.PRETRAINING_VARIANTS} <= namespaces
    assert {f"transfer_evaluation.{v}" for v in registry.PRETRAINING_VARIANTS} <= namespaces
    assert {f"dual_attention.{m}" for m in registry.DUAL_ATTENTION_MODELS} <= namespaces
    assert {f"ppcl.{m}" for m in registry.PPCL_MODELS} <= namespaces
    assert {f"engagement.catboost_{f}" for f in registry.ENGAGEMENT_FEATURE_SETS} <= namespaces
    assert {f"ingestion.{s}" for s in registry.SOURCES} <= namespaces


def test_the_report_reads_every_registered_contract_and_each_is_written_by_one_pipeline():
    pipelines = project_pipelines()
    assert set(registry.CONTRACTS.values()) <= pipelines["reporting"].inputs()
    for contract in registry.CONTRACTS.values():
        writers = [name for name, p in pipelines.items() if contract in p.all_outputs()]
        assert len(writers) == 1, f"{contract} written by {writers}"
