"""Conclusions across worlds: each paper's results contracts from several sample-world seeds → one table per paper
(every model as mean ± std across worlds, the per-world winner) and a verdict per claim of the papers (holds in
all, some or no worlds).

Pure functions over results-contract dicts (``core/results.py``); ``bench/robustness.py`` runs the worlds and
writes the page.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from engagement_lab.reporting.tables import is_not_run


@dataclass(frozen=True)
class Claim:
    """``method`` beats every model of ``rivals`` on ``metric`` of ``section``'s contract (by any margin)."""

    section: str  # results contract: vise, dual_attention, engagement, ppcl
    text: str
    metric: str
    method: str
    rivals: tuple[str, ...]
    higher_is_better: bool = True


# The papers' claims the earlier issues asked each pipeline to show.
CLAIMS = (
    Claim("vise", "VisE beats Random Init under linear evaluation", "linear_acc_mean", "vise", ("random_init",)),
    Claim("vise", "VisE beats Random Init after fine-tuning", "finetune_acc_mean", "vise", ("random_init",)),
    Claim(
        "vise",
        "Engagement labels beat semantic labels on the same backbone (VisE vs supervised_concepts, linear)",
        "linear_acc_mean",
        "vise",
        ("supervised_concepts",),
    ),
    Claim(
        "vise",
        "Engagement labels beat semantic labels on the same backbone (VisE vs supervised_concepts, fine-tuned)",
        "finetune_acc_mean",
        "vise",
        ("supervised_concepts",),
    ),
    Claim(
        "dual_attention",
        "Full dual attention beats every baseline (accuracy)",
        "accuracy",
        "full",
        ("visual", "textual", "early_fusion", "late_fusion", "ccr", "similarity"),
    ),
    Claim(
        "dual_attention",
        "Full dual attention beats its ablations (accuracy)",
        "accuracy",
        "full",
        ("e_attn", "env", "env_i_attn", "e_attn_env"),
    ),
    Claim("dual_attention", "The user environment helps (full beats e_attn)", "accuracy", "full", ("e_attn",)),
    Claim("ppcl", "PPCL beats w/o CL (test MAE)", "test_mae", "full", ("no_cl",), higher_is_better=False),
    Claim("ppcl", "PPCL beats RNC (test MAE)", "test_mae", "full", ("rnc",), higher_is_better=False),
    Claim("ppcl", "PPCL beats CatBoost (test MAE)", "test_mae", "full", ("catboost",), higher_is_better=False),
    Claim(
        "ppcl",
        "PPCL's hierarchical (CRD) batch sampler beats random sampling (test MAE)",
        "test_mae",
        "full",
        ("random_sampling",),
        higher_is_better=False,
    ),
    Claim(
        "engagement",
        "Pre-publication CatBoost beats the majority class (macro-F1)",
        "test_macro_f1",
        "catboost_pre_publication",
        ("majority_class",),
    ),
    Claim(
        "engagement",
        "Pre-publication CatBoost beats TF-IDF + logistic regression on the words alone (macro-F1)",
        "test_macro_f1",
        "catboost_pre_publication",
        ("tfidf_logistic",),
    ),
    Claim(
        "engagement",
        "The multimodal regressor beats TF-IDF + ridge on the words alone (R²)",
        "test_r2",
        "multimodal_regression",
        ("tfidf_ridge",),
    ),
    Claim(
        "engagement",
        "The counts leak: CatBoost with them beats CatBoost without (macro-F1)",
        "test_macro_f1",
        "catboost_paper",
        ("catboost_pre_publication",),
    ),
)

# The metric each paper's table shows and whether higher is better.
# Per paper, the metrics whose tables the page shows (metric, higher is better); the first is the headline.
METRICS = {
    "vise": (("linear_acc_mean", True), ("finetune_acc_mean", True)),
    "dual_attention": (("accuracy", True),),
    "engagement": (("test_macro_f1", True), ("test_r2", True)),
    "ppcl": (("test_mae", False), ("test_src", True)),
}
HEADLINE = {section: metrics[0] for section, metrics in METRICS.items()}
# What a uniform random guess scores, where a table should say it (five quintile classes: macro-F1 1/5).
CHANCE = {("engagement", "test_macro_f1"): 0.2}


def _value(contract: dict[str, Any], model: str, metric: str) -> float:
    value = (contract.get("models", {}).get(model) or {}).get(metric)
    return float(value) if isinstance(value, int | float) else math.nan


