"""The colours every view uses, in the browser (bqplot) and in static figures (matplotlib)."""

from __future__ import annotations

__all__ = ["CATEGORICAL", "COLORS"]

#: Marks of a spectrum: matplotlib's tab10, as the SpectrumView and its static figure use them.
COLORS = {
    "main": "#1f77b4",
    "selected": "#d62728",
    "fft": "#ff7f0e",
    "exact": "#2ca02c",
    "unfolded": "#9467bd",
    "mp": "#17becf",
    "tail": "#e377c2",
}

#: Tableau 10: the class colours of the hypergraph (``hypergraph_layout.ts::CATEGORICAL``).
CATEGORICAL = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
