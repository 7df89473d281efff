"""The results pages of ``docs/results/``: one Markdown page per results contract, generated, never typed by hand.

``python -m engagement_lab.reporting.results_docs [--reporting-dir data/08_reporting] [--out docs/results]``
(``make docs``) finds the results contracts in the catalog (the JSON datasets whose ``metadata`` has
``results_contract: <name>`` in ``conf/base/catalog*.yml``), reads the newest version of each under the reporting
folder and writes ``<name>.md`` per contract and an index, ``README.md``. A page says that it is generated, from which
data, seed(s) and sample-world preset, and when; then the findings (where the paper's method stands among the
models, in numbers), the tables beside the paper's published figures (``reporting.published`` in
``conf/base/parameters_reporting.yml``) and the contract's own notes. A contract saved as "not run" says why; a
contract that does not exist is named, with the command that makes it.

Everything but :func:`main` and the ``read_*`` / ``write_*`` helpers is a pure function of dicts. Nothing here imports
kedro, the pipelines or the hooks: the catalog and the parameters are read as plain YAML.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from engagement_lab.reporting.tables import (
    Table,
    check_contract,
    context_lines,
    contract_tables,
    fmt,
    is_not_run,
    markdown_table,
    metric_direction,
    std_of,
)

logger = logging.getLogger(__name__)

COMMAND = "python -m engagement_lab.reporting.results_docs"
REPORTING_ROOT = Path("data/08_reporting")  # catalog filepaths under it are read from --reporting-dir
WORLD_SUMMARY = "sample_world/summary.json"  # versioned, under the reporting folder

# The pipeline that writes a contract, where it is not the contract's own name.
PRODUCERS = {"vise": "transfer_evaluation"}
# The paper's own method(s) among each contract's models, and the metrics the findings rank them by. A contract
# not listed here gets findings for no method; its tables are written all the same.
PAPER_METHODS = {
    "vise": ("vise",),
    "dual_attention": ("full",),
    "engagement": ("catboost_paper", "catboost_pre_publication", "fusion_concat", "multimodal_regression"),
    "ppcl": ("full",),
}
FINDING_METRICS = {
    "vise": ("linear_acc_mean", "finetune_acc_mean"),
    "dual_attention": ("accuracy", "f_measure"),
    "engagement": ("test_macro_f1", "test_r2"),
    "ppcl": ("test_mae", "test_src"),
}
# The comparisons each paper's claims rest on: (model, against), on every finding metric both have.
COMPARISONS = {
    "vise": (("vise", "random_init"), ("vise", "supervised_concepts"), ("vise_comments", "vise_reactions")),
    "dual_attention": (("full", "early_fusion"), ("env", "early_fusion"), ("full", "env_i_attn")),
    "engagement": (("catboost_pre_publication", "tfidf_logistic"), ("multimodal_regression", "tfidf_ridge")),
    "ppcl": (("full", "no_cl"), ("full", "rnc"), ("full_100k", "no_cl_100k"), ("full_200k", "no_cl_200k")),
}
_CONTEXT_KEYS = {"pipeline", "dataset", "split_sizes", "seed", "models", "oracle", "stds", "notes", "oracle_omitted"}
_SHOWN_BY_TABLES = {"split_seed", "protocol", "users"}  # context_lines shows these


@dataclass(frozen=True)
class ContractSource:
    """One results contract as the catalog declares it."""

    name: str  # the contract's name (``metadata.results_contract``): the page's name
    dataset: str  # the catalog entry, e.g. ``ppcl_metrics``
    filepath: str  # as in the catalog, e.g. ``data/08_reporting/ppcl/metrics.json``
    versioned: bool

    @property
    def producer(self) -> str:
        return PRODUCERS.get(self.name, self.name)


# ------------------------------------------------------------------------------------------------ pure functions
def contract_sources(catalog: Mapping[str, Any]) -> list[ContractSource]:
    """Every catalog entry flagged ``metadata.results_contract``, in catalog order."""
    sources = []
    for dataset, entry in catalog.items():
        if not isinstance(entry, Mapping):
            continue
        name = (entry.get("metadata") or {}).get("results_contract")
        if name:
            sources.append(ContractSource(str(name), dataset, str(entry["filepath"]), bool(entry.get("versioned"))))
    return sources


def lower_is_better(metric: str) -> bool:
    return metric_direction(metric) == "lower"


def world_preset(config: Mapping[str, Any], presets: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The sample-world preset whose every setting the world's config has (``None`` when none matches)."""
    for name, settings in presets.items():
        if settings and all(config.get(key) == value for key, value in settings.items()):
            return name
    return None


