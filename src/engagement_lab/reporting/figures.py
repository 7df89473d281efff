"""Plotly figures of the report: popularity per concept / user / followers, training curves, confusion
matrices, predicted vs true. Each returns a ``plotly.graph_objects.Figure`` (saved as plotly JSON, shown by
kedro viz and embedded in the HTML report)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.stats import spearmanr

from engagement_lab.reporting.tables import direction_text, metric_direction
from engagement_lab.world.truth import truth_for

AXIS_PAD = 0.06  # share of the data's span added above (and below) every bar


def _grid(n: int, per_row: int) -> tuple[int, int, list[tuple[int, int]]]:
    """Rows, columns and the (row, col) of each of ``n`` panels, ``per_row`` to a row."""
    cols = max(1, min(per_row, n))
    rows = -(-n // cols)
    return rows, cols, [(i // cols + 1, i % cols + 1) for i in range(n)]


def bar_axis_range(values: list[Any], errors: list[Any] | None = None, pad: float = AXIS_PAD) -> list[float]:
    """A value axis that shows every bar whole: from zero (bars grow from it) to the furthest bar end, error bar
    and reference line included, padded by ``pad`` of the span. Missing and non-finite values are ignored."""
    ends = [0.0]
    for i, value in enumerate(values):
        if value is None or not np.isfinite(float(value)):
            continue
        error = errors[i] if errors is not None and i < len(errors) else None
        spread = abs(float(error)) if error is not None and np.isfinite(float(error)) else 0.0
        ends += [float(value) - spread, float(value) + spread]
    low, high = min(ends), max(ends)
    margin = pad * ((high - low) or 1.0)
    return [low - margin if low < 0 else 0.0, high + margin if high > 0 else 0.0]


def placeholder(title: str, message: str) -> go.Figure:
    """A figure that says why it is empty (e.g. the pipeline that feeds it has not run)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14})
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, height=300)
    return fig


def popularity_figure(
    posts: pd.DataFrame,
    users: pd.DataFrame,
    ground_truth_posts: pd.DataFrame | None,
    source: str,
    seed: int,
    n_concepts: int = 20,
    n_users: int = 20,
    min_posts: int = 8,
) -> go.Figure:
    """PPCL's Figure 1 on the run's data: popularity (SMPD's label, log2(views/days)+1) per concept (20 random
    concepts by median), per user (20 random users with ``min_posts`` posts) and against followers, with
    Spearman's rho; where ground truth exists, the noise-free oracle score's rho against followers beside it."""
    frame = posts[posts["source"] == source][["post_id", "user_id", "concept", "popularity_label"]].copy()
    frame["popularity"] = pd.to_numeric(frame["popularity_label"], errors="coerce").astype(float)
    frame = frame[np.isfinite(frame["popularity"])]
    if frame.empty:
        return placeholder("Popularity per concept, user and followers", f"no {source} posts with a popularity label")
    followers = users[users["source"] == source][["user_id", "followers"]] if "source" in users else users
    frame = frame.merge(followers[["user_id", "followers"]], on="user_id", how="left")
    frame["followers"] = pd.to_numeric(frame["followers"], errors="coerce").astype(float)
    rng = np.random.default_rng(seed)

    concepts = frame["concept"].dropna().unique()
    chosen = rng.choice(concepts, size=min(n_concepts, len(concepts)), replace=False) if len(concepts) else []
    by_concept = frame[frame["concept"].isin(chosen)]
    concept_order = by_concept.groupby("concept")["popularity"].median().sort_values().index
    counts = frame.groupby("user_id").size()
    active = counts[counts >= min_posts].index.to_numpy()
    picked = rng.choice(active, size=min(n_users, len(active)), replace=False) if len(active) else []
    by_user = frame[frame["user_id"].isin(picked)]
    user_order = by_user.groupby("user_id")["popularity"].median().sort_values().index

    known = frame.dropna(subset=["followers"])
    rho = float(spearmanr(known["followers"], known["popularity"]).statistic) if len(known) > 2 else float("nan")
    subtitle = f"(c) vs followers: Spearman {rho:.2f}"
    truth, _ = truth_for(ground_truth_posts, known["post_id"], source)
    if truth is not None:
        with_truth = known.join(truth["oracle_score"], on="post_id", how="inner")
        if len(with_truth) > 2:
            oracle_rho = spearmanr(with_truth["followers"], with_truth["oracle_score"]).statistic
            subtitle += f" (oracle {oracle_rho:.2f})"

    fig = make_subplots(rows=1, cols=3, subplot_titles=("(a) per concept", "(b) per user", subtitle))
    for concept in concept_order:
        fig.add_trace(
            go.Box(
                y=by_concept.loc[by_concept["concept"] == concept, "popularity"],
                name=str(concept),
                boxpoints=False,
                showlegend=False,
            ),
            row=1,
            col=1,
        )
    for user in user_order:
        fig.add_trace(
            go.Box(
                y=by_user.loc[by_user["user_id"] == user, "popularity"],
                name=str(user),
                boxpoints=False,
                showlegend=False,
            ),
            row=1,
            col=2,
        )
    fig.add_trace(
        go.Scattergl(
            x=known["followers"],
            y=known["popularity"],
            mode="markers",
            showlegend=False,
            marker={"size": 3, "opacity": 0.35},
        ),
        row=1,
        col=3,
    )
    fig.update_xaxes(type="log", title_text="followers", row=1, col=3)
    fig.update_yaxes(title_text="log2(views/days) + 1", row=1, col=1)
    fig.update_layout(title=f"Popularity per concept, user and followers ({source}, {len(frame):,} posts)", height=480)
    return fig


