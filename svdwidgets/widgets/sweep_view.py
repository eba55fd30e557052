"""SweepView: a sweep's layers across checkpoints, and one checkpoint's layer spectrum (bqplot).

* **across checkpoints** — the metric picked (``sigma_max``, ``stable_rank``, ``alpha``) of every
  layer, one line per layer, x the epoch/step when every source has one, else the source's index;
  a vertical rule marks the checkpoint of the slider.
* **the picked checkpoint and layer** — its top singular values (log y) and the histogram of
  log10 λ (λ = σ²) kept by the sweep: arrays from :meth:`svdwidgets.Sweep.spectrum`, nothing
  recomputed.

Data in, drawing out: the view takes a finished :class:`svdwidgets.Sweep` (no torch, no SVD).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as ipw
import numpy as np

from svdwidgets._palette import CATEGORICAL
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._sync import held

__all__ = ["METRICS", "SweepView"]

METRICS = ("sigma_max", "stable_rank", "alpha")


class SweepView(ipw.VBox):
    """Layers of a sweep across its checkpoints; a slider and a dropdown pick one spectrum."""

    def __init__(self, sweep: Any, *, metric: str = "sigma_max", **kwargs: Any) -> None:
        table = sweep.to_dataframe()
        self._table = table[table.status != "failed"]
        if self._table.empty:
            raise SVDWidgetsError("the sweep has no profiled source to show")
        if metric not in METRICS:
            raise SVDWidgetsError(f"metric must be one of {METRICS}, got {metric!r}")
        self._sweep = sweep
        self.sources = list(dict.fromkeys(self._table.source))
        self.layers = list(dict.fromkeys(self._table.layer))
        self.x = np.arange(len(self.sources), dtype=float)
        for column in ("epoch", "step"):
            by = self._table.groupby("source", sort=False)[column].first()
            if by.notna().all():
                self.x = by.loc[self.sources].to_numpy(dtype=float)
                break
        self.metric_box = ipw.Dropdown(options=list(METRICS), value=metric, description="metric")
        self.layer_box = ipw.Dropdown(
            options=self.layers, value=self.layers[-1], description="layer"
        )
        self.slider = ipw.IntSlider(
            min=0,
            max=len(self.sources) - 1,
            value=len(self.sources) - 1,
            description="checkpoint",
            continuous_update=False,
        )
        xs, ys = bq.LinearScale(), bq.LinearScale()
        self.lines = bq.Lines(
            x=self.x,
            y=self.metric_values(metric),
            colors=[CATEGORICAL[i % len(CATEGORICAL)] for i in range(len(self.layers))],
            labels=self.layers,
            display_legend=True,
            marker="circle",
            scales={"x": xs, "y": ys},
        )
        self.rule = bq.Lines(
            x=[0.0, 0.0],
            y=[0.0, 1.0],
            colors=["#888888"],
            scales={"x": xs, "y": bq.LinearScale(min=0.0, max=1.0)},
        )
        self.trend = bq.Figure(
            marks=[self.lines, self.rule],
            axes=[bq.Axis(scale=xs, label="checkpoint"), bq.Axis(scale=ys, side="left")],
            title=metric,
            layout=ipw.Layout(height="300px"),
        )
        rs, vs = bq.LinearScale(), bq.LogScale()
        self.values_line = bq.Lines(x=[], y=[], scales={"x": rs, "y": vs})
        self.values_fig = bq.Figure(
            marks=[self.values_line],
            axes=[
                bq.Axis(scale=rs, label="rank"),
                bq.Axis(scale=vs, side="left", label="σ"),
            ],
            layout=ipw.Layout(height="260px"),
        )
        es, cs = bq.LinearScale(), bq.LinearScale()
        self.esd_bars = bq.Bars(x=[], y=[], scales={"x": es, "y": cs}, padding=0.0)
        self.esd_fig = bq.Figure(
            marks=[self.esd_bars],
            axes=[
                bq.Axis(scale=es, label="log10 λ"),
                bq.Axis(scale=cs, side="left", label="count"),
            ],
            layout=ipw.Layout(height="260px"),
        )
        self.metric_box.observe(lambda _: self._draw_trend(), "value")
        self.slider.observe(lambda _: self._draw_pick(), "value")
        self.layer_box.observe(lambda _: self._draw_pick(), "value")
        super().__init__(
            [
                ipw.HBox([self.metric_box, self.layer_box, self.slider]),
                self.trend,
                ipw.HBox([self.values_fig, self.esd_fig]),
            ],
            **kwargs,
        )
        self._draw_trend()
        self._draw_pick()

    @property
    def source(self) -> str:
        return self.sources[self.slider.value]

    def metric_values(self, metric: str) -> np.ndarray:
        """(layers, sources): ``metric`` of every layer in every source (NaN where absent)."""
        wide = self._table.pivot(index="layer", columns="source", values=metric)
        return wide.reindex(index=self.layers, columns=self.sources).to_numpy(dtype=float)

    def pick(self, source: str, layer: str) -> None:
        """Show ``layer`` of ``source`` (what the slider and the dropdown do)."""
        if source not in self.sources:
            raise SVDWidgetsError(f"no profiled source {source!r}; sources: {self.sources}")
        if layer not in self.layers:
            raise SVDWidgetsError(f"no layer {layer!r}; layers: {self.layers}")
        with self.hold_trait_notifications():
            self.layer_box.value = layer
            self.slider.value = self.sources.index(source)
        self._draw_pick()

    def save(self, path: str | Path) -> Path:
        """The static figure of every metric across checkpoints (:func:`plots.plot_sweep`)."""
        from svdwidgets import plots

        return plots.save_figure(plots.plot_sweep(self._table), path)

    def _draw_trend(self) -> None:
        metric = self.metric_box.value
        with held(self.lines, self.trend):
            self.lines.y = self.metric_values(metric)
            self.trend.title = metric
        self._draw_rule()

    def _draw_rule(self) -> None:
        at = float(self.x[self.slider.value])
        with held(self.rule):
            self.rule.x = [at, at]

    def _draw_pick(self) -> None:
        spec = self._sweep.spectrum(self.source, self.layer_box.value)
        edges = spec["edges"]
        with held(self.values_line, self.esd_bars):
            self.values_line.x = np.arange(1, spec["top"].size + 1, dtype=float)
            self.values_line.y = spec["top"]
            self.esd_bars.x = (edges[:-1] + edges[1:]) / 2 if edges.size else np.zeros(0)
            self.esd_bars.y = spec["counts"]
        self.values_fig.title = f"{self.layer_box.value} in {self.source}"
        self._draw_rule()