def provenance_lines(
    contract: Mapping[str, Any], world: Mapping[str, Any] | None = None, presets: Mapping[str, Any] | None = None
) -> list[tuple[str, str]]:
    """Data, seed(s), preset and split sizes of a contract, as (label, text).

    The preset comes from the contract (``preset``, or ``sample_world.preset``) or, for the sample world's data, from
    the world summary written by the same run (``world``: its ``config`` matched against ``presets``)."""
    lines = [(label, text) for label, text in context_lines(dict(contract)) if label != "notes"]
    preset = contract.get("preset") or (contract.get("sample_world") or {}).get("preset")
    on_world = "sample_world" in str(contract.get("dataset", ""))
    if not preset and on_world and world:
        config = world.get("config") or {}
        users, posts = (f"{n:,}" if isinstance(n, int) else str(n) for n in (world.get("users"), world.get("posts")))
        sizes = f"{users} users, {posts} posts, world seed {config.get('seed')}"
        preset = f"{world_preset(config, presets or {}) or 'custom'} ({sizes})"
    if preset:
        lines.insert(2, ("sample world preset", str(preset)))
    elif not on_world:
        lines.insert(2, ("sample world preset", "none: not the sample world's data"))
    else:
        lines.insert(2, ("sample world preset", "not recorded (no sample world summary beside the contract)"))
    return lines + extra_lines(contract)