def claim_verdict(claim: Claim, worlds: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Per world whether the claim holds (None: not run there or a value is missing), and the verdict:
    ``all``, ``some`` or ``none`` of the worlds where it could be checked."""
    per_world: dict[int, bool | None] = {}
    for seed, contracts in worlds.items():
        contract = contracts.get(claim.section)
        if contract is None or is_not_run(contract):
            per_world[seed] = None
            continue
        ours = _value(contract, claim.method, claim.metric)
        theirs = [_value(contract, rival, claim.metric) for rival in claim.rivals]
        if math.isnan(ours) or any(math.isnan(t) for t in theirs):
            per_world[seed] = None
            continue
        per_world[seed] = all(ours > t if claim.higher_is_better else ours < t for t in theirs)
    checked = [v for v in per_world.values() if v is not None]
    verdict = "not checked" if not checked else "all" if all(checked) else "some" if any(checked) else "none"
    return {"claim": claim.text, "per_world": per_world, "verdict": verdict, "checked": len(checked)}


def model_table(
    section: str, worlds: dict[int, dict[str, Any]], metric: str | None = None, higher: bool | None = None
) -> list[dict[str, Any]]:
    """One row per model of ``section``: ``metric`` (default: the headline) per world, mean ± std across worlds,
    and in how many worlds it was the best model; the oracle (noise-free truth), where the contracts have one,
    last, never counted as a winner."""
    if metric is None:
        metric, higher = HEADLINE[section]
    contracts = {s: c[section] for s, c in worlds.items() if section in c and not is_not_run(c[section])}
    models = list(dict.fromkeys(m for c in contracts.values() for m in c.get("models", {})))
    winners = {}
    for seed, contract in contracts.items():
        scored = {m: _value(contract, m, metric) for m in models}
        scored = {m: v for m, v in scored.items() if not math.isnan(v)}
        if scored:
            winners[seed] = (max if higher else min)(scored, key=scored.get)
    rows = []
    for model in models:
        values = {seed: _value(contract, model, metric) for seed, contract in contracts.items()}
        present = [v for v in values.values() if not math.isnan(v)]
        rows.append(
            {
                "model": model,
                "per_world": values,
                "mean": statistics.fmean(present) if present else math.nan,
                "std": statistics.stdev(present) if len(present) > 1 else math.nan,
                "wins": sum(1 for w in winners.values() if w == model),
            }
        )
    rows = [row for row in rows if not math.isnan(row["mean"])]  # models without this metric (regressors)
    rows = sorted(rows, key=lambda r: -r["mean"] if higher else r["mean"])
    oracle = {seed: float(c.get("oracle", {}).get(metric, math.nan)) for seed, c in contracts.items()}
    if present := [v for v in oracle.values() if not math.isnan(v)]:
        spread = statistics.stdev(present) if len(present) > 1 else math.nan
        rows.append(
            {
                "model": "oracle (noise-free truth)",
                "per_world": oracle,
                "mean": statistics.fmean(present),
                "std": spread,
                "wins": 0,
            }
        )
    return rows


def robustness_markdown(worlds: dict[int, dict[str, Any]], header: str = "") -> str:
    """The page: per paper, the claims' verdicts and the table of every model across worlds."""
    seeds = sorted(worlds)
    lines = ["# Robustness across sample worlds", ""]
    if header:
        lines += [header, ""]
    lines += [
        f"World seeds: {', '.join(map(str, seeds))}. A claim holds in a world when the method is better than every "
        "rival there; std is across worlds (each world's value is already a mean over training seeds).",
    ]
    for section, metrics in METRICS.items():
        lines += ["", f"## {section}", ""]
        lines += [
            "| claim | " + " | ".join(f"world {s}" for s in seeds) + " | holds in |",
            "|---" * (len(seeds) + 2) + "|",
        ]
        for claim in (c for c in CLAIMS if c.section == section):
            verdict = claim_verdict(claim, worlds)
            cells = ["—" if v is None else "yes" if v else "no" for v in (verdict["per_world"][s] for s in seeds)]
            lines.append(f"| {claim.text} | " + " | ".join(cells) + f" | {verdict['verdict']} |")
        for metric, higher in metrics:
            lines += _metric_table(section, worlds, seeds, metric, higher)
    return "\n".join(lines) + "\n"


def _metric_table(
    section: str, worlds: dict[int, dict[str, Any]], seeds: list[int], metric: str, higher: bool
) -> list[str]:
    rows = model_table(section, worlds, metric, higher)
    if not rows:
        return []
    direction = "higher" if higher else "lower"
    chance = CHANCE.get((section, metric))
    note = f"; chance (a uniform random guess) is {chance:.3f}" if chance is not None else ""
    lines = ["", f"`{metric}` ({direction} is better{note}):", ""]
    lines += [
        "| model | " + " | ".join(f"world {s}" for s in seeds) + " | mean ± std | best in |",
        "|---" * (len(seeds) + 3) + "|",
    ]
    for row in rows:
        cells = ["—" if math.isnan(row["per_world"].get(s, math.nan)) else f"{row['per_world'][s]:.3f}" for s in seeds]
        spread = "" if math.isnan(row["std"]) else f" ± {row['std']:.3f}"
        mean = "—" if math.isnan(row["mean"]) else f"{row['mean']:.3f}{spread}"
        lines.append(f"| {row['model']} | " + " | ".join(cells) + f" | {mean} | {row['wins']} |")
    return lines
