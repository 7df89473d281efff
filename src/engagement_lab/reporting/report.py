"""The comparison report: one Markdown and one self-contained HTML page over every results contract.

The HTML carries plotly.js inline once (no CDN: the project runs offline) and each figure as a ``<div>``. Each
section opens with a summary (``summary.section_summary``: the paper's method against its best baseline and the
oracle), then the run's context (the train/val/test sizes on one line, every other count on its own row) and the
tables; every table scrolls sideways inside the page when it is wider than the page, its model column staying put.
"""

from __future__ import annotations

import html
import re
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from engagement_lab.reporting.summary import section_summary
from engagement_lab.reporting.tables import (
    DIRECTION_LEGEND,
    Table,
    check_contract,
    context_lines,
    contract_tables,
    html_table,
    is_not_run,
    markdown_table,
    sizes_text,
    split_sizes,
)

DISCLAIMER = (
    "The papers' figures are measured on their real data sets (named in each section); ours on this run's data "
    "(the sample world unless you brought your own). Compare orderings and gaps between models, not absolute values; "
    "the oracle row is the noise-free ground truth scored with the same metric — what is learnable here."
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;
color:#222}
.table-scroll{width:fit-content;max-width:100%;overflow-x:auto;margin:0.5em 0 1.5em;border:1px solid #ddd;
background:linear-gradient(to right,#fff 30%,rgba(255,255,255,0)) left/40px 100% no-repeat local,
linear-gradient(to left,#fff 30%,rgba(255,255,255,0)) right/40px 100% no-repeat local,
radial-gradient(farthest-side at 100% 50%,rgba(0,0,0,.25),transparent) right/14px 100% no-repeat scroll}
.table-scroll:focus{outline:2px solid #4a90d9}
table{border-collapse:separate;border-spacing:0;font-size:0.85em}
th,td{border-right:1px solid #ddd;border-bottom:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f0f0f0;white-space:normal;vertical-align:bottom;min-width:4.5em}
th .metric{display:block;font-weight:600}
th .better{display:block;font-weight:normal;font-size:0.85em;color:#555;white-space:nowrap}
th.sub{font-weight:normal;font-size:0.85em;vertical-align:top}
.first{text-align:left;position:sticky;left:0;z-index:1;background:#fff;white-space:normal;min-width:12em;
max-width:18em}
th.first{background:#f0f0f0;z-index:2}
td.text{text-align:left} td.paper,th.paper{color:#555;background:#fafaf0}
tr.oracle td{font-style:italic;background:#f3f8ff} tr.paper-only td{color:#777}
.not-run{background:#fff4e5;border-left:4px solid #f0a020;padding:0.5em 1em}
.summary{background:#f6f8fa;border-left:4px solid #1f77b4;padding:0.5em 1em}
.legend{color:#555;font-size:0.9em}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 12px} dt{font-weight:600} dd{margin:0}
dd ul{margin:0;padding-left:1.2em}
ul.counts{list-style:none;padding:0;margin:0;columns:16em auto;column-gap:2em}
ul.counts li{display:flex;justify-content:space-between;gap:1em;border-bottom:1px dotted #ddd;break-inside:avoid}
ul.counts li span:last-child{font-variant-numeric:tabular-nums}
.figure{margin:1em 0 2em}
"""


def _section_header(name: str, contract: dict[str, Any], paper: dict[str, Any]) -> list[tuple[str, str]]:
    """The section's context as (label, text); the split sizes are the train/val/test line only (the other counts
    are listed by :func:`_counts_markdown` / :func:`_counts_html`)."""
    main, other = split_sizes(contract)
    sizes = sizes_text(main) if main else ("see the counts below" if other else "—")
    lines = [(label, sizes if label == "split sizes" else text) for label, text in context_lines(contract)]
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


def build_markdown(
    contracts: dict[str, Any],
    published: dict[str, Any],
    figures: dict[str, str],
    title: str,
    summaries: dict[str, list[dict[str, Any]]] | None = None,
) -> str:
    """The report as Markdown; ``figures`` maps a figure's title to its file name (shown in kedro viz, MLflow);
    ``summaries`` holds each section's comparisons (``reporting.summary``)."""
    summaries = summaries or {}
    out = [f"# {title}", "", DISCLAIMER, "", DIRECTION_LEGEND, "", _overview_markdown(contracts), ""]
    for name, contract in contracts.items():
        out += [f"## {name}", ""]
        if is_not_run(contract):
            out += [_not_run_text(name, contract), ""]
            continue
        check_contract(name, contract)
        paper = published.get(name) or {}
        for paragraph in section_summary(contract, summaries.get(name) or [], paper):
            out += [paragraph, ""]
        out += [f"- **{label}**: {text}" for label, text in _section_header(name, contract, paper)]
        out += _counts_markdown(contract) + _notes_markdown(contract)
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
        main, other = split_sizes(contract)
        shown = main or other[:3]
        sizes = sizes_text(shown)
        if len(main) + len(other) > len(shown):
            sizes += f" (+{len(main) + len(other) - len(shown)} more counts in its section)"
        seed = contract.get("seed")
        seed = ", ".join(map(str, seed)) if isinstance(seed, list) else str(seed)
        rows.append([name, str(contract.get("dataset")), sizes, seed, str(len(contract.get("models", {})))])
    return rows


_OVERVIEW = ["pipeline", "dataset", "split sizes", "seed", "models"]


def _overview_markdown(contracts: dict[str, Any]) -> str:
    return markdown_table(Table(columns=_OVERVIEW, rows=_overview_rows(contracts)))


def _counts_markdown(contract: dict[str, Any]) -> list[str]:
    """The contract's other counts (beside train/val/test), one bullet each under an ``other counts`` item."""
    _, other = split_sizes(contract)
    if not other:
        return []
    return ["- **other counts**:", *(f"  - {name}: {value:,}" for name, value in other)]


def _note_list(contract: dict[str, Any]) -> list[str]:
    """The contract's notes when they are a list (a single note is one of the context lines)."""
    notes = contract.get("notes")
    return [str(note) for note in notes] if isinstance(notes, list) else []


def _notes_markdown(contract: dict[str, Any]) -> list[str]:
    notes = _note_list(contract)
    return ["- **notes**:", *(f"  - {note}" for note in notes)] if notes else []


def _notes_html(contract: dict[str, Any]) -> str:
    notes = _note_list(contract)
    if not notes:
        return ""
    return f"<dt>notes</dt><dd><ul>{''.join(f'<li>{html.escape(n)}</li>' for n in notes)}</ul></dd>"


def _counts_html(contract: dict[str, Any]) -> str:
    """The contract's other counts as rows (name, count) in columns that flow with the page width."""
    _, other = split_sizes(contract)
    if not other:
        return ""
    items = "".join(f"<li><span>{html.escape(name)}</span><span>{value:,}</span></li>" for name, value in other)
    return f'<dt>other counts</dt><dd><ul class="counts">{items}</ul></dd>'


_INLINE = re.compile(r"\*\*(.+?)\*\*|`([^`]+)`")


def inline_html(text: str) -> str:
    """Escaped text with Markdown's ``**bold**`` and ```code``` as HTML (the summary's markup)."""
    out, last = [], 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        bold, code = match.groups()
        out.append(f"<strong>{inline_html(bold)}</strong>" if bold is not None else f"<code>{html.escape(code)}</code>")
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def build_html(
    contracts: dict[str, Any],
    published: dict[str, Any],
    figures: dict[str, go.Figure],
    title: str,
    summaries: dict[str, list[dict[str, Any]]] | None = None,
) -> str:
    """The report as one HTML file that needs no network: plotly.js inline once, every figure as a div."""
    summaries = summaries or {}
    esc = html.escape
    body = [
        f"<h1>{esc(title)}</h1>",
        f"<p>{esc(DISCLAIMER)}</p>",
        f'<p class="legend">{esc(DIRECTION_LEGEND)}</p>',
        html_table(Table(columns=_OVERVIEW, rows=_overview_rows(contracts), title="Overview")),
    ]
    for name, contract in contracts.items():
        body.append(f'<h2 id="{esc(name)}">{esc(name)}</h2>')
        if is_not_run(contract):
            body.append(f'<p class="not-run">{esc(_not_run_text(name, contract))}</p>')
            continue
        check_contract(name, contract)
        paper = published.get(name) or {}
        for paragraph in section_summary(contract, summaries.get(name) or [], paper):
            body.append(f'<p class="summary">{inline_html(paragraph)}</p>')
        items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in _section_header(name, contract, paper))
        body.append(f"<dl>{items}{_counts_html(contract)}{_notes_html(contract)}</dl>")
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
