"""SpectrumView: one layer's singular values, sorted and as an ESD with its RMT fits (bqplot).

Two plots of the layer picked in a dropdown:

* **sorted values** — ``σ_i`` against the rank ``i + 1`` (log y; log x on request). Click a
  point to select its index, or switch to *brush* and drag over a range of ranks. The
  comparison boxes overlay the same layer's values under other methods of
  :func:`svdwidgets.conv_svd`: ``fft`` (Sedghi et al. 2019; exact only for circular padding),
  ``exact`` (the top ``k`` values of the operator as ``conv2d`` runs it, matrix-free on large
  layers) and ``unfolded`` (the ``c_out x c_in·kh·kw`` weight matrix — a different object, not
  the operator). Each is computed on first use and cached per (layer, method, k).
* **ESD** — the histogram of the eigenvalues ``λ = σ²`` of ``AᵀA`` (unnormalised, as
  WeightWatcher plots it) as a density per unit ``λ``, on log-spaced bins and log-log axes (or
  linear bins and axes), with the fitted Marchenko–Pastur bulk (``σ_mp``, ``q`` from one
  frequency block, as :func:`svdwidgets.profile` fits it) and the power-law tail
  ``∝ λ^(-α)`` from ``x_min`` (slope ``-α`` on log-log axes) overlaid. See :mod:`.esd`.

Kernel-side traits other views observe: ``layer`` (str) and ``selected`` (sorted indices into
the layer's ``spectrum.values``). Given a shared :class:`~svdwidgets.widgets.selection.Selection`
(``selection=``), the view links with other views: a click or a brush selects there, and a
selection made elsewhere is drawn here; a :class:`~svdwidgets.widgets.selection.SpectrumLink`
(``link``) does the same in the browser, so a click on a point keeps selecting in an exported
page. ``selected`` is not sent to the browser: a brushed range of a
large layer can hold hundreds of thousands of indices; the browser gets only the highlighted
points it draws. The widget state stays small for any layer size: the curves are decimated
(:func:`.esd.curve_indices`) and the ESD is sent as bin outlines, never every value.
"""

from __future__ import annotations

import html
import json
import math
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as ipw
import numpy as np
import traitlets
from ipywidgets import widget_serialization
from ipywidgets.embed import dependency_state

from svdwidgets._palette import COLORS
from svdwidgets.core import esd
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._sync import held
from svdwidgets.widgets.selection import Selection, SpectrumLink

__all__ = ["COMPARE_METHODS", "SpectrumView", "brush_to_indices"]

COMPARE_METHODS = ("fft", "exact", "unfolded")
"""The methods the comparison boxes can overlay on the sorted-values plot."""

#: Selected indices drawn one by one up to this many; above it only those on the sent curve.
MAX_HIGHLIGHT = 2000

#: The selection marker's area in px² (bqplot's size): ~12 px across, the points are 14 (~4 px).
SELECTED_SIZE = 110
#: Its outline, so that it reads on the points and on either theme's background.
SELECTED_OUTLINE = "black"
#: How a point selected in the browser (no kernel needed) looks: opaque, red, outlined.
SELECTED_POINT_STYLE = {
    "opacity": 1.0,
    "fill": COLORS["selected"],
    "stroke": SELECTED_OUTLINE,
    "stroke-width": 1.5,
}


def brush_to_indices(x0: float, x1: float, n: int) -> tuple[int, int] | None:
    """The indices ``i`` whose rank ``i + 1`` lies in ``[x0, x1]``, as ``(first, last)``."""
    lo_x, hi_x = sorted((float(x0), float(x1)))
    first = max(math.ceil(lo_x) - 1, 0)
    last = min(math.floor(hi_x) - 1, n - 1)
    return (first, last) if first <= last else None


@dataclass
class _Layer:
    """One layer's values and what is derived from them (computed once, on first view)."""

    name: str
    values: np.ndarray
    method: str
    exact: bool | None
    geometry: Any
    entry: Any  # the profile's LayerProfile, or None
    note: str
    _hist: dict[bool, esd.Histogram] = field(default_factory=dict)
    _fits: esd.LayerFits | None = None

    @property
    def complete(self) -> bool:
        expected = esd.expected_count(self) if self.geometry is not None else None
        return expected is None or self.values.size >= expected

    def histogram(self, log_bins: bool, bins: int) -> esd.Histogram:
        if log_bins not in self._hist:
            self._hist[log_bins] = esd.esd_histogram(self.values**2, bins=bins, log_bins=log_bins)
        return self._hist[log_bins]

    def fits(self) -> esd.LayerFits:
        if self._fits is None:
            self._fits = esd.layer_fits(self.values, self.geometry, complete=self.complete)
        return self._fits


