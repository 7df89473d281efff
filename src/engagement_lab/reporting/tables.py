"""Comparison tables from results contracts (docs/design.md), with the papers' published figures beside them.

A contract is ``{"pipeline", "dataset", "split_sizes", "seed", "models": {model: {metric: value}}, "oracle", ...}``.
Every model of every contract becomes a row; models that share the same metrics share a table (a pipeline with
classifiers and regressors gets one table each). A metric ``m`` with a standard deviation (``m_std``, ``<base>_std``
for ``<base>_mean``, or ``stds[model][m]``) renders as ``mean ± std``. Where ``published`` (the paper's figures, keyed
by our model names) has the metric, a ``m (paper)`` column sits beside it; the paper's rows that this project does
not run are listed too, marked "paper only".
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

PAPER_ONLY = "paper only"
PAPER_SUFFIX = " (paper)"
# Which way a metric is better, from the words of its name (``test_mae`` → mae). A name with none of these words is
# a count or a setting (``seeds``, ``train_posts``, ``best_epoch``, ``n_features``) and gets no marker.
_LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse", "loss", "error"})
_HIGHER_IS_BETTER = frozenset(
    {"acc", "accuracy", "f1", "measure", "r2", "src", "precision", "recall", "auc", "spearman", "pearson"}
)
ARROWS = {"higher": "↑", "lower": "↓"}
DIRECTION_LEGEND = "↑ higher is better, ↓ lower is better; a column without an arrow is a count or a setting."
MAIN_SPLITS = ("train", "val", "test")


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    title: str = ""
    notes: list[str] = field(default_factory=list)
    directions: dict[str, str] = field(default_factory=dict)  # metric column → "higher" | "lower" (is better)


def metric_direction(metric: str) -> str | None:
    """``"lower"`` or ``"higher"`` (is better) from the metric's name; ``None`` for a count or a setting."""
    words = set(metric.lower().split("_"))
    if words & _LOWER_IS_BETTER:
        return "lower"
    if words & _HIGHER_IS_BETTER:
        return "higher"
    return None


def direction_text(direction: str | None) -> str:
    """``"↓ lower is better"`` / ``"↑ higher is better"``, or ``""`` for a column without a direction."""
    return f"{ARROWS[direction]} {direction} is better" if direction else ""


