"""The comparison report: every model and metric of every contract, the papers' figures beside our rows,
a self-contained HTML page, and what a missing contract does."""

from __future__ import annotations

import html
import re

import plotly.graph_objects as go
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset

from engagement_lab.core.results import results_contract
from engagement_lab.hooks import MissingResultsError, ReportingInputsHook
from engagement_lab.pipelines.reporting import create_pipeline
from engagement_lab.pipelines.reporting.nodes import build_report, popularity_plot
from engagement_lab.pipelines.reporting.pipeline import CONTRACTS
from engagement_lab.reporting.figures import confusion_figure, placeholder
from engagement_lab.reporting.tables import check_contract, contract_tables, not_run
from tests.conftest import base_params


def _regression_contract():
    return results_contract(
        "alpha",
        dataset="tiny world",
        split_sizes={"train": 80, "val": 10, "test": 10},
        seed=[0, 1],
        models={
            "full": {"test_mae": 1.25, "test_mae_std": 0.05, "test_src": 0.61},
            "no_cl": {"test_mae": 1.31, "test_mae_std": 0.02, "test_src": 0.55},
        },
        oracle={"test_mae": 0.4, "test_src": 0.95},
    )


def _mixed_contract():
    # Classifiers and a regressor: two metric groups, so two tables; an oracle metric no model has.
    return results_contract(
        "beta",
        dataset="tiny pixelrec",
        split_sizes={"train": 70, "val": 10, "test": 20},
        seed=42,
        models={
            "catboost": {"test_accuracy": 0.41, "test_macro_f1": 0.39},
            "fusion": {"test_accuracy": 0.37, "test_macro_f1": 0.30},
            "regressor": {"test_r2": 0.16},
        },
        oracle={"test_accuracy": 0.5, "test_r2": 0.6, "content_only_test_r2": 0.19},
    )


PUBLISHED = {
    "alpha": {
        "paper": "Alpha paper",
        "table": "Table 1",
        "dataset": "SMPD-300K",
        "models": {
            "full": {"label": "PPCL", "test_mae": 1.164, "test_src": 0.762},
            "dtcn": {"label": "DTCN", "test_mae": 1.532, "test_src": 0.624},
        },
    },
}


def _params(**overrides):
    params = base_params("reporting", **overrides)
    params["published"] = {**params["published"], **PUBLISHED}
    return params


def _figures():
    return {
        name: placeholder(name, "test")
        for name in ("popularity", "training_curves", "confusion", "predicted_vs_true", "comparison")
    }


def _md_rows(markdown: str) -> dict[str, list[str]]:
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows.setdefault(cells[0], cells)
    return rows


def test_report_lists_every_model_and_metric_with_context():
    contracts = {"alpha": _regression_contract(), "beta": _mixed_contract()}
    markdown, page = build_report(_params(), **_figures(), **contracts)
    for contract in contracts.values():
        for model, metrics in contract["models"].items():
            assert re.search(rf"^\| {model}\b", markdown, re.M), f"{model} missing from report.md"
            assert f"<td>{model}" in page, f"{model} missing from report.html"
            for metric in metrics:
                if not metric.endswith("_std"):
                    assert metric in markdown and metric in page
        assert contract["dataset"] in markdown
    assert "train 80, val 10, test 10" in markdown and "train 70, val 10, test 20" in markdown
    assert "**seed**: 0, 1" in markdown and "**seed**: 42" in markdown
    rows = _md_rows(markdown)
    assert rows["full (PPCL)"][1] == "1.250 ± 0.050"  # mean ± std from test_mae_std
    assert rows["oracle (noise-free truth)"][1] == "0.400"
    # The classifiers and the regressor are two tables; the oracle-only metric gets its own.
    assert len(contract_tables(contracts["beta"])) == 3
    assert "content_only_test_r2" in markdown


def test_published_figures_sit_beside_our_rows_and_paper_only_rows_are_listed():
    markdown, page = build_report(_params(), **_figures(), alpha=_regression_contract())
    header = next(line for line in markdown.splitlines() if line.startswith("| model | test_mae"))
    assert header == "| model | test_mae | test_mae (paper) | test_src | test_src (paper) |"
    rows = _md_rows(markdown)
    assert rows["full (PPCL)"][1:] == ["1.250 ± 0.050", "1.164", "0.610", "0.762"]
    assert rows["no_cl"][2] == "" and rows["no_cl"][4] == ""  # no published figure: empty, not invented
    assert rows["DTCN (paper only)"][1:] == ["—", "1.532", "—", "0.624"]
    assert "SMPD-300K" in markdown and "Alpha paper" in markdown
    assert '<td class="paper">1.164</td>' in page


def test_html_is_self_contained():
    figures = _figures()
    figures["comparison"] = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    _, page = build_report(_params(), **figures, alpha=_regression_contract())
    assert not re.search(r"<script[^>]*\bsrc=", page), "a script is loaded from elsewhere"
    assert not re.search(r"<link[^>]*href=[\"']https?:", page), "a stylesheet is loaded from elsewhere"
    assert page.count("plotly.js v") >= 1 and page.count('<script type="text/javascript">/**') == 1
    assert page.count('class="plotly-graph-div"') == 5  # every figure, each a div using the inlined library


