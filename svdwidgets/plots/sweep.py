"""A sweep's layers across checkpoints: σ_max, stable rank and power-law α, one line per layer."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.plots._style import CATEGORICAL, FULL, LABEL, SMALL, new_figure, style_axes

METRICS = {"sigma_max": "σ_max", "stable_rank": "stable rank", "alpha": "power-law α of λ = σ²"}


def plot_sweep(table: Any, metrics: tuple[str, ...] = tuple(METRICS)) -> Figure:
    """One panel per metric: x the sources in order (epoch or step when every source has one),
    y the metric, one line per layer. ``table`` is :meth:`svdwidgets.Sweep.to_dataframe`."""
    missing = [m for m in ("source", "layer", *metrics) if m not in getattr(table, "columns", [])]
    if missing:
        raise SVDWidgetsError(f"the sweep table lacks the columns {missing}")
    df = table[table.status != "failed"] if "status" in table.columns else table
    if df.empty:
        raise SVDWidgetsError("the sweep has no profiled source to plot")
    sources = list(dict.fromkeys(df.source))
    x, xlabel = np.arange(len(sources), dtype=float), "checkpoint"
    for column in ("epoch", "step"):
        if column in df.columns:
            by = df.groupby("source", sort=False)[column].first()
            if by.notna().all():
                x, xlabel = by.loc[sources].to_numpy(dtype=float), column
                break
    fig = new_figure(FULL, 2.3)
    axes = fig.subplots(1, len(metrics))
    for ax, metric in zip(np.atleast_1d(axes), metrics, strict=True):
        for i, layer in enumerate(dict.fromkeys(df.layer)):
            rows = df[df.layer == layer].set_index("source").reindex(sources)
            y = rows[metric].to_numpy(dtype=float)
            ax.plot(
                x,
                y,
                marker="o",
                markersize=2.5,
                linewidth=1,
                label=str(layer),
                color=CATEGORICAL[i % len(CATEGORICAL)],
            )
        ax.set_title(METRICS.get(metric, metric), fontsize=LABEL)
        ax.set_xlabel(xlabel, fontsize=LABEL)
        style_axes(ax)
    np.atleast_1d(axes)[-1].legend(fontsize=SMALL, frameon=False, loc="best")
    return fig
