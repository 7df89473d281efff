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
from engagement_lab.reporting.figures import bar_axis_range, comparison_figure, confusion_figure, placeholder
from engagement_lab.reporting.summary import method_summary
from engagement_lab.reporting.tables import check_contract, contract_tables, metric_direction, not_run
from tests.conftest import base_params
from tests.pipelines.reporting.contracts import engagement_contract, ppcl_contract


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


def _visible(page: str) -> str:
    """The page's text as a browser shows it: tags dropped (column names may wrap at ``<wbr>``), entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


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
            assert f'<td class="first">{model}' in page, f"{model} missing from report.html"
            for metric in metrics:
                if not metric.endswith("_std"):
                    assert metric in markdown and metric in _visible(page)
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
    assert header == "| model | test_mae ↓ | test_mae (paper) | test_src ↑ | test_src (paper) |"
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


# ------------------------------------------------------------------------------------ direction, sizes, summary
@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("test_mae", "lower"),
        ("val_mse", "lower"),
        ("content_only_test_mae", "lower"),
        ("val_loss", "lower"),
        ("accuracy", "higher"),
        ("f_measure", "higher"),
        ("test_macro_f1", "higher"),
        ("finetune_acc_mean", "higher"),
        ("test_r2", "higher"),
        ("test_src_fraction_of_oracle", "higher"),
        ("seeds", None),
        ("train_posts", None),
        ("best_epoch", None),
        ("n_features", None),
        ("best_iteration", None),
    ],
)
def test_metric_direction_from_its_name(metric, direction):
    assert metric_direction(metric) == direction


def test_every_metric_column_says_which_way_is_better():
    markdown, page = build_report(_params(), **_figures(), ppcl=ppcl_contract())
    header = next(line for line in markdown.splitlines() if line.startswith("| model | test_mae"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[:4] == ["model", "test_mae ↓", "test_mae (paper)", "test_mse ↓"]
    assert "test_src ↑" in cells and "seeds" in cells and "train_posts" in cells  # counts: no arrow
    assert "↑ higher is better, ↓ lower is better" in markdown
    # In the HTML each metric's header names its direction in words, over the "ours" and "paper" columns.
    head = re.search(r"<thead>(.*?)</thead>", page.split('<h2 id="ppcl">')[1], re.S).group(1)
    assert _visible(head).count("lower is better") == 4 and _visible(head).count("higher is better") == 3
    assert '<th colspan="2" class="pair">' in head and '<th class="sub paper">paper</th>' in head


def test_split_sizes_are_one_line_and_the_other_counts_one_row_each():
    markdown, page = build_report(_params(), **_figures(), ppcl=ppcl_contract())
    assert "- **split sizes**: train 2,381, val 298, test 297\n" in markdown
    assert "  - input_posts: 3,000\n  - input_quarantined: 24\n" in markdown
    assert "train 2,381, val 298, test 297 (+10 more counts in its section)" in markdown  # the overview row
    counts = re.findall(r"<li><span>([a-z_0-9]+)</span><span>([\d,]+)</span></li>", page)
    assert len(counts) == 10 and ("train_full_100k", "794") in counts and ("input_modelled", "2,976") in counts


def test_summary_says_the_papers_method_loses_to_a_baseline_when_it_does():
    params = _params()
    markdown, page = build_report(params, **_figures(), ppcl=ppcl_contract(), engagement=engagement_contract())
    ppcl = markdown.split("## ppcl")[1]
    summary = next(line for line in ppcl.splitlines() if line.startswith("**PPCL**"))
    assert summary.startswith(
        "**PPCL** (`full`) on `test_mae` (↓ lower is better): 0.834 ± 0.028, 3rd of the 18 models"
    )
    assert "It loses to the best baseline, `catboost` (0.823) by 0.011" in summary
    assert "the gap is within its std over seeds (0.028), so the difference is not clear" in summary
    assert "The oracle reaches 0.658; the method is 0.176 short of it." in summary
    assert "In the paper it was 1st of the 18 rows it printed (1.164)." in summary
    assert '<p class="summary"><strong>PPCL</strong> (<code>full</code>)' in page
    engagement = markdown.split("## engagement")[1]
    # CatBoost with the counts is past the oracle: the summary names the leak rather than a win, and the notes it
    # points to are in the section.
    assert "It is past the oracle (0.182)" in engagement and "check the section's notes for a leak" in engagement
    assert "- **notes**:\n  - catboost_paper adds the raw counts" in engagement
    assert "<dt>notes</dt><dd><ul><li>catboost_paper adds the raw counts" in page
    # The regressor loses to TF-IDF + ridge; the fusion classifier loses to TF-IDF + logistic regression.
    assert "**SigLIP + DeBERTa** (`multimodal_regression`) on `test_r2` (↑ higher is better): 0.130" in engagement
    assert "It loses to the best baseline, `tfidf_ridge` (0.139) by 0.009." in engagement
    assert "It loses to the best baseline, `tfidf_logistic` (0.202) by 0.022." in engagement


def test_summary_when_the_method_wins_and_when_no_baseline_ran():
    contract = ppcl_contract()
    contract["models"]["full"]["test_mae"] = 0.70
    comparison = {"method": "full", "metric": "test_mae", "baselines": ["rnc", "catboost", "tfidf_ridge"]}
    text = method_summary(contract, comparison)
    assert "It beats the best baseline, `catboost` (0.823) by 0.123." in text
    assert "closes 75 % of the gap from the best baseline to the oracle" in text
    src = method_summary(contract, {**comparison, "metric": "test_src"})
    assert "The oracle reaches 0.864; the method gets 91 % of it." in src
    alone = method_summary(contract, {**comparison, "baselines": ["not_run_here"]})
    assert "None of its baselines ran, so there is nothing to compare it with here." in alone
    assert method_summary(contract, {**comparison, "method": "absent"}) is None


@pytest.mark.parametrize(
    ("values", "errors", "low", "high"),
    [
        ([35.0, 72.0, 90.0], None, 0.0, 90.0),  # a low bar: the axis starts at zero, not at 40
        ([-0.014, 0.13, 0.66], None, -0.014, 0.66),  # a negative R²
        ([60.0, 70.0], [1.0, 5.0], 0.0, 75.0),  # the error bars too
        ([1.2, None, float("nan")], None, 0.0, 1.2),  # missing figures are ignored
    ],
)
def test_bar_axis_range_shows_every_bar_whole(values, errors, low, high):
    axis = bar_axis_range(values, errors)
    assert axis[0] <= low and axis[1] >= high
    assert axis[1] - high < 0.1 * (high - low) + 1e-9  # padded, not stretched


def test_comparison_figure_axes_show_every_bar_and_the_oracle():
    contracts = {"ppcl": ppcl_contract(), "engagement": engagement_contract()}
    metrics = {"ppcl": "test_mae", "engagement": "test_r2"}
    figure = comparison_figure(contracts, _params()["published"], metrics)
    axes = {"x": figure.layout.yaxis.range, "x2": figure.layout.yaxis2.range}
    for trace in figure.data:
        shown = [v for v in trace.y if v is not None]
        low, high = axes[trace.xaxis]
        assert all(low <= v <= high for v in shown), (trace.name, trace.xaxis, shown, (low, high))
    assert axes["x2"][0] < -0.002  # the mean prediction's negative R² is drawn
    assert axes["x"][1] >= 1.353 and axes["x2"][1] >= 0.663  # the worst MAE; the oracle line
    assert "lower is better" in figure.layout.annotations[0].text