def test_missing_contract_is_reported_as_not_run():
    not_run = {"pipeline": "beta", "not_run": True, "producer": "engagement", "reason": "beta_metrics does not exist"}
    markdown, page = build_report(_params(), **_figures(), alpha=_regression_contract(), beta=not_run)
    assert "Not run: no `beta` results yet (beta_metrics does not exist)" in markdown
    assert "`kedro run --pipelines=engagement`" in markdown
    assert "| beta | not run yet |" in markdown and "not-run" in page
    assert "full (PPCL)" in markdown  # the contracts that exist are still reported


def test_a_pipeline_skipped_for_missing_inputs_is_reported_with_its_reason():
    reason = "no crowdtangle posts (sources present: ['smpd'])"
    skipped = not_run("beta", "engagement_clustering", reason, inputs_missing=True)
    markdown, page = build_report(_params(), **_figures(), alpha=_regression_contract(), beta=skipped)
    assert f"Not run on this data: {reason}." in markdown
    assert f"| beta | not run: {reason} |" in markdown
    assert "kedro run --pipelines=engagement_clustering" not in markdown  # running it again would not help
    assert html.escape(f"Not run on this data: {reason}.") in page


def test_malformed_contract_names_the_problem():
    with pytest.raises(ValueError, match=r"'alpha' lacks \['split_sizes'\]"):
        check_contract("alpha", {"dataset": "x", "seed": 0, "models": {"m": {"a": 1.0}}})
    with pytest.raises(ValueError, match="has no models"):
        check_contract("alpha", {"dataset": "x", "split_sizes": {}, "seed": 0, "models": {}})


def _reporting_catalog(tmp_path, on_missing: str) -> tuple[DataCatalog, object]:
    """The contracts of CONTRACTS as versioned JSON files where only the first exists."""
    catalog = DataCatalog()
    catalog["params:reporting"] = _params(on_missing=on_missing)
    first, *rest = CONTRACTS.values()
    for name in CONTRACTS.values():
        catalog[name] = JSONDataset(filepath=str(tmp_path / name / "metrics.json"), version=None)
    catalog.save(first, _regression_contract())
    pipeline = create_pipeline().only_nodes("reporting.comparison_plot")
    return catalog, (first, rest, pipeline)


def test_hook_stands_in_not_run_contracts(tmp_path):
    catalog, (first, rest, pipeline) = _reporting_catalog(tmp_path, "not_run")
    ReportingInputsHook().before_pipeline_run({}, pipeline, catalog)
    assert catalog.load(first)["models"]  # the one that exists is untouched
    for name in rest:
        stand_in = catalog.load(name)
        assert stand_in["not_run"] and stand_in["producer"] == name.removesuffix("_metrics"), stand_in
    SequentialRunner().run(pipeline, catalog)  # and the node runs on them


def test_hook_error_names_every_missing_result_and_its_pipeline(tmp_path):
    catalog, (_, rest, pipeline) = _reporting_catalog(tmp_path, "error")
    with pytest.raises(MissingResultsError) as error:
        ReportingInputsHook().before_pipeline_run({}, pipeline, catalog)
    for name in rest:
        assert name in str(error.value)
    assert "kedro run --pipelines=dual_attention" in str(error.value)


def test_report_pipeline_slice_writes_both_files(tmp_path):
    from kedro_datasets.text import TextDataset

    catalog = DataCatalog()
    catalog["params:reporting"] = _params()
    contracts = [_regression_contract(), _mixed_contract()] + [None] * (len(CONTRACTS) - 2)  # the rest: not run
    for name, contract in zip(CONTRACTS.values(), contracts, strict=True):
        catalog[name] = MemoryDataset(contract if contract is not None else {"not_run": True})
    for name, figure in _figures().items():
        catalog[f"reporting_{name}_plot"] = MemoryDataset(figure, copy_mode="assign")
    catalog["report_md"] = TextDataset(filepath=str(tmp_path / "report.md"))
    catalog["report_html"] = TextDataset(filepath=str(tmp_path / "report.html"))
    SequentialRunner().run(create_pipeline().only_nodes("reporting.build_report"), catalog)
    markdown = (tmp_path / "report.md").read_text()
    assert "no_cl" in markdown and "regressor" in markdown and "Not run" in markdown
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_popularity_figure_on_the_tiny_world(tiny_ingested):
    catalog = tiny_ingested
    posts, users = catalog.load("posts"), catalog.load("users")
    figure = popularity_plot(posts, users, catalog.load("ground_truth_posts"), _params())
    boxes = [t for t in figure.data if t.type == "box"]
    concepts = {t.name for t in boxes if t.xaxis == "x"}
    smpd = posts[posts["source"] == "smpd"]
    assert 0 < len(concepts) <= 20 and concepts <= set(smpd["concept"].dropna())
    # Every post of a concept shown is in its box: counts add up.
    for trace in boxes:
        if trace.xaxis == "x":
            expected = smpd[(smpd["concept"] == trace.name) & smpd["popularity_label"].notna()]
            assert len(trace.y) == len(expected)
    assert "Spearman" in figure.layout.annotations[2].text and "oracle" in figure.layout.annotations[2].text


def test_confusion_counts_add_up():
    figure = confusion_figure([("m", [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], ["a", "b", "c"])], "t")
    counts = figure.data[0].text
    assert counts.sum() == 6 and counts[2][2] == 2 and counts[0][1] == 1
    assert figure.data[0].z[2][2] == pytest.approx(2 / 3)
