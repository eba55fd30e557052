"""Saving figures (PNG, SVG, PDF) and the static figure of a widget's current state.

:func:`save_figure` picks the format from the suffix: PNG at 300 dpi, SVG with its text kept
as text (``svg.fonttype = "none"``: searchable, editable, in the reader's font), PDF with
TrueType fonts (``pdf.fonttype = 42``: editable text). Dates are left out of the SVG and PDF
metadata, so that the same figure gives the same bytes. The file is written next to its final
name and renamed into place, so that a failure never leaves half a file.

:func:`save_view` saves what a widget shows now (:func:`plot_view`: the widget's own
``figure()``, drawn from its arrays; this module imports no widget).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, cast

from matplotlib.figure import Figure

from svdwidgets.errors import SVDWidgetsError

__all__ = ["DPI", "FORMATS", "plot_view", "save_figure", "save_view"]

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
"""The file suffixes :func:`save_figure` writes, and their formats."""
DPI = 300
"""PNG resolution: print quality at the figure's size in inches."""

_RC: dict[str, dict[str, Any]] = {
    "png": {},
    "svg": {"svg.fonttype": "none", "svg.hashsalt": "svdwidgets"},
    "pdf": {"pdf.fonttype": 42},
}
_METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": "svdwidgets (matplotlib)"},
    "svg": {"Date": None, "Creator": "svdwidgets (matplotlib)"},
    "pdf": {"CreationDate": None, "Creator": "svdwidgets (matplotlib)"},
}


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``path`` as PNG, SVG or PDF (from the suffix); return the path.

    The parent folder must exist. ``dpi`` applies to PNG (and to images inside SVG/PDF).
    """
    import matplotlib

    if not isinstance(fig, Figure):
        raise SVDWidgetsError(f"need a matplotlib Figure to save; got {type(fig).__name__}")
    if not isinstance(path, str | os.PathLike):
        raise SVDWidgetsError(f"path must be a str or os.PathLike; got {path!r}")
    target = Path(path)
    fmt = FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise SVDWidgetsError(
            f"cannot save a figure as {target.suffix or '(no suffix)'!r} ({str(target)!r}): "
            f"use one of {sorted(FORMATS)}"
        )
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 10 <= dpi <= 2400:
        raise SVDWidgetsError(f"dpi must be an int in [10, 2400]; got {dpi!r}")
    parent = target.parent
    if not parent.is_dir():
        raise SVDWidgetsError(f"the folder {str(parent)!r} of {str(target)!r} does not exist")
    # a hidden name beside the target (same file system: the rename is atomic); savefig creates
    # it with the usual permissions (mkstemp's would be owner-only)
    tmp = parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        # rc_context restores the settings afterwards: they only say how to write this file
        with matplotlib.rc_context(cast(Any, _RC[fmt])):
            fig.savefig(
                tmp,
                format=fmt,
                dpi=dpi,
                metadata=_METADATA[fmt],
                bbox_inches="tight",
                pad_inches=0.03,
                facecolor="white",
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def plot_view(view: Any, **kwargs: Any) -> Figure:
    """The static figure of what a widget shows now: its own ``figure(**kwargs)``.

    Each view draws itself from its own arrays with this package's functions (a SpectrumView
    with :func:`~svdwidgets.plots.plot_layer`'s drawing, a FrequencyMap with
    :func:`~svdwidgets.plots.plot_frequency_map`, a HypergraphView with
    :func:`~svdwidgets.plots.plot_hypergraph`, a VectorGallery with
    :func:`~svdwidgets.plots.plot_gallery`); this package knows no widget class.
    ``kwargs`` go to the plotting function (e.g. ``style="euler"`` for a hypergraph).
    """
    draw = getattr(view, "figure", None)
    if not callable(draw):
        raise SVDWidgetsError(
            "save_view draws a view with a figure() method (SpectrumView, FrequencyMap, "
            f"HypergraphView, VectorGallery); got {type(view).__name__}"
        )
    fig = draw(**kwargs)
    if not isinstance(fig, Figure):
        raise SVDWidgetsError(
            f"{type(view).__name__}.figure() returned {type(fig).__name__}, not a Figure"
        )
    return fig


def save_view(view: Any, path: str | os.PathLike[str], *, dpi: int = DPI, **kwargs: Any) -> Path:
    """Save what a widget shows now as PNG, SVG or PDF (:func:`plot_view`, :func:`save_figure`)."""
    return save_figure(plot_view(view, **kwargs), path, dpi=dpi)