def _is_profile(source: object) -> bool:
    return hasattr(source, "layers") and hasattr(source, "entry") and hasattr(source, "skipped")


def _layers_of(source: object) -> dict[str, _Layer]:
    if _is_profile(source):
        names = list(source.layers)  # type: ignore[attr-defined]
        if not names:
            raise SVDWidgetsError(
                f"the profile has no analysed layers to show; skipped: {source.skipped}"  # type: ignore[attr-defined]
            )
        out = {}
        for n in names:
            e = source.entry(n)  # type: ignore[attr-defined]
            s = e.spectrum
            out[n] = _Layer(
                n, esd.as_values(s.values, n), s.method, s.exact, e.geometry, e, e.note or ""
            )
        return out
    if isinstance(source, Mapping):
        spectra = dict(source)
    elif hasattr(source, "values") and hasattr(source, "method"):
        spectra = {"spectrum": source}
    else:
        raise SVDWidgetsError(
            "SpectrumView needs a Profile (svdwidgets.profile), a Spectrum or a dict "
            f"{{name: Spectrum or 1-D array}}; got {type(source).__name__}"
        )
    if not spectra:
        raise SVDWidgetsError("SpectrumView got an empty dict of spectra: nothing to show")
    out = {}
    for n, s in spectra.items():
        if hasattr(s, "method") and hasattr(s, "values"):
            out[str(n)] = _Layer(
                str(n), esd.as_values(s.values, n), s.method, s.exact, s.geometry, None, ""
            )
        else:
            out[str(n)] = _Layer(str(n), esd.as_values(s, n), "given", None, None, None, "")
    return out


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _method_label(method: str, exact: bool | None) -> str:
    """``fft (approx.)``, ``fft (exact)``, ``exact``: the method, and whether it is exact."""
    return method if method in ("exact", "given") else f"{method} ({_exactness(exact)})"


def _exactness(exact: bool | None) -> str:
    return "exact" if exact else ("approx." if exact is False else "given")