def extra_lines(contract: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The contract's other context, as (label, text): scalars, lists of scalars and dicts of strings. Nested
    structures (e.g. a fitted target spec) are named, not shown."""
    lines, nested = [], []
    for key, value in contract.items():
        if key in _CONTEXT_KEYS or key in _SHOWN_BY_TABLES:
            continue
        label = key.replace("_", " ")
        if isinstance(value, str | int | float | bool):
            lines.append((label, str(value)))
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            lines.append((label, ", ".join(map(str, value)) or "none"))
        elif isinstance(value, Mapping) and value and all(isinstance(v, str) for v in value.values()):
            lines.append((label, ", ".join(f"{k}: {v}" for k, v in value.items())))
        elif not (isinstance(value, Mapping) and all(_finite(v) for v in value.values())):
            nested.append(f"`{key}`")
    if nested:
        lines.append(("also in the contract", ", ".join(nested)))
    return lines


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(float(value))


def ranking(models: Mapping[str, Mapping[str, Any]], metric: str) -> list[tuple[str, float]]:
    """(model, value) of every model that has ``metric``, best first."""
    rows = [(name, float(m[metric])) for name, m in models.items() if _finite(m.get(metric))]
    return sorted(rows, key=lambda row: row[1], reverse=not lower_is_better(metric))


def method_finding(
    name: str,
    method: str,
    metric: str,
    contract: Mapping[str, Any],
    published: Mapping[str, Any] | None = None,
) -> str | None:
    """One sentence: where the paper's ``method`` ranks on ``metric`` here, who beats it, the gap to its nearest
    neighbour against its own spread, its share of the oracle, and where the paper put it."""
    models = contract["models"]
    order = ranking(models, metric)
    names = [n for n, _ in order]
    if method not in names or len(order) < 2:
        return None
    value = dict(order)[method]
    position = names.index(method)
    paper_models = (published or {}).get("models") or {}
    label = paper_models.get(method, {}).get("label")
    direction = "lower is better" if lower_is_better(metric) else "higher is better"
    who = f"`{method}`" + (f" ({label})" if label else "")
    text = f"{who} on `{metric}` ({direction}): {fmt(value)}, {_ordinal(position + 1)} of {len(order)}"
    if position == 0:
        runner_up, second = order[1]
        text += f"; the best model here, ahead of `{runner_up}` ({fmt(second)})"
        neighbour = (runner_up, second)
    else:
        better = ", ".join(f"`{n}` {fmt(v)}" for n, v in order[:position][:4])
        more = f" and {position - 4} more" if position > 4 else ""
        text += f"; beaten by {better}{more}"
        neighbour = order[position - 1]
    std = _std(contract, method, metric)
    if std and abs(value - neighbour[1]) < std:
        text += f" (the gap to `{neighbour[0]}` is within `{method}`'s std, {fmt(std)})"
    text += _oracle_share(contract, metric, value)
    paper_order = [n for n, _ in ranking(paper_models, metric)]
    if method in paper_order and len(paper_order) > 1:
        text += f". In the paper: {_ordinal(paper_order.index(method) + 1)} of the {len(paper_order)} rows it prints"
    return text + "."


def _std(contract: Mapping[str, Any], model: str, metric: str) -> float | None:
    """The model's standard deviation on ``metric`` (over seeds or splits), when the contract has a positive one."""
    std = std_of(dict(contract["models"][model]), metric, (contract.get("stds") or {}).get(model))
    return float(std) if _finite(std) and std > 0 else None


def _oracle_share(contract: Mapping[str, Any], metric: str, value: float) -> str:
    """'; 91.0 % of the oracle's 0.864' for a higher-is-better metric (or that the value is above the oracle)."""
    oracle = (contract.get("oracle") or {}).get(metric)
    if not _finite(oracle) or oracle <= 0 or lower_is_better(metric) or value <= 0:
        return ""
    if value > oracle:
        return f"; above the oracle's {fmt(oracle)} (the noise-free truth scored the same way)"
    return f"; {100 * value / oracle:.1f} % of the oracle's {fmt(oracle)}"


def comparison_finding(model: str, other: str, metric: str, contract: Mapping[str, Any]) -> str | None:
    """One sentence: ``model`` against ``other`` on ``metric``, who is ahead, by how much, and whether the gap is
    within either model's spread."""
    models = contract["models"]
    a, b = (models.get(m, {}).get(metric) for m in (model, other))
    if not (_finite(a) and _finite(b)):
        return None
    gap = float(a) - float(b)
    better = gap < 0 if lower_is_better(metric) else gap > 0
    if gap == 0:
        verdict = "a tie"
    else:
        verdict = f"`{model}` {'ahead' if better else 'behind'} by {fmt(abs(gap))}"
    spread = max((s for s in (_std(contract, model, metric), _std(contract, other, metric)) if s), default=None)
    within = f", within one std ({fmt(spread)})" if spread and abs(gap) < spread else ""
    return f"`{model}` vs `{other}` on `{metric}`: {fmt(a)} vs {fmt(b)}, {verdict}{within}."


def findings(name: str, contract: Mapping[str, Any], published: Mapping[str, Any] | None = None) -> list[str]:
    """The findings of a contract, in numbers: where each paper method ranks on each finding metric, then the
    comparisons the paper's claims rest on."""
    metrics = FINDING_METRICS.get(name, ())
    out = []
    for method in PAPER_METHODS.get(name, ()):
        for metric in metrics:
            if metric in contract["models"].get(method, {}):
                sentence = method_finding(name, method, metric, contract, published)
                if sentence:
                    out.append(sentence)
    for model, other in COMPARISONS.get(name, ()):
        for metric in metrics:
            sentence = comparison_finding(model, other, metric, contract)
            if sentence:
                out.append(sentence)
    return out


def _notes(contract: Mapping[str, Any]) -> list[str]:
    notes = contract.get("notes")
    if isinstance(notes, str):
        return [notes]
    return [str(n) for n in notes] if isinstance(notes, list) else []


def extra_tables(contract: Mapping[str, Any]) -> list[Table]:
    """Pipeline-specific figures beside the models: every top-level flat dict of numbers (e.g. ``leak``)."""
    tables = []
    for key, value in contract.items():
        if key in _CONTEXT_KEYS or not isinstance(value, Mapping) or not value:
            continue
        if all(_finite(v) for v in value.values()):
            rows = [[str(k), fmt(v)] for k, v in value.items()]
            tables.append(Table(columns=[key.replace("_", " "), "value"], rows=rows, title=key.replace("_", " ")))
    return tables


def _header(title: str, generated: str, origin: str) -> list[str]:
    return [
        f"# {title}",
        "",
        f"> Generated by `{COMMAND}` (`make docs`) on {generated} from {origin}. "
        "Do not edit by hand: rerun the command after a run.",
        "",
    ]


def _key_value(lines: Sequence[tuple[str, str]]) -> str:
    return markdown_table(Table(columns=["", ""], rows=[[f"**{k}**", v] for k, v in lines]))


def results_page(
    name: str,
    contract: Mapping[str, Any] | None,
    source: ContractSource,
    *,
    published: Mapping[str, Any] | None = None,
    version: str | None = None,
    generated: str = "",
    world: Mapping[str, Any] | None = None,
    presets: Mapping[str, Any] | None = None,
) -> str:
    """The Markdown page of one results contract (``None``: the contract does not exist yet)."""
    published = published or {}
    title = f"Results: {published.get('paper', name)}" if published.get("paper") else f"Results: {name}"
    where = f"`{source.dataset}` (`{source.filepath}`" + (f", version {version})" if version else ")")
    out = _header(title, generated or "an unknown date", where)
    rerun = f"`make run` (the demo) or `kedro run --pipelines={source.producer}`, then `make docs`"
    if contract is None:
        out += [
            f"**No results yet.** The results contract `{source.dataset}` (`{source.filepath}`) does not exist.",
            "",
        ]
        out += [f"Run {rerun}.", ""]
        return "\n".join(out)
    if is_not_run(contract):
        reason = contract.get("reason", "no reason given")
        kind = "skipped: the data lacks what the method needs" if contract.get("inputs_missing") else "not run yet"
        out += [f"**Not run** ({kind}): {reason}.", "", f"Run {rerun}.", ""]
        return "\n".join(out)
    check_contract(name, dict(contract))
    lines = provenance_lines(contract, world, presets)
    if published:
        lines.append(("paper", f"{published.get('paper', '')} — {published.get('table', '')}".strip(" —")))
        lines.append(("paper's data", str(published.get("dataset", "not stated"))))
    out += [_key_value(lines), ""]
    found = findings(name, contract, published)
    if found:
        out += ["## Findings", "", *(f"- {sentence}" for sentence in found), ""]
    out += [
        "## Results (test split unless a metric says otherwise)",
        "",
        "The paper's figures are on its own real data (above); ours on this run's data. Compare orderings and gaps, "
        "not absolute values. The oracle row is the noise-free ground truth scored with the same metric.",
        "",
    ]
    for table in contract_tables(dict(contract), dict(published)):
        out += [markdown_table(table), ""]
    if published.get("note"):
        out += [f"Paper note: {published['note']}", ""]
    for table in extra_tables(contract):
        out += [markdown_table(table), ""]
    notes = _notes(contract)
    if notes:
        out += ["## Notes (from the contract)", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(out)


def index_page(rows: Sequence[tuple[str, str, str]], generated: str) -> str:
    """The index of the generated pages: (page name, status, data) per contract."""
    out = _header("Results", generated, "the newest results contracts")
    out += [
        "One page per results contract (`metadata.results_contract` in `conf/base/catalog*.yml`):",
        "",
        markdown_table(Table(columns=["page", "status", "data"], rows=[[f"[{n}]({n}.md)", s, d] for n, s, d in rows])),
        "",
    ]
    return "\n".join(out)


def status_of(contract: Mapping[str, Any] | None) -> tuple[str, str]:
    """(status, data) of a contract for the index."""
    if contract is None:
        return "missing", ""
    if is_not_run(contract):
        return f"not run: {contract.get('reason', '')}", ""
    seed = contract.get("seed")
    seed = ", ".join(map(str, seed)) if isinstance(seed, list) else str(seed)
    return f"{len(contract.get('models', {}))} models, seed {seed}", str(contract.get("dataset", ""))


# ------------------------------------------------------------------------------------------------------- I/O
def read_yaml_files(conf_dir: Path, pattern: str) -> dict[str, Any]:
    """The merged top-level keys of ``conf_dir/<pattern>`` files, in name order."""
    merged: dict[str, Any] = {}
    for path in sorted(Path(conf_dir).glob(pattern)):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def versioned_file(path: Path) -> tuple[Path | None, str | None]:
    """Kedro's versioned layout: ``<filepath>/<version>/<filename>``; the newest version that holds the file."""
    if path.is_dir():
        for version in sorted((p for p in path.iterdir() if p.is_dir()), reverse=True):
            if (version / path.name).is_file():
                return version / path.name, version.name
        return None, None
    return (path, None) if path.is_file() else (None, None)


def locate(source: ContractSource, reporting_dir: Path) -> Path:
    """Where the catalog's filepath lies when the reporting folder is ``reporting_dir``."""
    path = Path(source.filepath)
    try:
        return Path(reporting_dir) / path.relative_to(REPORTING_ROOT)
    except ValueError:
        return path


def read_json(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    found, version = versioned_file(path)
    if found is None:
        return None, None
    return json.loads(found.read_text()), version


def write_pages(reporting_dir: Path, out_dir: Path, conf_dir: Path) -> list[Path]:
    """Every results contract's page and the index, under ``out_dir``; returns the paths written."""
    sources = contract_sources(read_yaml_files(conf_dir, "catalog*.yml"))
    if not sources:
        raise ValueError(f"no catalog entry under {conf_dir} has metadata.results_contract")
    parameters = read_yaml_files(conf_dir, "parameters*.yml")
    published = (parameters.get("reporting") or {}).get("published") or {}
    presets = (parameters.get("sample_world") or {}).get("presets") or {}
    world, _ = read_json(Path(reporting_dir) / WORLD_SUMMARY)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, rows = [], []
    for source in sources:
        path = locate(source, reporting_dir)
        contract, version = read_json(path)
        if contract is None:
            logger.warning("results contract %s (%s) does not exist", source.dataset, path)
        page = results_page(
            source.name,
            contract,
            source,
            published=published.get(source.name),
            version=version,
            generated=generated,
            world=world,
            presets=presets,
        )
        target = out_dir / f"{source.name}.md"
        target.write_text(page)
        written.append(target)
        rows.append((source.name, *status_of(contract)))
        logger.info("wrote %s from %s", target, path)
    index = out_dir / "README.md"
    index.write_text(index_page(rows, generated))
    return [*written, index]


def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--reporting-dir", type=Path, default=REPORTING_ROOT, help="default: %(default)s")
    parser.add_argument("--out", type=Path, default=Path("docs/results"), help="default: %(default)s")
    parser.add_argument("--conf", type=Path, default=Path("conf/base"), help="catalog and parameters, %(default)s")
    args = parser.parse_args(argv)
    return write_pages(args.reporting_dir, args.out, args.conf)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for written in main():
        sys.stdout.write(f"{written}\n")
