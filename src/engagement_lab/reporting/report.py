"""The comparison report: one Markdown and one self-contained HTML page over every results contract.

The HTML carries plotly.js inline once (no CDN: the project runs offline) and each figure as a ``<div>``.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from engagement_lab.reporting.tables import (
    check_contract,
    context_lines,
    contract_tables,
    html_table,
    is_not_run,
    markdown_table,
)

DISCLAIMER = (
    "The papers' figures are measured on their real data sets (named in each section); ours on this run's data "
    "(the sample world unless you brought your own). Compare orderings and gaps between models, not absolute values; "
    "the oracle row is the noise-free ground truth scored with the same metric — what is learnable here."
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f0f0f0} td.paper{color:#555;background:#fafaf0}
tr.oracle td{font-style:italic;background:#f3f8ff} tr.paper-only td{color:#777}
.not-run{background:#fff4e5;border-left:4px solid #f0a020;padding:0.5em 1em}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px} dt{font-weight:600}
.figure{margin:1em 0 2em}
"""


def _section_header(name: str, contract: dict[str, Any], paper: dict[str, Any]) -> list[tuple[str, str]]:
    lines = context_lines(contract)
    if paper:
        lines.append(("paper", f"{paper.get('paper', '')} — {paper.get('table', '')}".strip(" —")))
        lines.append(("paper's data", str(paper.get("dataset", "not stated"))))
        if paper.get("note"):
            lines.append(("note", str(paper["note"])))
    return lines


def _not_run_text(name: str, contract: dict[str, Any] | None) -> str:
    contract = contract or {}
    if contract.get("inputs_missing"):
        return f"Not run on this data: {contract.get('reason')}."
    producer = contract.get("producer")
    how = f"`kedro run --pipelines={producer}`" if producer else "its pipeline"
    return f"Not run: no `{name}` results yet ({contract.get('reason', 'missing')}). Run {how}, then `reporting`."


def build_markdown(contracts: dict[str, Any], published: dict[str, Any], figures: dict[str, str], title: str) -> str:
    """The report as Markdown; ``figures`` maps a figure's title to its file name (shown in kedro viz, MLflow)."""
    out = [f"# {title}", "", DISCLAIMER, "", _overview_markdown(contracts), ""]
    for name, contract in contracts.items():
        out += [f"## {name}", ""]
        if is_not_run(contract):
            out += [_not_run_text(name, contract), ""]
            continue
        check_contract(name, contract)
        paper = published.get(name) or {}
        out += [f"- **{label}**: {text}" for label, text in _section_header(name, contract, paper)]
        out.append("")
        for table in contract_tables(contract, paper):
            out += [markdown_table(table), ""]
    if figures:
        out += [
            "## Figures",
            "",
            "Plotly JSON datasets (kedro viz, layer reporting; MLflow artifacts under `reporting/`):",
            "",
        ]
        out += [f"- {caption}: `{path}`" for caption, path in figures.items()]
    return "\n".join(out).rstrip() + "\n"


def _overview_rows(contracts: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, contract in contracts.items():
        if is_not_run(contract):
            skipped = (contract or {}).get("inputs_missing")
            rows.append([name, f"not run: {contract['reason']}" if skipped else "not run yet", "", "", ""])
            continue
        sizes = ", ".join(f"{k} {v:,}" for k, v in contract.get("split_sizes", {}).items())
        seed = contract.get("seed")
        seed = ", ".join(map(str, seed)) if isinstance(seed, list) else str(seed)
        rows.append([name, str(contract.get("dataset")), sizes, seed, str(len(contract.get("models", {})))])
    return rows


_OVERVIEW = ["pipeline", "dataset", "split sizes", "seed", "models"]


def _overview_markdown(contracts: dict[str, Any]) -> str:
    from engagement_lab.reporting.tables import Table

    return markdown_table(Table(columns=_OVERVIEW, rows=_overview_rows(contracts)))


def build_html(contracts: dict[str, Any], published: dict[str, Any], figures: dict[str, go.Figure], title: str) -> str:
    """The report as one HTML file that needs no network: plotly.js inline once, every figure as a div."""
    from engagement_lab.reporting.tables import Table

    esc = html.escape
    body = [
        f"<h1>{esc(title)}</h1>",
        f"<p>{esc(DISCLAIMER)}</p>",
        html_table(Table(columns=_OVERVIEW, rows=_overview_rows(contracts))),
    ]
    for name, contract in contracts.items():
        body.append(f'<h2 id="{esc(name)}">{esc(name)}</h2>')
        if is_not_run(contract):
            body.append(f'<p class="not-run">{esc(_not_run_text(name, contract))}</p>')
            continue
        check_contract(name, contract)
        paper = published.get(name) or {}
        items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in _section_header(name, contract, paper))
        body.append(f"<dl>{items}</dl>")
        body += [html_table(table) for table in contract_tables(contract, paper)]
    if figures:
        body.append("<h2>Figures</h2>")
        for caption, figure in figures.items():
            div = pio.to_html(figure, full_html=False, include_plotlyjs=False, include_mathjax=False)
            body.append(f'<div class="figure"><h3>{esc(caption)}</h3>{div}</div>')
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
        f"<body>{''.join(body)}</body></html>\n"
    )