class SpectrumView(ipw.VBox):
    """A layer's sorted singular values and ESD, with RMT fits, selection and method comparison.

    Parameters
    ----------
    source:
        a :class:`~svdwidgets.Profile` (``svdwidgets.profile(model, input_shape)``), a
        :class:`~svdwidgets.Spectrum`, or a dict ``{name: Spectrum or 1-D array of σ}``.
        Method comparison needs a profile (it recomputes the layer).
    layer:
        the layer shown first (default: the first analysed layer).
    k:
        how many top values the ``exact`` comparison computes (clamped to the layer's count).
    methods:
        methods from :data:`COMPARE_METHODS` overlaid from the start.
    log_index, log_bins:
        log x axis on the sorted plot; log-spaced ESD bins on log-log axes (else linear).
    bins:
        number of ESD bins.
    max_points:
        the most points a sorted curve sends (half the top values, half log-spaced below).
    selection:
        a :class:`~svdwidgets.widgets.selection.Selection` shared with linked views (or None).
    show_picker:
        show the layer picker (a dashboard with its own picker hides it).
    """

    layer = traitlets.Unicode(help="The layer shown (a name of the source).").tag(sync=True)
    selected = traitlets.List(
        traitlets.Int(), help="Selected indices into the layer's spectrum.values, ascending."
    )
    mode = traitlets.Enum(
        ("click", "brush"), "click", help="What a gesture on the sorted plot does."
    )
    log_index = traitlets.Bool(False, help="Log x axis (rank) on the sorted plot.").tag(sync=True)
    log_bins = traitlets.Bool(True, help="Log-spaced ESD bins on log-log axes.").tag(sync=True)
    methods = traitlets.List(traitlets.Unicode(), help="Compared methods overlaid.")
    k = traitlets.Int(32, help="Top-k of the exact comparison.")
    link = traitlets.Instance(
        SpectrumLink, allow_none=True, help="The browser-side link of the sorted plot."
    ).tag(sync=True, **widget_serialization)

    def __init__(
        self,
        source: object,
        layer: str | None = None,
        *,
        k: int = 32,
        methods: Iterable[str] = (),
        log_index: bool = False,
        log_bins: bool = True,
        bins: int = 60,
        max_points: int = 2000,
        selection: Selection | None = None,
        show_picker: bool = True,
        **kwargs: Any,
    ) -> None:
        if selection is not None and not isinstance(selection, Selection):
            raise SVDWidgetsError(
                f"selection must be a svdwidgets.widgets.Selection, got {type(selection).__name__}"
            )
        self._selection = selection
        self._pushing = False
        self._layers = _layers_of(source)
        self._has_profile = _is_profile(source)
        name = next(iter(self._layers)) if layer is None else layer
        self._check_layer(name)
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise SVDWidgetsError(f"bins must be a positive int; got {bins!r}")
        if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 4:
            raise SVDWidgetsError(f"max_points must be an int >= 4; got {max_points!r}")
        self._bins = bins
        self._head, self._tail = max_points // 2, max_points - max_points // 2
        self._compared: dict[tuple[str, str, int | None], Any] = {}
        self._compare_notes: dict[tuple[str, str, int | None], str] = {}
        self._sent = np.zeros(0, dtype=np.int64)
        self._ready = False
        self._build()
        if not show_picker:
            self._picker.layout.display = "none"
        link = None if selection is None else SpectrumLink(self._points, selection)
        super().__init__(
            children=[self._controls, self._compare_row, self._figures, self._status],
            link=link,
            **kwargs,
        )
        self.add_class("svdw-spectrum-view")
        self.k, self.log_index, self.log_bins = k, log_index, log_bins
        self.methods = list(methods)
        self.layer = name
        self._link_controls()
        self._ready = True
        self._draw_layer()
        if selection is not None:
            selection.observe(self._on_shared, names=["layer", "indices"])
            self._on_shared(None)

    # ----------------------------------------------------------------------------------------
    # Building
    # ----------------------------------------------------------------------------------------

    def _build(self) -> None:
        names = list(self._layers)
        self._picker = ipw.Dropdown(
            options=names, description="layer", layout=ipw.Layout(width="240px")
        )
        self._picker.add_class("svdw-sv-picker")
        self._mode_buttons = ipw.ToggleButtons(
            options=[("click a point", "click"), ("brush a range", "brush")],
            style={"button_width": "120px"},
            layout=ipw.Layout(width="auto", flex="0 0 auto"),
            tooltips=["click a point to select its index", "drag over ranks to select a range"],
        )
        # each with its own Layout from the start (a replaced Layout stays registered)
        self._log_index_box = ipw.Checkbox(
            description="log rank axis", indent=False, layout=ipw.Layout(width="130px")
        )
        self._log_bins_box = ipw.Checkbox(
            description="log ESD bins", indent=False, layout=ipw.Layout(width="130px")
        )
        self._clear = ipw.Button(description="clear selection", layout=ipw.Layout(width="130px"))
        self._clear.on_click(lambda _: self.select([]))
        self._controls = ipw.HBox(
            [
                self._picker,
                self._mode_buttons,
                self._log_index_box,
                self._log_bins_box,
                self._clear,
            ],
            layout=ipw.Layout(flex_flow="row wrap", align_items="center"),
        )
        self._method_boxes = {
            m: ipw.Checkbox(description=m, indent=False, layout=ipw.Layout(width="90px"))
            for m in COMPARE_METHODS
        }
        self._k_box = ipw.BoundedIntText(
            min=1, max=10**7, description="exact top-k", layout=ipw.Layout(width="170px")
        )
        compare_label = ipw.Label("compare methods:")
        if not self._has_profile:
            for w in (*self._method_boxes.values(), self._k_box):
                w.disabled = True
            compare_label.value = "compare methods (needs a Profile):"
        self._compare_row = ipw.HBox([compare_label, *self._method_boxes.values(), self._k_box])

        # (a) sorted singular values
        self._xs_sorted = bq.LinearScale()
        self._ys_sorted = bq.LogScale()
        sc = {"x": self._xs_sorted, "y": self._ys_sorted}
        self._main_line = bq.Lines(scales=sc, colors=[COLORS["main"]], stroke_width=2)
        self._points = bq.Scatter(
            scales=sc,
            colors=[COLORS["main"]],
            default_size=14,
            opacities=[0.55],
            tooltip=bq.Tooltip(fields=["x", "y"], labels=["rank i+1", "σ"], formats=["", ".4g"]),
        )
        self._points.on_element_click(self._on_click)
        if self._selection is not None:
            # the browser marks a clicked point itself (the SpectrumLink maps it to an index)
            self._points.interactions = {"click": "select", "hover": "tooltip"}
            self._points.selected_style = SELECTED_POINT_STYLE
            self._points.unselected_style = {"opacity": 0.3}
        self._overlays = {
            m: bq.Lines(
                scales=sc,
                colors=[COLORS[m]],
                stroke_width=2,
                line_style="dashed",
                visible=False,
                marker="circle" if m != "fft" else None,
                marker_size=12,
            )
            for m in COMPARE_METHODS
        }
        # the selection: drawn last (above the points), larger than them, outlined
        self._sel_points = bq.Scatter(
            scales=sc,
            colors=[COLORS["selected"]],
            default_size=SELECTED_SIZE,
            stroke=SELECTED_OUTLINE,
            stroke_width=1.5,
        )
        self._ax_rank = bq.Axis(
            scale=self._xs_sorted, label="rank i + 1 (index i)", tick_format="d"
        )
        self._ax_sigma = bq.Axis(scale=self._ys_sorted, side="left", label="σ_i", tick_format=".2g")
        self._brush = self._make_brush()
        fig_layout = {"width": "100%", "height": "400px"}
        margin = {"top": 40, "bottom": 55, "left": 65, "right": 20}
        self._fig_sorted = bq.Figure(
            marks=[self._main_line, *self._overlays.values(), self._points, self._sel_points],
            axes=[self._ax_rank, self._ax_sigma],
            fig_margin=margin,
            animation_duration=0,
            layout=ipw.Layout(**fig_layout),
        )
        self._fig_sorted.add_class("svdw-sv-sorted")

        # (b) ESD of λ = σ²
        self._xs_esd = bq.LogScale()
        self._ys_esd = bq.LogScale()
        se = {"x": self._xs_esd, "y": self._ys_esd}
        self._hist = bq.Lines(
            scales=se,
            colors=[COLORS["main"]],
            fill="bottom",
            fill_colors=[COLORS["main"]],
            fill_opacities=[0.3],
            stroke_width=1,
        )
        self._mp_line = bq.Lines(scales=se, colors=[COLORS["mp"]], stroke_width=2.5)
        self._tail_line = bq.Lines(
            scales=se, colors=[COLORS["tail"]], stroke_width=3.5, line_style="dashed"
        )
        self._sel_esd = bq.Scatter(
            scales=se,
            colors=[COLORS["selected"]],
            default_size=SELECTED_SIZE,
            stroke=SELECTED_OUTLINE,
            stroke_width=1.5,
        )
        self._ax_lambda = bq.Axis(scale=self._xs_esd, label="λ = σ² (eigenvalue of AᵀA)")
        self._ax_density = bq.Axis(
            scale=self._ys_esd,
            side="left",
            label="density per unit λ",
            tick_format=".0e",
        )
        self._fig_esd = bq.Figure(
            marks=[self._hist, self._mp_line, self._tail_line, self._sel_esd],
            axes=[self._ax_lambda, self._ax_density],
            fig_margin=margin,
            animation_duration=0,
            layout=ipw.Layout(**fig_layout),
        )
        self._fig_esd.add_class("svdw-sv-esd")
        # legends in HTML under each plot: they never cover the points, follow the theme,
        # and wrap on narrow screens
        self._legend_sorted = ipw.HTML()
        self._legend_esd = ipw.HTML()
        self._legend_sorted.add_class("svdw-sv-legend")
        self._legend_esd.add_class("svdw-sv-legend")
        column = {"flex": "1 1 0", "min_width": "380px"}
        self._figures = ipw.HBox(
            [
                ipw.VBox([self._fig_sorted, self._legend_sorted], layout=ipw.Layout(**column)),
                ipw.VBox([self._fig_esd, self._legend_esd], layout=ipw.Layout(**column)),
            ]
        )
        self._status = ipw.HTML()
        self._status.add_class("svdw-sv-status")

    def _make_brush(self) -> Any:
        brush = bq.interacts.BrushIntervalSelector(
            scale=self._xs_sorted, marks=[self._points], color=COLORS["selected"]
        )
        brush.observe(self._on_brushing, "brushing")
        return brush

    def _link_controls(self) -> None:
        self._links = [
            # the view's traits first: a link copies its source's value to its target
            traitlets.link((self, "layer"), (self._picker, "value")),
            traitlets.link((self, "mode"), (self._mode_buttons, "value")),
            traitlets.link((self, "log_index"), (self._log_index_box, "value")),
            traitlets.link((self, "log_bins"), (self._log_bins_box, "value")),
            traitlets.link((self, "k"), (self._k_box, "value")),
        ]
        for m, box in self._method_boxes.items():
            box.value = m in self.methods
            box.observe(self._on_method_box, "value")

    # ----------------------------------------------------------------------------------------
    # Public API
    # ----------------------------------------------------------------------------------------

    @property
    def layers(self) -> list[str]:
        """The layers the picker offers."""
        return list(self._layers)

    @property
    def values(self) -> np.ndarray:
        """The shown layer's singular values (descending, float64)."""
        return self._layers[self.layer].values

    @property
    def method(self) -> str:
        """The method the shown layer's values came from (``"given"`` for bare arrays)."""
        return self._layers[self.layer].method

    @property
    def exact(self) -> bool | None:
        """Whether the shown layer's values are exact (None for bare arrays)."""
        return self._layers[self.layer].exact

    @property
    def entry(self) -> Any:
        """The shown layer's ``LayerProfile`` (None unless the view was built on a Profile)."""
        return self._layers[self.layer].entry

    @property
    def note(self) -> str:
        """The profile's note on the shown layer (e.g. why its spectrum is approximate)."""
        return self._layers[self.layer].note

    @property
    def geometry(self) -> Any:
        """The shown layer's ``ConvGeometry`` (None for bare arrays)."""
        return self._layers[self.layer].geometry

    @property
    def curve_indices(self) -> np.ndarray:
        """Indices into ``values`` of the points the sorted curve sends (decimated)."""
        return self._sent.copy()

    @property
    def histogram(self) -> esd.Histogram:
        """The shown ESD histogram (counts of ``λ = σ²`` per bin)."""
        return self._layers[self.layer].histogram(self.log_bins, self._bins)

    @property
    def fits(self) -> esd.LayerFits:
        """The shown layer's Marchenko–Pastur and power-law fits."""
        return self._layers[self.layer].fits()

    @property
    def figures(self) -> tuple[Any, Any]:
        """The two bqplot figures: (sorted values, ESD)."""
        return self._fig_sorted, self._fig_esd

    def select(self, indices: Iterable[int]) -> None:
        """Select these indices of the shown layer's values (and in the shared selection)."""
        self.selected = [int(i) for i in indices]
        self._push()

    def select_range(self, first: int, last: int) -> None:
        """Select indices ``first … last`` (inclusive), as a brush over their ranks does."""
        n = self.values.size
        for v in (first, last):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 <= v < n:
                raise SVDWidgetsError(
                    f"index {v!r} is out of range: layer {self.layer!r} has {n} values"
                )
        lo, hi = sorted((int(first), int(last)))
        self.selected = list(range(lo, hi + 1))
        self._push()

    def save(self, path: str | Path, **kwargs: Any) -> Path:
        """Save what the view shows as a static figure (.png, .svg or .pdf, by the suffix).

        Drawn by :func:`svdwidgets.plots.save_view` with matplotlib, without a browser.
        """
        from svdwidgets.plots import save_view

        return save_view(self, path, **kwargs)

    def compare_spectrum(self, method: str, layer: str | None = None) -> Any:
        """The layer's spectrum under ``method`` (computed once, cached per layer, method, k).

        ``exact`` computes the top ``k`` values (clamped to the layer's count); ``fft`` and
        ``unfolded`` all of them. Runs :func:`svdwidgets.conv_svd` on the profiled module and
        its recorded input size (on the BN-folded weight when the profile folded it).
        """
        name = self.layer if layer is None else layer
        self._check_layer(name)
        if method not in COMPARE_METHODS:
            raise SVDWidgetsError(f"unknown method {method!r}; compare one of {COMPARE_METHODS}")
        data = self._layers[name]
        e = data.entry
        if e is None or e.geometry is None:
            raise SVDWidgetsError(
                f"comparing methods needs a Profile (it recomputes layer {name!r}); "
                "build the view from svdwidgets.profile(model, input_shape)"
            )
        k = min(self.k, int(e.geometry.n_values)) if method == "exact" else None
        key = (name, method, k)
        if key not in self._compared:
            import svdwidgets

            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if e.folded:
                    from svdwidgets.core.conv_svd import spectrum_of

                    spec = spectrum_of(e.weight, e.geometry, method=method, k=k)
                else:
                    spec = svdwidgets.conv_svd(
                        e.record.module, e.record.input_size, method=method, k=k
                    )
            seconds = time.perf_counter() - start
            notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
            self._compare_notes[key] = f"{method}: {seconds:.2g} s ({spec.solver})" + (
                "; " + "; ".join(notes) if notes else ""
            )
            self._compared[key] = spec
        return self._compared[key]

    def state_size(self) -> dict[str, int]:
        """Bytes of this view's widget state (all its widgets), as embedded in a page.

        ``buffers``: binary array bytes; ``json``: the JSON of the whole state, buffers
        included as base64 (what an HTML export or a notebook's saved state holds).
        """
        state = dependency_state(self, drop_defaults=False)
        buffers = sum(len(b["data"]) * 3 // 4 for s in state.values() for b in s.get("buffers", []))
        return {"widgets": len(state), "buffers": buffers, "json": len(json.dumps(state))}

    # ----------------------------------------------------------------------------------------
    # Validation and observers
    # ----------------------------------------------------------------------------------------

    def _check_layer(self, name: object) -> str:
        if not isinstance(name, str) or name not in self._layers:
            raise SVDWidgetsError(f"unknown layer {name!r}; the layers are {list(self._layers)}")
        return name

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: traitlets.Bunch) -> str:
        return self._check_layer(proposal["value"])

    @traitlets.validate("selected")
    def _valid_selected(self, proposal: traitlets.Bunch) -> list[int]:
        n = self._layers[self.layer].values.size if self.layer else 0
        picked = np.unique(np.asarray(proposal["value"], dtype=np.int64))
        bad = picked[(picked < 0) | (picked >= n)]
        if bad.size:
            raise SVDWidgetsError(
                f"selected index {int(bad[0])} is out of range: layer {self.layer!r} has {n} "
                f"values (indices 0 … {n - 1})"
            )
        return [int(i) for i in picked]

    @traitlets.validate("methods")
    def _valid_methods(self, proposal: traitlets.Bunch) -> list[str]:
        unknown = [m for m in proposal["value"] if m not in COMPARE_METHODS]
        if unknown:
            raise SVDWidgetsError(f"unknown method(s) {unknown}; compare from {COMPARE_METHODS}")
        if proposal["value"] and not self._has_profile:
            raise SVDWidgetsError("comparing methods needs a Profile (it recomputes the layer)")
        return [m for m in COMPARE_METHODS if m in proposal["value"]]

    @traitlets.validate("k")
    def _valid_k(self, proposal: traitlets.Bunch) -> int:
        k = proposal["value"]
        if k < 1:
            raise SVDWidgetsError(f"k must be a positive int; got {k}")
        return int(k)

    @traitlets.observe("layer")
    def _on_layer(self, change: traitlets.Bunch) -> None:
        if self._ready:
            self._draw_layer()

    @traitlets.observe("selected")
    def _on_selected(self, change: traitlets.Bunch) -> None:
        if self._ready:
            self._draw_selection()

    @traitlets.observe("mode")
    def _on_mode(self, change: traitlets.Bunch) -> None:
        self._fig_sorted.interaction = self._brush if change["new"] == "brush" else None

    @traitlets.observe("log_index")
    def _on_log_index(self, change: traitlets.Bunch) -> None:
        self._xs_sorted = bq.LogScale() if change["new"] else bq.LinearScale()
        with held(self._fig_sorted, self._ax_rank, *self._sorted_marks()):
            for mark in self._sorted_marks():
                mark.scales = {"x": self._xs_sorted, "y": self._ys_sorted}
            self._ax_rank.scale = self._xs_sorted
            self._rank_ticks()
            self._brush = self._make_brush()
            if self.mode == "brush":
                self._fig_sorted.interaction = self._brush

    @traitlets.observe("log_bins")
    def _on_log_bins(self, change: traitlets.Bunch) -> None:
        log = change["new"]
        self._xs_esd = bq.LogScale() if log else bq.LinearScale()
        self._ys_esd = bq.LogScale() if log else bq.LinearScale()
        marks = (self._hist, self._mp_line, self._tail_line, self._sel_esd)
        with held(self._ax_lambda, self._ax_density, *marks):
            for mark in marks:
                mark.scales = {"x": self._xs_esd, "y": self._ys_esd}
            self._ax_lambda.scale = self._xs_esd
            self._ax_density.scale = self._ys_esd
            self._ax_density.tick_format = ".0e" if log else ".2g"
        if self._ready:
            self._draw_esd()
            self._draw_selection()

    @traitlets.observe("methods", "k")
    def _on_methods(self, change: traitlets.Bunch) -> None:
        if not self._ready:
            return
        if change["name"] == "methods":
            for m, box in self._method_boxes.items():
                box.value = m in change["new"]
        if change["name"] == "methods" or "exact" in self.methods:
            self._draw_overlays()
            self._draw_status()

    def _on_method_box(self, change: traitlets.Bunch) -> None:
        wanted = [m for m, box in self._method_boxes.items() if box.value]
        if wanted != self.methods:
            self.methods = wanted

    def _on_click(self, mark: Any, event: dict[str, Any]) -> None:
        if self.link is not None:
            # the browser's SpectrumLink already wrote the click into the shared selection;
            # writing it again from here would race its (throttled) message and could undo a
            # later gesture
            return
        i = int(event["data"]["index"])
        if 0 <= i < self._sent.size:
            self.selected = [int(self._sent[i])]

    def _on_brushing(self, change: traitlets.Bunch) -> None:
        # the gesture settled: map the brushed ranks to indices once, not on every mouse move
        if change["new"] or self._brush.selected is None or len(self._brush.selected) != 2:
            return
        x0, x1 = (float(v) for v in self._brush.selected)
        picked = brush_to_indices(x0, x1, self.values.size)
        self.selected = [] if picked is None else list(range(picked[0], picked[1] + 1))
        self._push()

    # A gesture here writes the shared selection; a change of it only redraws (no loops).

    def _push(self) -> None:
        if self._selection is None or self._pushing:
            return
        self._pushing = True
        try:
            self._selection.select(self.layer, self.selected)
        finally:
            self._pushing = False

    def _on_shared(self, change: traitlets.Bunch | None) -> None:
        sel = self._selection
        if sel is None or self._pushing:
            return
        self._pushing = True
        try:
            n = self.values.size
            wanted = [i for i in sel.indices if i < n] if sel.layer == self.layer else []
            if wanted != self.selected:
                self.selected = wanted
        finally:
            self._pushing = False

    # ----------------------------------------------------------------------------------------
    # Drawing (each under hold_sync: one message per widget)
    # ----------------------------------------------------------------------------------------

    def _sorted_marks(self) -> list[Any]:
        return [self._main_line, *self._overlays.values(), self._points, self._sel_points]

    def _rank_ticks(self) -> None:
        """Powers of ten on a log rank axis (d3's 1-2-5 ticks crowd into each other)."""
        if not self.log_index or not self.layer:
            self._ax_rank.tick_values = None
            return
        n = self._layers[self.layer].values.size
        self._ax_rank.tick_values = 10.0 ** np.arange(0, math.floor(math.log10(n)) + 1)

    def _curve(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decimated ``(indices, values)``; zeros dropped (the σ axis is logarithmic)."""
        idx = esd.curve_indices(values.size, head=self._head, tail=self._tail)
        idx = idx[values[idx] > 0]
        return idx, values[idx]

    def _draw_layer(self) -> None:
        data = self._layers[self.layer]
        self._sent, y = self._curve(data.values)
        x = self._sent + 1.0
        if self.link is not None:
            self.link.show(self.layer, self._sent)
        with held(self._fig_sorted, self._main_line, self._points, self._brush):
            self._main_line.x, self._main_line.y = x, y
            self._main_line.labels = [f"{self.layer}: {_method_label(data.method, data.exact)}"]
            self._points.x, self._points.y = x, y
            self._ax_sigma.tick_values = esd.log_ticks(float(y.min()), float(y.max()))
            self._fig_sorted.title = f"{self.layer}: sorted singular values"
            self._brush.selected = None
            self._rank_ticks()
        self._draw_overlays()
        self._draw_esd()
        if self.selected:
            self.selected = []  # indices of another layer's values mean nothing here
        else:
            self._draw_selection()
        if self._selection is not None:
            self._on_shared(None)  # the shared selection may be of the new layer

    def _draw_overlays(self) -> None:
        for m, line in self._overlays.items():
            spec = None
            if m in self.methods:
                self._status.value = (
                    f"<i>computing {m} of {html.escape(self.layer)}"
                    + (f" (top {self.k})" if m == "exact" else "")
                    + " …</i>"
                )
                try:
                    spec = self.compare_spectrum(m)
                except SVDWidgetsError as err:
                    self._status.value = f"<b>{m}</b>: {html.escape(str(err))}"
            with line.hold_sync():
                if spec is None:
                    line.visible = False
                    continue
                idx, y = self._curve(esd.as_values(spec.values, self.layer))
                line.x, line.y = idx + 1.0, y
                line.labels = [self._overlay_label(m, spec)]
                line.visible = True
        self._draw_legends()

    def _overlay_label(self, method: str, spec: Any) -> str:
        if method == "unfolded":
            w = self._layers[self.layer].entry.weight
            return f"unfolded W {w.shape[0]}×{w[0].numel()} (not the operator)"
        top = f" top-{len(spec)}" if method == "exact" else ""
        return f"{method}{top} ({_exactness(spec.exact)})"

    def _draw_esd(self) -> None:
        data = self._layers[self.layer]
        hist = data.histogram(self.log_bins, self._bins)
        fits = data.fits()
        n = hist.total
        x, y = hist.staircase()
        if self.log_bins:
            y = np.where(y > 0, y, np.nan)  # empty bins: gaps (log axis)
        marks = (self._fig_esd, self._hist, self._mp_line, self._tail_line)
        with held(*marks):
            self._fig_esd.title = f"{self.layer}: ESD of λ = σ²"
            self._hist.x, self._hist.y = x, y
            finite = y[np.isfinite(y) & (y > 0)]
            # d3's own log ticks label every 1..9 of a narrow decade, on top of each other
            self._ax_density.tick_values = (
                esd.log_ticks(float(finite.min()), float(finite.max()))
                if self.log_bins and finite.size
                else None
            )
            self._hist.labels = [
                f"ESD of {n:,} eigenvalues λ = σ², {hist.counts.size} "
                f"{'log-spaced' if self.log_bins else 'linear'} bins"
                + (f" ({hist.n_zero} zeros left out)" if hist.n_zero else "")
            ]
            mp = fits.mp
            if mp is not None:
                lo, hi = esd.mp_support(mp, fits.big)
                lo = max(lo, float(hist.edges[0]))
                grid = np.geomspace(lo, hi, 300) if self.log_bins else np.linspace(lo, hi, 300)
                d = esd.mp_density(grid, mp, fits.big, n)
                # on log axes, stop where the bulk's edge falls below the histogram's range
                low = np.nanmin(y) / 10 if self.log_bins else -np.inf
                keep = (d > low) if self.log_bins else np.isfinite(d)
                self._mp_line.x, self._mp_line.y = grid[keep], d[keep]
                self._mp_line.labels = [
                    f"MP bulk: σ_mp={_fmt(mp.sigma_mp)}, q={mp.q:.3g}, spikes={mp.num_spikes}"
                ]
            self._mp_line.visible = mp is not None
            tail = fits.tail
            if tail is not None and tail.lambda_max > tail.xmin:
                grid = np.geomspace(tail.xmin, tail.lambda_max, 50)
                self._tail_line.x = grid
                self._tail_line.y = esd.power_law_density(grid, tail, n)
                self._tail_line.labels = [
                    f"power law: α={tail.alpha:.2f}, α̂={tail.alpha_weighted:.2f}, "
                    f"λ≥{_fmt(tail.xmin)}"
                ]
                shown = True
            else:
                shown = False
            self._tail_line.visible = shown
        self._draw_legends()

    def _draw_legends(self) -> None:
        def key(color: str, label: str, *, dashed: bool = False, dot: bool = False) -> str:
            if dot:
                swatch = f"width:9px;height:9px;border-radius:50%;background:{color}"
            else:
                swatch = f"width:22px;border-top:3px {'dashed' if dashed else 'solid'} {color}"
            return (
                f'<span class="svdw-sv-key"><span style="display:inline-block;{swatch};'
                f'vertical-align:middle;margin-right:4px"></span>{html.escape(label)}</span>'
            )

        keys = [key(COLORS["main"], self._main_line.labels[0])]
        keys += [
            key(COLORS[m], line.labels[0], dashed=True)
            for m, line in self._overlays.items()
            if line.visible and line.labels
        ]
        keys.append(key(COLORS["selected"], "selected", dot=True))
        self._legend_sorted.value = "<br>".join(keys)
        if not self._hist.labels:  # the ESD is not drawn yet
            return
        keys = [key(COLORS["main"], self._hist.labels[0])]
        for line, dashed in ((self._mp_line, False), (self._tail_line, True)):
            if line.visible and line.labels:
                keys.append(key(line.colors[0], line.labels[0], dashed=dashed))
        keys.append(key(COLORS["selected"], "selected", dot=True))
        self._legend_esd.value = "<br>".join(keys)

    def _draw_selection(self) -> None:
        data = self._layers[self.layer]
        sel = np.asarray(self.selected, dtype=np.int64)
        if sel.size > MAX_HIGHLIGHT:
            sel = np.intersect1d(sel, self._sent)
        sel = sel[data.values[sel] > 0]
        sigma = data.values[sel]
        hist = data.histogram(self.log_bins, self._bins)
        lam = sigma**2
        on_bins = lam >= hist.edges[0] if self.log_bins else np.ones(lam.size, dtype=bool)
        dens = hist.density[hist.bin_of(lam[on_bins])]
        with held(self._sel_points, self._sel_esd):
            self._sel_points.x, self._sel_points.y = sel + 1.0, sigma
            self._sel_esd.x, self._sel_esd.y = lam[on_bins], dens
        self._draw_status()

    def _draw_status(self) -> None:
        data = self._layers[self.layer]
        n = data.values.size
        sel = self.selected
        if not sel:
            picked = "nothing selected — click a point, or brush a range of ranks"
        elif len(sel) == 1:
            i = sel[0]
            picked = f"selected i = {i} (σ = {data.values[i]:.4g}, λ = {data.values[i] ** 2:.4g})"
        else:
            picked = f"selected {len(sel)} indices, i = {sel[0]} … {sel[-1]}"
        parts = [
            f"<b>{html.escape(self.layer)}</b>: {_method_label(data.method, data.exact)}, "
            f"{n:,} values, {self._sent.size:,} drawn",
            html.escape(picked),
        ]
        fits = data.fits()
        if fits.reason:
            parts.append(html.escape(fits.reason))
        if data.note:
            parts.append(html.escape(data.note))
        for m in self.methods:
            k = None
            if m == "exact" and data.entry is not None and data.entry.geometry is not None:
                k = min(self.k, int(data.entry.geometry.n_values))
            note = self._compare_notes.get((self.layer, m, k))
            if note:
                parts.append(html.escape(note))
        self._status.value = " · ".join(parts)
