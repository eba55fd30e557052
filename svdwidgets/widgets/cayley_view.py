"""OrthogonalityGapView: how orthogonal a Cayley convolution is, by padding and input size.

Trockman & Kolter, "Orthogonalizing Convolutional Layers with the Cayley Transform", ICLR 2021
(:class:`svdwidgets.neighbours.CayleyConv2d`): the layer is orthogonal — every singular value
1 — as the *circular* convolution on the grid it was built for. The same kernel applied with
zero padding is not: the taps that would wrap around read zeros. For each input size ``n`` and
each way of applying the kernel (:func:`~svdwidgets.neighbours.cayley.zero_padding_gap`) the
view computes all singular values once, then shows

* the gap ``max_i |σ_i - 1|`` against ``n`` (log axis), one line per way;
* the sorted singular values at the size picked in a toggle, one line per way.

Ways (``padding_mode``, ``support``): ``("circular", "full")`` — the layer itself, through
the ``fft`` method (exact for circular padding, Sedghi et al. 2019); ``("zeros", "full")`` —
the full-grid kernel zero-padded; ``("zeros", "kernel")`` — only the taps inside the
parameter's ``k x k`` window, zero-padded, as an ordinary conv layer would run it (both
``exact``: the dense operator, so keep ``c·n²`` in the low thousands). The view only draws:
the values are the layer's own :meth:`~svdwidgets.neighbours.CayleyConv2d.orthogonality_gap`
(read through that method and the values' ``__array__``: the widgets import no torch).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any, Protocol

import bqplot as bq
import ipywidgets as ipw
import numpy as np
import traitlets

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._errors import TraitValueError


class Gap(Protocol):
    """One way's values (a :class:`svdwidgets.neighbours.cayley.OrthogonalityGap`)."""

    @property
    def values(self) -> Any: ...  # all singular values (array-like)
    @property
    def max_error(self) -> float: ...  # max_i |σ_i - 1|
    @property
    def sigma_max(self) -> float: ...
    @property
    def sigma_min(self) -> float: ...
    @property
    def method(self) -> str: ...  # the conv_svd method that computed the values


class GapSource(Protocol):
    """What the view needs of the layer (a :class:`~svdwidgets.neighbours.CayleyConv2d`)."""

    def orthogonality_gap(
        self, input_size: int, *, padding_mode: str, support: str, method: str
    ) -> Gap: ...


__all__ = ["WAYS", "OrthogonalityGapView"]

WAYS = (("circular", "full"), ("zeros", "full"), ("zeros", "kernel"))
"""How the Cayley kernel is applied: ``(padding_mode, support)``."""

COLORS = {WAYS[0]: "#2ca02c", WAYS[1]: "#1f77b4", WAYS[2]: "#d62728"}


def _label(way: tuple[str, str]) -> str:
    padding = "circular padding" if way[0] == "circular" else "zero padding"
    return f"{padding}, {'full-grid kernel' if way[1] == 'full' else 'k×k window'}"


