"""The summary paragraph at the top of each report section: the paper's method against the best of its baselines
and the oracle, on one metric, in plain words, and honest when the method loses.

A comparison is ``{"method": ..., "metric": ..., "baselines": [...]}`` (``reporting.summary.<section>`` in
``conf/base/parameters_reporting.yml``); the metric's direction comes from its name (``tables.metric_direction``).
Pure functions of results-contract dicts (``core/results.py``).
"""

from __future__ import annotations

import math
from typing import Any

from engagement_lab.reporting.tables import direction_text, fmt, metric_direction, std_of


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(float(value)) else None


def is_better(a: float, b: float, direction: str) -> bool:
    """Whether ``a`` is strictly better than ``b`` for a metric whose ``direction`` is higher / lower."""
    return a < b if direction == "lower" else a > b


def best_of(values: dict[str, float], direction: str) -> tuple[str, float]:
    """The (name, value) with the best value; ties go to the first listed."""
    pick = min if direction == "lower" else max
    name = pick(values, key=values.__getitem__)
    return name, values[name]


def _values(models: dict[str, dict[str, Any]], names: list[str], metric: str) -> dict[str, float]:
    """``{name: value}`` of the models among ``names`` that have a finite ``metric``."""
    found = {name: _number((models.get(name) or {}).get(metric)) for name in names}
    return {name: value for name, value in found.items() if value is not None}


def _std(contract: dict[str, Any], model: str, metric: str) -> float | None:
    std = std_of(contract["models"][model], metric, (contract.get("stds") or {}).get(model))
    std = _number(std)
    return std if std else None


def baseline_sentence(who: str, value: float, std: float | None, baselines: dict[str, float], direction: str) -> str:
    """``It loses to the best baseline, `catboost` (0.823), by 0.011 ...``: the method against its best baseline."""
    if not baselines:
        return "None of its baselines ran, so there is nothing to compare it with here."
    best, best_value = best_of(baselines, direction)
    gap = abs(value - best_value)
    named = f"the best baseline, `{best}` ({fmt(best_value)})"
    if gap == 0:
        text = f"{who} ties with {named}"
    elif is_better(value, best_value, direction):
        text = f"{who} beats {named} by {fmt(gap)}"
    else:
        beaten_by = sum(is_better(v, value, direction) for v in baselines.values())
        text = f"{who} loses to {named} by {fmt(gap)}"
        if beaten_by > 1:
            text += f" ({beaten_by} of its {len(baselines)} baselines beat it)"
    if std and 0 < gap < std:
        text += f"; the gap is within its std over seeds ({fmt(std)}), so the difference is not clear"
    return text + "."


def oracle_sentence(
    value: float, baseline: float | None, oracle: float | None, direction: str, omitted: str | None = None
) -> str:
    """Where the method stands against the oracle (the noise-free truth scored the same way)."""
    if oracle is None:
        return f"There is no oracle for this metric{f' ({omitted})' if omitted else ''}."
    if is_better(value, oracle, direction):
        return (
            f"It is past the oracle ({fmt(oracle)}), the noise-free truth scored the same way: the model uses "
            "something the planted signal does not have; check the section's notes for a leak."
        )
    text = f"The oracle reaches {fmt(oracle)}"
    if direction == "higher" and oracle > 0 and value > 0:
        text += f"; the method gets {100 * value / oracle:.0f} % of it"
    else:
        text += f"; the method is {fmt(abs(oracle - value))} short of it"
    if baseline is not None and is_better(value, baseline, direction) and is_better(oracle, baseline, direction):
        closed = (value - baseline) / (oracle - baseline)
        text += f" and closes {100 * closed:.0f} % of the gap from the best baseline to the oracle"
    return text + "."


def paper_sentence(method: str, metric: str, paper_models: dict[str, dict[str, Any]], direction: str) -> str:
    """Where the paper put its method among the rows it printed for ``metric`` ("" when it printed none)."""
    values = _values(paper_models, list(paper_models), metric)
    if method not in values or len(values) < 2:
        return ""
    rank = 1 + sum(is_better(v, values[method], direction) for v in values.values())
    return f"In the paper it was {_ordinal(rank)} of the {len(values)} rows it printed ({fmt(values[method])})."


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def method_summary(
    contract: dict[str, Any], comparison: dict[str, Any], published: dict[str, Any] | None = None
) -> str | None:
    """Three or four sentences on one method and metric; ``None`` when the contract has no figure for it."""
    method, metric = comparison["method"], comparison["metric"]
    direction = metric_direction(metric) or "higher"
    value = _number((contract["models"].get(method) or {}).get(metric))
    if value is None:
        return None
    paper_models = (published or {}).get("models") or {}
    label = (paper_models.get(method) or {}).get("label")
    who = f"**{label}** (`{method}`)" if label else f"`{method}`"
    std = _std(contract, method, metric)
    shown = fmt(value, std)
    baselines = _values(contract["models"], [b for b in comparison.get("baselines", []) if b != method], metric)
    oracle = _number((contract.get("oracle") or {}).get(metric))
    best = best_of(baselines, direction)[1] if baselines else None
    everyone = _values(contract["models"], list(contract["models"]), metric)
    rank = 1 + sum(is_better(v, value, direction) for v in everyone.values())
    sentences = [
        f"{who} on `{metric}` ({direction_text(direction)}): {shown}, {_ordinal(rank)} of the {len(everyone)} "
        "models here.",
        baseline_sentence("It", value, std, baselines, direction),
        oracle_sentence(value, best, oracle, direction, contract.get("oracle_omitted")),
        paper_sentence(method, metric, paper_models, direction),
    ]
    return " ".join(s for s in sentences if s)


def section_summary(
    contract: dict[str, Any], comparisons: list[dict[str, Any]], published: dict[str, Any] | None = None
) -> list[str]:
    """The summary of one section: one short paragraph per comparison whose method the contract has."""
    return [text for c in comparisons if (text := method_summary(contract, c, published))]