def split_sizes(contract: dict[str, Any]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The contract's ``split_sizes`` as (train/val/test rows, every other count), each as (name, count)."""
    sizes = contract.get("split_sizes") or {}
    main = [(name, sizes[name]) for name in MAIN_SPLITS if name in sizes]
    other = [(name, value) for name, value in sizes.items() if name not in MAIN_SPLITS]
    return main, other


def sizes_text(sizes: list[tuple[str, int]], sep: str = ", ") -> str:
    """``train 2,381, val 298, test 297``: each (name, count) as name and count."""
    return sep.join(f"{name} {value:,}" for name, value in sizes)


def not_run(pipeline: str, producer: str | None, reason: str, inputs_missing: bool = False) -> dict[str, Any]:
    """The stand-in for a contract whose pipeline has not run: not yet (see ``engagement_lab.hooks``), or
    skipped because the data lacks what its method needs (``inputs_missing``, see ``engagement_lab.runner``)."""
    return {
        "pipeline": pipeline,
        "not_run": True,
        "producer": producer,
        "reason": reason,
        "inputs_missing": inputs_missing,
    }


def is_not_run(contract: Any) -> bool:
    return contract is None or (isinstance(contract, dict) and bool(contract.get("not_run")))


def check_contract(name: str, contract: Any) -> None:
    """A clear error when a metrics.json is not a results contract."""
    if not isinstance(contract, dict):
        raise ValueError(f"results contract {name!r} is a {type(contract).__name__}, not a JSON object")
    missing = [key for key in ("dataset", "split_sizes", "seed", "models") if key not in contract]
    if missing:
        raise ValueError(f"results contract {name!r} lacks {missing} (see docs/design.md, 'Results contract')")
    if not isinstance(contract["models"], dict) or not contract["models"]:
        raise ValueError(f"results contract {name!r} has no models")


def _is_std_key(key: str, keys: set[str]) -> bool:
    if not key.endswith("_std"):
        return False
    base = key[: -len("_std")]
    return base in keys or f"{base}_mean" in keys


def metric_names(metrics: dict[str, Any]) -> list[str]:
    """The metrics of one model without their standard deviations, in the contract's order."""
    keys = set(metrics)
    return [k for k in metrics if not _is_std_key(k, keys)]


def std_of(metrics: dict[str, Any], metric: str, stds: dict[str, Any] | None = None) -> float | None:
    candidates = [f"{metric}_std"]
    if metric.endswith("_mean"):
        candidates.append(f"{metric[: -len('_mean')]}_std")
    for key in candidates:
        if key in metrics:
            return metrics[key]
    if stds and metric in stds:
        return stds[metric]
    return None


def fmt(value: Any, std: Any = None, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    value = float(value)
    if not math.isfinite(value):
        return "n/a"
    if value.is_integer() and abs(value) >= 2 and std is None:  # counts: epochs, iterations, features
        return f"{int(value):,}"
    # Percent-scale figures (dual attention) keep two decimals; fractions keep three.
    places = 2 if abs(value) >= 10 else digits
    text = f"{value:.{places}f}"
    if std is not None and math.isfinite(float(std)):
        text += f" ± {float(std):.{places}f}"
    return text


def metric_groups(models: dict[str, dict[str, Any]]) -> list[tuple[list[str], list[str]]]:
    """``[(metrics, models)]``: models with the same metric names share one table, in first-seen order."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for model, metrics in models.items():
        groups.setdefault(tuple(metric_names(metrics)), []).append(model)
    return [(list(metrics), names) for metrics, names in groups.items()]


def _row(
    label: str,
    ours: dict[str, Any] | None,
    model_stds: dict[str, Any],
    paper: dict[str, Any],
    metrics: list[str],
    with_paper: list[str],
) -> list[str]:
    """One table row: our value (± std) per metric, the paper's beside it where the table has a paper column."""
    cells = [label]
    for metric in metrics:
        cells.append(fmt(ours.get(metric), std_of(ours, metric, model_stds)) if ours is not None else "—")
        if metric in with_paper:
            cells.append(fmt(paper.get(metric), std_of(paper, metric)) if metric in paper else "")
    return cells


def contract_tables(contract: dict[str, Any], published: dict[str, Any] | None = None) -> list[Table]:
    """One table per metric group: our value, the paper's beside it, the oracle row and the paper-only rows."""
    published = published or {}
    paper_models: dict[str, dict[str, Any]] = published.get("models") or {}
    stds = contract.get("stds") or {}
    oracle = contract.get("oracle") or {}
    groups = metric_groups(contract["models"])
    # Paper rows we do not run go to the table whose metrics they share most.
    extra: dict[int, list[str]] = {}
    for model, figures in paper_models.items():
        if model in contract["models"]:
            continue
        overlap = [len(set(metric_names(figures)) & set(metrics)) for metrics, _ in groups]
        if overlap and max(overlap) > 0:
            extra.setdefault(overlap.index(max(overlap)), []).append(model)

    tables = []
    for index, (metrics, names) in enumerate(groups):
        with_paper = [m for m in metrics if any(m in paper_models.get(n, {}) for n in [*names, *extra.get(index, [])])]
        columns = ["model"]
        for metric in metrics:
            columns.append(metric)
            if metric in with_paper:
                columns.append(f"{metric}{PAPER_SUFFIX}")
        directions = {m: d for m in metrics if (d := metric_direction(m))}

        rows = []
        for name in names:
            paper = paper_models.get(name, {})
            label = f"{name} ({paper['label']})" if paper.get("label") else name
            rows.append(_row(label, contract["models"][name], stds.get(name, {}), paper, metrics, with_paper))
        if oracle and set(oracle) & set(metrics):
            rows.append(_row("oracle (noise-free truth)", oracle, {}, {}, metrics, with_paper))
        for name in extra.get(index, []):
            paper = paper_models[name]
            label = f"{paper.get('label', name)} ({PAPER_ONLY})"
            rows.append(_row(label, None, {}, paper, metrics, with_paper))
        tables.append(Table(columns=columns, rows=rows, directions=directions))

    shown = {m for metrics, _ in groups for m in metrics}
    rest = {k: v for k, v in oracle.items() if k not in shown}
    if rest:
        tables.append(
            Table(
                columns=["oracle metric", "value", "better"],
                rows=[[k, fmt(v), direction_text(metric_direction(k))] for k, v in rest.items()],
                title="Oracle (the metrics no model reports)",
            )
        )
    return tables


def context_lines(contract: dict[str, Any]) -> list[tuple[str, str]]:
    """Dataset, split sizes, seed and any textual notes of a contract, as (label, text)."""
    sizes = ", ".join(f"{k} {v:,}" for k, v in contract.get("split_sizes", {}).items())
    seed = contract.get("seed")
    lines = [
        ("dataset", str(contract.get("dataset"))),
        ("split sizes", sizes or "—"),
        ("seed", ", ".join(map(str, seed)) if isinstance(seed, list) else str(seed)),
    ]
    if "oracle_omitted" in contract:
        lines.append(("oracle", f"omitted: {contract['oracle_omitted']}"))
    for key in ("split_seed", "protocol", "notes", "users"):
        if key in contract and isinstance(contract[key], str | int | float):
            lines.append((key.replace("_", " "), str(contract[key])))
    return lines


# ------------------------------------------------------------------------------------------------- rendering
def _header(column: str, table: Table) -> str:
    """A column's header with its direction arrow (``test_mae ↓``); paper columns and the rest as they are."""
    direction = table.directions.get(column)
    return f"{column} {ARROWS[direction]}" if direction else column


def markdown_table(table: Table) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = []
    if table.title:
        lines += [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(cell(_header(c, table)) for c in table.columns) + " |")
    lines.append("| " + " | ".join("---" for _ in table.columns) + " |")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _breakable(name: str) -> str:
    """An escaped column name that may wrap after its underscores (``test_src_fraction_of_oracle``)."""
    return "_<wbr>".join(html.escape(part) for part in name.split("_"))


def _html_head(table: Table) -> str:
    """One header row, or two where the table has paper columns: the metric (with its direction) over "ours" and
    "paper"."""
    columns = table.columns
    paired = {c.removesuffix(PAPER_SUFFIX) for c in columns if c.endswith(PAPER_SUFFIX)}

    def label(column: str) -> str:
        direction = table.directions.get(column)
        marker = f'<span class="better {direction}">{direction_text(direction)}</span>' if direction else ""
        return f'<span class="metric">{_breakable(column)}</span>{marker}'

    first = f'<th class="first"{{}}>{label(columns[0])}</th>'
    if not paired:
        return "<tr>" + first.format("") + "".join(f"<th>{label(c)}</th>" for c in columns[1:]) + "</tr>"
    top, bottom = [first.format(' rowspan="2"')], []
    for column in columns[1:]:
        if column.endswith(PAPER_SUFFIX):
            continue
        if column in paired:
            top.append(f'<th colspan="2" class="pair">{label(column)}</th>')
            bottom += ['<th class="sub">ours</th>', '<th class="sub paper">paper</th>']
        else:
            top.append(f'<th rowspan="2">{label(column)}</th>')
    return f"<tr>{''.join(top)}</tr><tr>{''.join(bottom)}</tr>"


_NUMBER = re.compile(r"^[-—+]?[\d.,]*( ± [\d.,]+)?$|^n/a$")


def _html_cell(text: str, paper: bool) -> str:
    """A cell: numbers right-aligned (the default), text left-aligned, the paper's figures shaded."""
    classes = [name for name, flag in (("paper", paper), ("text", not _NUMBER.match(text))) if flag]
    attribute = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{attribute}>{html.escape(text)}</td>"


def html_table(table: Table) -> str:
    """The table in a horizontally scrolling box (wide tables scroll inside the page, the model column stays)."""
    body = []
    for row in table.rows:
        cls = (
            ' class="paper-only"'
            if PAPER_ONLY in row[0]
            else (' class="oracle"' if row[0].startswith("oracle") else "")
        )
        cells = f'<td class="first">{html.escape(str(row[0]))}</td>' + "".join(
            _html_cell(str(c), col.endswith(PAPER_SUFFIX)) for col, c in zip(table.columns[1:], row[1:], strict=True)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    title = f"<h4>{html.escape(table.title)}</h4>" if table.title else ""
    name = html.escape(table.title or f"{table.columns[0]} table")
    return (
        f'{title}<div class="table-scroll" role="region" tabindex="0" aria-label="{name}">'
        f"<table><thead>{_html_head(table)}</thead><tbody>{''.join(body)}</tbody></table></div>"
    )