def curves_figure(title: str, panels: list[tuple[str, str, dict[str, list[dict[str, Any]]]]]) -> go.Figure:
    """One panel per (panel title, metric, {model: history}); a history is a list of per-epoch dicts."""
    panels = [(t, m, h) for t, m, h in panels if h]
    if not panels:
        return placeholder(title, "no training histories yet: run the modelling pipelines")
    rows, cols, cells = _grid(len(panels), 2)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{t}: {m}" for t, m, _ in panels], vertical_spacing=0.15)
    for (row, col), (_, metric, histories) in zip(cells, panels, strict=True):
        for model, history in histories.items():
            points = [
                (h.get("epoch", i + 1), h[metric]) for i, h in enumerate(history) if isinstance(h, dict) and metric in h
            ]
            if points:
                x, y = zip(*points, strict=True)
                fig.add_trace(
                    go.Scatter(x=list(x), y=list(y), mode="lines+markers", name=model, legendgroup=f"{row}{col}"),
                    row=row,
                    col=col,
                )
        fig.update_xaxes(title_text="epoch", row=row, col=col)
    fig.update_layout(title=title, height=380 * rows, legend={"groupclick": "toggleitem"})
    return fig


def confusion_figure(panels: list[tuple[str, np.ndarray, np.ndarray, list[str]]], title: str) -> go.Figure:
    """Row-normalised confusion matrices, one panel per (name, true, predicted, class names), counts as text."""
    if not panels:
        return placeholder(title, "no saved test predictions yet: run the modelling pipelines")
    rows, cols, cells = _grid(len(panels), 3)
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=[p[0] for p in panels], vertical_spacing=0.18, horizontal_spacing=0.1
    )
    for index, ((row, col), (_, y_true, y_pred, names)) in enumerate(zip(cells, panels, strict=True)):
        k = len(names)
        counts = np.zeros((k, k), dtype=int)
        np.add.at(counts, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        fig.add_trace(
            go.Heatmap(
                z=share,
                x=names,
                y=names,
                text=counts,
                texttemplate="%{text}",
                zmin=0,
                zmax=1,
                colorscale="Blues",
                showscale=index == 0,
            ),
            row=row,
            col=col,
        )
        fig.update_xaxes(title_text="predicted", row=row, col=col)
        fig.update_yaxes(title_text="true" if col == 1 else None, autorange="reversed", row=row, col=col)
    fig.update_layout(title=title, height=400 * rows)
    return fig


def predicted_vs_true_figure(panels: list[tuple[str, np.ndarray, np.ndarray]], title: str) -> go.Figure:
    """Scatter of predictions against the truth, one panel per (name, true, predicted), with the diagonal."""
    if not panels:
        return placeholder(title, "no regression predictions yet: run the modelling pipelines")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[0] for p in panels])
    for col, (_, true_values, predicted) in enumerate(panels, start=1):
        y_true, y_pred = np.asarray(true_values, dtype=float), np.asarray(predicted, dtype=float)
        fig.add_trace(
            go.Scattergl(x=y_true, y=y_pred, mode="markers", marker={"size": 4, "opacity": 0.5}, showlegend=False),
            row=1,
            col=col,
        )
        low, high = float(np.nanmin([y_true.min(), y_pred.min()])), float(np.nanmax([y_true.max(), y_pred.max()]))
        fig.add_trace(
            go.Scatter(
                x=[low, high], y=[low, high], mode="lines", line={"dash": "dash", "color": "grey"}, showlegend=False
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="true", row=1, col=col)
        fig.update_yaxes(title_text="predicted", row=1, col=col)
    fig.update_layout(title=title, height=430)
    return fig


def comparison_figure(contracts: dict[str, Any], published: dict[str, Any], metrics: dict[str, str]) -> go.Figure:
    """Per pipeline, one headline metric (``metrics[pipeline]``): ours per model beside the paper's."""
    names = [n for n in metrics if isinstance(contracts.get(n), dict) and not contracts[n].get("not_run")]
    if not names:
        return placeholder("Headline metric per model, ours vs the paper", "no results contracts yet")
    titles = [f"{n}: {metrics[n]} ({direction_text(metric_direction(metrics[n])) or 'a count'})" for n in names]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=titles)
    for col, name in enumerate(names, start=1):
        metric, models = metrics[name], contracts[name]["models"]
        paper = (published.get(name) or {}).get("models") or {}
        shown = [m for m in models if metric in models[m]]
        fig.add_trace(
            go.Bar(
                x=shown,
                y=[models[m][metric] for m in shown],
                name="ours",
                marker_color="#1f77b4",
                showlegend=col == 1,
                legendgroup="ours",
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Bar(
                x=shown,
                y=[paper.get(m, {}).get(metric) for m in shown],
                name="paper",
                marker_color="#bbbbbb",
                showlegend=col == 1,
                legendgroup="paper",
            ),
            row=1,
            col=col,
        )
        oracle = (contracts[name].get("oracle") or {}).get(metric)
        ours = [models[m][metric] for m in shown]
        theirs = [paper.get(m, {}).get(metric) for m in shown]
        fig.update_yaxes(range=bar_axis_range([*ours, *theirs, oracle]), row=1, col=col)
        if oracle is not None:
            fig.add_hline(
                y=oracle,
                line_dash="dot",
                line_color="green",
                row=1,
                col=col,
                annotation_text="oracle",
                annotation_position="top left",
            )
    fig.update_layout(
        title="Headline metric per model: ours (this run) vs the paper (its data)", barmode="group", height=460
    )
    return fig
