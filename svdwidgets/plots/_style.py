"""Sizes, fonts and colours shared by the static figures (matplotlib, no pyplot).

Figures are sized for print: :data:`COLUMN` (3.4 in, one column of a two-column paper) and
:data:`FULL` (7 in, the text width). Fonts are set on each artist (never through the global
``rcParams``), so that making a figure leaves matplotlib's state as it was.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from svdwidgets import _palette

COLUMN = 3.4
"""Width in inches of one column of a two-column paper."""
FULL = 7.0
"""Width in inches of the full text width."""

TITLE = 9.0
LABEL = 8.0
TICK = 7.0
SMALL = 6.5

COLORS = _palette.COLORS
"""The spectrum's colours, shared with the widgets (:mod:`svdwidgets._palette`)."""
CATEGORICAL = _palette.CATEGORICAL
"""The class colours, shared with the hypergraph view."""


def class_color(c: int) -> str:
    """The colour of class ``c`` (cycles after 10 classes), as the HypergraphView draws it."""
    return CATEGORICAL[c % len(CATEGORICAL)]


def new_figure(width: float, height: float) -> Figure:
    """A figure with constrained layout, not registered with pyplot (no global state)."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    engine = ConstrainedLayoutEngine(w_pad=0.03, h_pad=0.03, wspace=0.04, hspace=0.04)
    return Figure(figsize=(width, height), layout=engine)


def style_axes(ax: Axes, *, grid: bool = True) -> None:
    """Tick label sizes, a light grid under the data, no top/right spines."""
    ax.tick_params(which="both", labelsize=TICK)
    ax.tick_params(length=3, width=0.6, pad=2)
    ax.tick_params(which="minor", length=1.5, width=0.4)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_linewidth(0.6)
    if grid:
        ax.grid(True, which="major", linewidth=0.4, color="#dddddd")
        ax.set_axisbelow(True)


def legend_below(ax: Axes, **kwargs: Any) -> Any:
    """The legend of ``ax`` under its (sub)figure, outside the data, one entry per row."""
    handles, labels = ax.get_legend_handles_labels()
    handles = kwargs.pop("handles", handles)
    labels = kwargs.pop("labels", labels)
    if not handles:
        return None
    options: dict[str, Any] = {
        "fontsize": SMALL,
        "frameon": False,
        "handlelength": 2.0,
        "loc": "outside lower center",
        "ncols": 1,
    }
    options.update(kwargs)
    return ax.figure.legend(handles, labels, **options)


#: Mantissas of log-axis ticks, finest first: the finest giving at most 7 ticks is used.
STEPS = (
    (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0),
    (1.0, 2.0, 3.0, 5.0),
    (1.0, 2.0, 5.0),
    (1.0, 3.0),
)


def readable_log_axis(axis: Any, lo: float, hi: float) -> None:
    """Ticks a reader can read on a log axis over ``[lo, hi]``.

    Under two decades: 1-2-5 ticks labelled as plain numbers (matplotlib would label the minor
    ticks ``2×10⁰``); wider: decades only, no minor labels.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axis.set_minor_formatter(NullFormatter())
    if not (lo > 0 and hi > lo) or hi / lo >= 100:
        return
    from svdwidgets.core.esd import log_ticks

    ticks = log_ticks(lo, hi, most=7, steps=STEPS)
    if ticks.size < 3:  # a narrow range: evenly spaced plain numbers
        from matplotlib.ticker import MaxNLocator

        ticks = np.asarray(MaxNLocator(nbins=4).tick_values(lo, hi), dtype=np.float64)
        ticks = ticks[(ticks >= lo) & (ticks <= hi)]
    axis.set_major_locator(FixedLocator(ticks.tolist()))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))


def legend(ax: Axes, **kwargs: Any) -> Any:
    """A frameless small legend (``kwargs`` place it)."""
    options: dict[str, Any] = {
        "fontsize": SMALL,
        "frameon": False,
        "handlelength": 1.8,
        "borderaxespad": 0.2,
    }
    options.update(kwargs)
    return ax.legend(**options)


def exactness(exact: bool | None) -> str:
    """``exact``, ``approx.`` or ``given`` (no method ran), as the SpectrumView says it."""
    return "exact" if exact else ("approx." if exact is False else "given")


def describe_geometry(geometry: Any) -> str:
    """One line for a layer's geometry: weight shape, input size, stride, padding."""
    if geometry is None:
        return ""
    g = geometry
    if g.kind == "linear":
        return f"linear {g.c_out}×{g.c_in}"
    kh, kw = g.kernel
    h, w = g.input_size
    parts = [f"{g.c_out}×{g.c_in // g.groups}×{kh}×{kw} on {h}×{w}"]
    if g.kind == "conv_transpose":
        parts[0] = "transposed " + parts[0]
    if tuple(g.stride) != (1, 1):
        parts.append(f"stride {_pair(g.stride)}")
    if tuple(g.padding) != (0, 0):
        parts.append(f"{g.padding_mode} padding {_pair(g.padding)}")
    if tuple(g.dilation) != (1, 1):
        parts.append(f"dilation {_pair(g.dilation)}")
    if g.groups != 1:
        parts.append(f"{g.groups} groups")
    return ", ".join(parts)


def _pair(p: Any) -> str:
    a, b = p
    return str(a) if a == b else f"{a}×{b}"
