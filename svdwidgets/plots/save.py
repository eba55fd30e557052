"""Saving figures (PNG, SVG, PDF) and the static figure of a widget's current state.

:func:`save_figure` picks the format from the suffix: PNG at 300 dpi, SVG with its text kept
as text (``svg.fonttype = "none"``: searchable, editable, in the reader's font), PDF with
TrueType fonts (``pdf.fonttype = 42``: editable text). Dates are left out of the SVG and PDF
metadata, so that the same figure gives the same bytes. The file is written next to its final
name and renamed into place, so that a failure never leaves half a file.

:func:`save_view` draws what a widget shows now (:func:`plot_view`) and saves it.
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
    """The static figure of what a widget shows now.

    * ``SpectrumView``: :func:`~svdwidgets.plots.plot_layer` of its layer, selection, compared
      methods, axes and bins (the numbers it shows, not recomputed).
    * ``FrequencyMap``: :func:`~svdwidgets.plots.plot_frequency_map` of its
      ``frequency_values`` at its ``rank``, ``selected_frequency`` and ``log_scale``.
    * ``HypergraphView``: :func:`~svdwidgets.plots.plot_hypergraph` of its arrays with its
      ``highlight`` (a highlight that is not a node is not drawn, as in the view).
    * ``VectorGallery``: :func:`~svdwidgets.plots.plot_gallery` of its rendered cards, titled
      with their index and σ (cards without an image yet are left out).

    ``kwargs`` go to the plotting function (e.g. ``style="euler"`` for a hypergraph).
    """
    from svdwidgets.widgets import FrequencyMap, HypergraphView, SpectrumView, VectorGallery

    if isinstance(view, SpectrumView):
        return _spectrum_view(view, **kwargs)
    if isinstance(view, FrequencyMap):
        from svdwidgets.plots.frequency import plot_frequency_map

        options = {
            "rank": view.rank,
            "selected": view.selected_frequency,
            "log_scale": view.log_scale,
            "name": view.layer_name,
        }
        return plot_frequency_map(view.frequency_values, **{**options, **kwargs})
    if isinstance(view, HypergraphView):
        from svdwidgets.plots.hypergraph import plot_hypergraph

        mark: tuple[str, int] | None = view.highlight
        if mark is not None and view.node_of(*mark) is None:
            mark = None  # the view marks nothing for a direction that is not a node
        options = {"highlight": mark, "title": view.title or None}
        return plot_hypergraph(view, **{**options, **kwargs})
    if isinstance(view, VectorGallery):
        return _gallery(view, **kwargs)
    raise SVDWidgetsError(
        "save_view draws a SpectrumView, FrequencyMap, HypergraphView or VectorGallery; "
        f"got {type(view).__name__}"
    )


def _gallery(view: Any, **kwargs: Any) -> Figure:
    import io

    import numpy as np
    from PIL import Image

    from svdwidgets.plots.gallery import plot_gallery

    cards = [c for c in view.items if c.get("image")]
    if not cards:
        raise SVDWidgetsError(
            f"the gallery of {view.layer!r} has no rendered image yet ({view.status!r}): "
            "wait for it (gallery.wait()) before saving"
        )
    images = np.stack([np.array(Image.open(io.BytesIO(c["image"]))) for c in cards])
    titles = [f"i = {c['index']}, σ = {c['sigma']:.3g}" for c in cards]
    options = {"title": f"{view.title or 'Singular vectors'} · {view.layer}"}
    return plot_gallery(images, titles, **{**options, **kwargs})


def _spectrum_view(view: Any, **kwargs: Any) -> Figure:
    from svdwidgets.plots.layer import Curve, LayerData, as_values, draw_layer, overlay_label

    layer = view.layer
    entry = view.entry
    data = LayerData(
        name=layer,
        values=view.values,
        method=view.method,
        exact=view.exact,
        geometry=view.geometry,
        histogram=view.histogram,
        fits=view.fits,
        note=view.note,
    )
    overlays = []
    for method in view.methods:
        try:
            spec = view.compare_spectrum(method)
        except SVDWidgetsError:
            continue  # the view shows the error instead of the curve
        overlays.append(
            Curve(overlay_label(method, spec, entry), as_values(spec.values, layer), method)
        )
    options: dict[str, Any] = {"selected": view.selected, "log_index": view.log_index}
    return draw_layer(data, overlays=overlays, **{**options, **kwargs})


def save_view(view: Any, path: str | os.PathLike[str], *, dpi: int = DPI, **kwargs: Any) -> Path:
    """Save what a widget shows now as PNG, SVG or PDF (:func:`plot_view`, :func:`save_figure`).

    For the widgets' ``save(path)``: ``SpectrumView``, ``FrequencyMap``, ``HypergraphView``.
    """
    return save_figure(plot_view(view, **kwargs), path, dpi=dpi)