class OrthogonalityGapView(ipw.VBox):
    """The Cayley layer's singular values by input size and padding.

    Parameters
    ----------
    layer:
        a :class:`~svdwidgets.neighbours.CayleyConv2d` (any object with its
        ``orthogonality_gap(n, padding_mode=, support=, method=)``).
    sizes:
        the input sizes ``n`` (square ``n x n`` grids, each at least the kernel size).
    ways:
        which of :data:`WAYS` to compute (default all three).
    """

    size = traitlets.Int(help="The input size whose sorted singular values are shown.")

    def __init__(
        self,
        layer: GapSource,
        sizes: Sequence[int],
        *,
        ways: Sequence[tuple[str, str]] = WAYS,
        **kwargs: Any,
    ) -> None:
        if not callable(getattr(layer, "orthogonality_gap", None)):
            raise SVDWidgetsError(
                f"expected a CayleyConv2d (with orthogonality_gap), got {type(layer).__name__}"
            )
        if isinstance(sizes, (str, int)) or not sizes:
            raise SVDWidgetsError(f"sizes must be a non-empty list of ints, got {sizes!r}")
        bad = [n for n in sizes if isinstance(n, bool) or not isinstance(n, int) or n < 1]
        if bad:
            raise SVDWidgetsError(f"sizes must be positive ints, got {bad}")
        chosen = [tuple(w) for w in ways]
        unknown = [w for w in chosen if w not in WAYS]
        if unknown or not chosen:
            raise SVDWidgetsError(f"unknown way(s) {unknown or chosen}; choose from {WAYS}")
        self._sizes = sorted(set(sizes))
        self._ways: list[tuple[str, str]] = [w for w in WAYS if w in chosen]
        self._gaps: dict[tuple[tuple[str, str], int], Gap] = {}
        for way in self._ways:
            method = "fft" if way[0] == "circular" else "exact"
            for n in self._sizes:
                self._gaps[way, n] = layer.orthogonality_gap(
                    n, padding_mode=way[0], support=way[1], method=method
                )
        self._build()
        super().__init__(children=[self._picker, self._figures, self._table], **kwargs)
        self.add_class("svdw-orthogonality-gap-view")
        self.size = self._sizes[-1]  # draws the values (the trait's default 0 is no size)
        traitlets.link((self, "size"), (self._picker, "value"))

    def gap(self, way: tuple[str, str], size: int) -> Gap:
        """The singular values of the layer applied ``way`` on the ``size x size`` grid."""
        key = (tuple(way), size)
        if key not in self._gaps:
            raise SVDWidgetsError(
                f"no values for {way!r} at size {size!r}; computed: ways {self._ways}, "
                f"sizes {self._sizes}"
            )
        return self._gaps[key]

    @property
    def sizes(self) -> list[int]:
        return list(self._sizes)

    @property
    def ways(self) -> list[tuple[str, str]]:
        return list(self._ways)

    def _build(self) -> None:
        self._picker = ipw.ToggleButtons(
            options=[(str(n), n) for n in self._sizes],
            description="input n",
            style={"button_width": "48px"},
        )
        xs, ys = bq.LinearScale(), bq.LogScale()
        n = np.asarray(self._sizes, dtype=np.float64)
        self._gap_lines = {
            w: bq.Lines(
                x=n,
                y=[max(self._gaps[w, s].max_error, 1e-16) for s in self._sizes],
                scales={"x": xs, "y": ys},
                colors=[COLORS[w]],
                marker="circle",
                marker_size=28,
                labels=[_label(w)],
            )
            for w in self._ways
        }
        layout = ipw.Layout(width="100%", height="340px", flex="1 1 0", min_width="360px")
        margin = {"top": 40, "bottom": 55, "left": 80, "right": 20}
        gap_fig = bq.Figure(
            marks=list(self._gap_lines.values()),
            axes=[
                bq.Axis(scale=xs, label="input size n", tick_format="d"),
                bq.Axis(
                    scale=ys,
                    side="left",
                    label="max |σ − 1|",
                    tick_format=".0e",
                    label_offset="60px",
                ),
            ],
            title="distance from orthogonal (colours: the legend on the right)",
            fig_margin=margin,
            animation_duration=0,
            layout=layout,
        )
        xv, yv = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale()
        self._values_lines = {
            w: bq.Lines(
                scales={"x": xv, "y": yv},
                colors=[COLORS[w]],
                stroke_width=2,
                labels=[_label(w)],
                display_legend=True,
            )
            for w in self._ways
        }
        self._values_fig = bq.Figure(
            marks=list(self._values_lines.values()),
            axes=[
                bq.Axis(scale=xv, label="rank i / number of values", tick_format=".1f"),
                bq.Axis(scale=yv, side="left", label="σ_i", tick_format=".2f", label_offset="50px"),
            ],
            legend_location="bottom-left",
            fig_margin=margin,
            animation_duration=0,
            layout=layout,
        )
        self._figures = ipw.HBox([gap_fig, self._values_fig])
        rows = "".join(
            f"<tr><td style='color:{COLORS[w]}'>■ {html.escape(_label(w))}</td><td>{s}</td>"
            f"<td>{g.sigma_min:.4f}</td><td>{g.sigma_max:.4f}</td><td>{g.max_error:.1e}</td>"
            f"<td>{g.method}</td></tr>"
            for w in self._ways
            for s in self._sizes
            for g in [self._gaps[w, s]]
        )
        self._table = ipw.HTML(
            "<table class='svdw-gap-table' cellpadding='3'>"
            "<tr><th>applied as</th><th>n</th><th>σ_min</th>"
            "<th>σ_max</th><th>max |σ − 1|</th><th>method</th></tr>" + rows + "</table>"
        )

    @traitlets.validate("size")
    def _valid_size(self, proposal: traitlets.Bunch) -> int:
        if proposal["value"] not in self._sizes:
            raise TraitValueError(
                f"size {proposal['value']!r} was not computed; the sizes are {self._sizes}"
            )
        return int(proposal["value"])

    @traitlets.observe("size")
    def _on_size(self, change: traitlets.Bunch) -> None:
        self._draw_values()

    def _draw_values(self) -> None:
        for w, line in self._values_lines.items():
            v = np.asarray(self._gaps[w, self.size].values, dtype=np.float64)
            with line.hold_sync():
                line.x = np.arange(v.size) / max(v.size - 1, 1)
                line.y = v
        self._values_fig.title = f"sorted singular values at n = {self.size}"
