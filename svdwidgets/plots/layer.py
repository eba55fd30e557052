"""One layer's spectrum as a static figure: sorted σ and the ESD of λ = σ² with its RMT fits.

The same content as :class:`svdwidgets.widgets.SpectrumView`, for print:

* **(a) sorted singular values** — ``σ_i`` against the rank ``i + 1``, log ``y`` (log ``x`` on
  request), decimated as the view sends it (:func:`svdwidgets.core.esd.curve_indices`: every
  top value, then log-spaced ranks), with other methods of :func:`svdwidgets.conv_svd` overlaid
  dashed: ``fft`` (Sedghi, Gupta & Long, ICLR 2019; exact only for circular padding), ``exact``
  (the top ``k`` values of the operator as ``conv2d`` runs it) and ``unfolded`` (the
  ``c_out x c_in·kh·kw`` weight matrix of DeepDataProfiler, Praggastis et al. 2022 — a different
  object, not the operator).
* **(b) ESD** — the histogram of the eigenvalues ``λ = σ²`` of ``AᵀA`` as a density per unit
  ``λ`` (WeightWatcher's unnormalised ESD, Martin & Mahoney 2021), with the fitted
  Marchenko–Pastur bulk and the power-law tail ``∝ λ^(-α)`` overlaid. Histogram, fits and
  densities are :mod:`svdwidgets.core.esd`'s, exactly as the view computes them.

Selected indices are drawn as red points on both panels.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from svdwidgets.core.esd import as_values
from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning
from svdwidgets.plots import _style as st

__all__ = ["COMPARE_METHODS", "plot_layer"]

COMPARE_METHODS = ("fft", "exact", "unfolded")
"""The methods :func:`plot_layer` can overlay (those of the SpectrumView's comparison boxes)."""


@dataclass(frozen=True)
class Curve:
    """Values of one spectrum drawn on the sorted plot, with its legend label."""

    label: str
    values: np.ndarray
    method: str


@dataclass(frozen=True)
class LayerData:
    """What the two panels draw (built from a LayerProfile, a Spectrum or a SpectrumView)."""

    name: str
    values: np.ndarray
    method: str
    exact: bool | None
    geometry: Any
    histogram: Any  # esd.Histogram
    fits: Any  # esd.LayerFits
    note: str = ""


def layer_data(
    values: np.ndarray,
    *,
    name: str,
    method: str,
    exact: bool | None,
    geometry: Any,
    complete: bool,
    bins: int,
    log_bins: bool,
    note: str = "",
) -> LayerData:
    """The histogram and fits of ``values``, as the SpectrumView computes them."""
    from svdwidgets.core import esd

    hist = esd.esd_histogram(values**2, bins=bins, log_bins=log_bins)
    fits = esd.layer_fits(values, geometry, complete=complete)
    return LayerData(name, values, method, exact, geometry, hist, fits, note)


def plot_layer(
    entry_or_spectrum: Any,
    *,
    name: str | None = None,
    selected: Iterable[int] = (),
    methods: Sequence[str] | Mapping[str, Any] | None = None,
    k: int = 32,
    log_index: bool = False,
    log_bins: bool = True,
    bins: int = 60,
    max_points: int = 4000,
) -> Figure:
    """Sorted singular values and the ESD of ``λ = σ²`` with MP and power-law fits, one layer.

    Parameters
    ----------
    entry_or_spectrum:
        a layer of a profile (``prof.entry(name)``, a :class:`~svdwidgets.LayerProfile`) or a
        :class:`~svdwidgets.Spectrum` (``svdwidgets.conv_svd(...)``).
    name:
        the layer's name in the title (default: the profile's name, or ``"spectrum"``).
    selected:
        indices into the spectrum's ``values`` to highlight.
    methods:
        overlays on the sorted plot: names from :data:`COMPARE_METHODS` (computed from the
        profiled layer, so they need a ``LayerProfile``; ``exact`` computes the top ``k``), or a
        dict ``{method: Spectrum}`` of spectra computed already.
    log_index, log_bins, bins:
        log rank axis; log-spaced ESD bins on log-log axes (else linear); number of bins.
    max_points:
        the most points of a sorted curve (every top value, then log-spaced ranks), as the
        SpectrumView decimates: the figure stays small for a layer of any size.

    The histogram, the fits and their densities are those of :mod:`svdwidgets.core.esd`:
    WeightWatcher's definitions (Martin & Mahoney 2021), the MP fit on one frequency block.
    """
    from svdwidgets.core import esd

    spectrum, entry = _spectrum_of(entry_or_spectrum)
    label = name if name is not None else (entry.name if entry is not None else "spectrum")
    if not isinstance(label, str):
        raise SVDWidgetsError(f"name must be a str; got {label!r}")
    _check_int(bins, "bins", 1)
    _check_int(max_points, "max_points", 4)
    values = as_values(spectrum.values, label)
    expected = esd.expected_count(spectrum)
    data = layer_data(
        values,
        name=label,
        method=spectrum.method,
        exact=spectrum.exact,
        geometry=spectrum.geometry,
        complete=expected is None or values.size >= expected,
        bins=bins,
        log_bins=log_bins,
        note=(entry.note or "") if entry is not None else "",
    )
    overlays = _overlays(methods, entry, label, k)
    return draw_layer(
        data,
        selected=selected,
        overlays=overlays,
        log_index=log_index,
        max_points=max_points,
    )


def _spectrum_of(source: Any) -> tuple[Any, Any]:
    from svdwidgets.core.spectrum import Spectrum
    from svdwidgets.model.profile import LayerProfile

    if isinstance(source, LayerProfile):
        if source.spectrum is None:
            raise SVDWidgetsError(f"layer {source.name!r} was not analysed: {source.reason}")
        return source.spectrum, source
    if isinstance(source, Spectrum):
        return source, None
    raise SVDWidgetsError(
        "plot_layer needs a LayerProfile (prof.entry(name)) or a Spectrum "
        f"(svdwidgets.conv_svd); got {type(source).__name__}"
    )


def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise SVDWidgetsError(f"{name} must be an int >= {low}; got {value!r}")
    return int(value)


def _overlays(
    methods: Sequence[str] | Mapping[str, Any] | None, entry: Any, name: str, k: int
) -> list[Curve]:
    if methods is None:
        return []
    if isinstance(methods, str):
        raise SVDWidgetsError(f"methods must be a list of method names; got the str {methods!r}")
    given = dict(methods) if isinstance(methods, Mapping) else dict.fromkeys(methods)
    unknown = [m for m in given if m not in COMPARE_METHODS]
    if unknown:
        raise SVDWidgetsError(f"unknown method(s) {unknown}; compare from {COMPARE_METHODS}")
    out = []
    for method in COMPARE_METHODS:
        if method not in given:
            continue
        spec = given[method]
        if spec is None:
            spec = _compare(entry, method, k, name)
        values = as_values(spec.values, f"{name} ({method})")
        out.append(Curve(overlay_label(method, spec, entry), values, method))
    return out


def _compare(entry: Any, method: str, k: int, name: str) -> Any:
    """The profiled layer's spectrum under ``method`` (as SpectrumView.compare_spectrum)."""
    if entry is None or entry.geometry is None or entry.weight is None:
        raise SVDWidgetsError(
            f"comparing methods needs a LayerProfile (it recomputes layer {name!r}): pass "
            "prof.entry(name), or a dict {method: Spectrum}"
        )
    from svdwidgets.core.conv_svd import spectrum_of

    _check_int(k, "k", 1)
    top = min(int(k), int(entry.geometry.n_values)) if method == "exact" else None
    with warnings.catch_warnings():
        # an approximate comparison says so in its legend label (approx.)
        warnings.simplefilter("ignore", SVDWidgetsWarning)
        return spectrum_of(entry.weight, entry.geometry, method=method, k=top)


def overlay_label(method: str, spec: Any, entry: Any) -> str:
    """The legend label of a compared method (the SpectrumView's wording, one definition)."""
    from svdwidgets.model.compare import overlay_label as label

    return label(method, spec, entry)


def method_phrase(method: str, exact: bool | None) -> str:
    """``method exact``, ``method fft (approx.)``: which method ran and whether it is exact."""
    if method == "exact":
        return "method exact"
    return f"method {method} ({st.exactness(exact)})"


def _selection(selected: Iterable[int], n: int, name: str) -> np.ndarray:
    if isinstance(selected, str | bytes):
        raise SVDWidgetsError(f"selected must be indices; got {selected!r}")
    try:
        raw = np.asarray(list(selected))
    except TypeError as err:
        raise SVDWidgetsError(f"selected must be an iterable of ints; got {selected!r}") from err
    if raw.size and raw.dtype.kind not in "iu":
        raise SVDWidgetsError(f"selected indices must be ints; got {raw.tolist()!r}")
    sel = np.unique(raw.astype(np.int64))
    bad = sel[(sel < 0) | (sel >= n)]
    if bad.size:
        raise SVDWidgetsError(
            f"selected index {int(bad[0])} is out of range: layer {name!r} has {n} values "
            f"(indices 0 … {n - 1})"
        )
    return sel


#: Selected indices drawn one by one up to this many; above it only those on the drawn curve.
MAX_HIGHLIGHT = 2000


def draw_layer(
    data: LayerData,
    *,
    selected: Iterable[int] = (),
    overlays: Sequence[Curve] = (),
    log_index: bool = False,
    max_points: int = 4000,
) -> Figure:
    """The two-panel figure of :func:`plot_layer` from already computed numbers."""
    from svdwidgets.core import esd

    values = data.values
    sel = _selection(selected, values.size, data.name)
    fig = st.new_figure(st.FULL, 3.6)
    left, right = fig.subfigures(1, 2, wspace=0.02, squeeze=False)[0]
    ax_s, ax_e = left.subplots(), right.subplots()
    head = max_points // 2
    idx = esd.curve_indices(values.size, head=head, tail=max_points - head)
    idx = idx[values[idx] > 0]  # the σ axis is logarithmic
    _draw_sorted(ax_s, data, idx, sel, overlays, log_index, head, max_points - head)
    _draw_esd(ax_e, data, _highlighted(sel, idx, values))
    title = f"{data.name}: {method_phrase(data.method, data.exact)}, {values.size:,} values"
    geometry = st.describe_geometry(data.geometry)
    fig.suptitle(title + (f"\n{geometry}" if geometry else ""), fontsize=st.TITLE)
    return fig


def _highlighted(sel: np.ndarray, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    if sel.size > MAX_HIGHLIGHT:
        sel = np.intersect1d(sel, idx)
    return sel[values[sel] > 0]


def _selection_label(sel: np.ndarray) -> str:
    if sel.size <= 4:
        return "selected i = " + ", ".join(str(int(i)) for i in sel)
    return f"selected: {sel.size:,} indices, i = {int(sel[0])} … {int(sel[-1])}"


def _draw_sorted(
    ax: Axes,
    data: LayerData,
    idx: np.ndarray,
    sel: np.ndarray,
    overlays: Sequence[Curve],
    log_index: bool,
    head: int,
    tail: int,
) -> None:
    from svdwidgets.core import esd

    values = data.values
    st.style_axes(ax)
    (main,) = ax.plot(
        idx + 1.0,
        values[idx],
        color=st.COLORS["main"],
        linewidth=1.4,
        label=method_phrase(data.method, data.exact).removeprefix("method "),
        zorder=3,
    )
    main.set_gid("sorted-values")
    for curve in overlays:
        j = esd.curve_indices(curve.values.size, head=head, tail=tail)
        j = j[curve.values[j] > 0]
        few = j.size <= 64
        (line,) = ax.plot(
            j + 1.0,
            curve.values[j],
            color=st.COLORS[curve.method],
            linewidth=1.0,
            linestyle=(0, (4, 2)),
            marker="o" if few else None,
            markersize=2.5,
            label=curve.label,
            zorder=4,
        )
        line.set_gid(f"overlay-{curve.method}")
    shown = _highlighted(sel, idx, values)
    if shown.size:
        few = shown.size <= 20
        pts = ax.scatter(
            shown + 1.0,
            values[shown],
            s=16 if few else 5,
            color=st.COLORS["selected"],
            edgecolors="white" if few else "none",
            linewidths=0.5,
            zorder=5,
            label=_selection_label(sel),
            rasterized=not few,  # many points: pixels in SVG/PDF, the rest stays vector
        )
        pts.set_gid("selected-values")
    ax.set_yscale("log")
    drawn = [values[idx], *(c.values[c.values > 0] for c in overlays)]
    lo = min(float(v.min()) for v in drawn if v.size)
    hi = max(float(v.max()) for v in drawn if v.size)
    ax.set_ylim(lo / 1.25, hi * 1.25)
    st.readable_log_axis(ax.yaxis, lo / 1.25, hi * 1.25)
    if log_index:
        ax.set_xscale("log")
        ax.set_xlim(0.8, values.size * 1.25)
        st.readable_log_axis(ax.xaxis, 0.8, values.size * 1.25)
    else:
        ax.set_xlim(0, values.size * 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        # 800,000 ranks: "8 ×10⁵" instead of labels that run into each other
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useMathText=True)
        ax.xaxis.get_offset_text().set_fontsize(st.TICK)
    ax.set_xlabel("rank i + 1", fontsize=st.LABEL)
    ax.set_ylabel("singular value σᵢ", fontsize=st.LABEL)
    ax.set_title("(a) sorted singular values", fontsize=st.LABEL, loc="left")
    st.legend_below(ax)


def _draw_esd(ax: Axes, data: LayerData, sel: np.ndarray) -> None:
    from svdwidgets.core import esd

    hist, fits = data.histogram, data.fits
    n = hist.total
    st.style_axes(ax)
    density = hist.density
    y = np.where(density > 0, density, np.nan) if hist.log_bins else density
    bins = "log-spaced" if hist.log_bins else "linear"
    fill = ax.stairs(
        y, hist.edges, fill=True, color=st.COLORS["main"], alpha=0.25, linewidth=0, zorder=2
    )
    fill.set_gid("esd-fill")
    outline = ax.stairs(
        y,
        hist.edges,
        color=st.COLORS["main"],
        linewidth=0.9,
        zorder=3,
        label=f"ESD: {n:,} eigenvalues, {hist.counts.size} {bins} bins"
        + (f" ({hist.n_zero} zeros left out)" if hist.n_zero else ""),
    )
    outline.set_gid("esd")
    mp = fits.mp
    if mp is not None:
        lo, hi = esd.mp_support(mp, fits.big)
        lo = max(lo, float(hist.edges[0]))
        grid = np.geomspace(lo, hi, 300) if hist.log_bins else np.linspace(lo, hi, 300)
        d = esd.mp_density(grid, mp, fits.big, n)
        # on log axes, stop where the bulk's edge falls below the histogram's range
        keep = d > np.nanmin(y) / 10 if hist.log_bins else np.isfinite(d)
        (line,) = ax.plot(
            grid[keep],
            d[keep],
            color=st.COLORS["mp"],
            linewidth=1.4,
            zorder=4,
            label=f"MP bulk: σ_mp = {mp.sigma_mp:.3g}, q = {mp.q:.3g}, {mp.num_spikes:,} spikes",
        )
        line.set_gid("mp-bulk")
    tail = fits.tail
    if tail is not None and tail.lambda_max > tail.xmin:
        grid = np.geomspace(tail.xmin, tail.lambda_max, 50)
        (line,) = ax.plot(
            grid,
            esd.power_law_density(grid, tail, n),
            color=st.COLORS["tail"],
            linewidth=1.4,
            linestyle=(0, (4, 2)),
            zorder=4,
            label=f"power law: α = {tail.alpha:.2f}, α̂ = {tail.alpha_weighted:.2f}, "
            f"λ ≥ {tail.xmin:.3g}",
        )
        line.set_gid("power-law")
    lam = data.values[sel] ** 2
    lam = lam[lam >= hist.edges[0]] if hist.log_bins else lam
    if lam.size:
        dens = hist.density[hist.bin_of(lam)]
        few = lam.size <= 20
        pts = ax.scatter(
            lam,
            dens,
            s=16 if few else 5,
            color=st.COLORS["selected"],
            edgecolors="white" if few else "none",
            linewidths=0.5,
            zorder=5,
            label="selected",
            rasterized=not few,
        )
        pts.set_gid("selected-esd")
    if hist.log_bins:
        ax.set_xscale("log")
        ax.set_yscale("log")
        finite = y[np.isfinite(y)]
        ax.set_ylim(float(finite.min()) / 3, float(finite.max()) * 3)
        pad = (hist.edges[-1] / hist.edges[0]) ** 0.03
        ax.set_xlim(float(hist.edges[0]) / pad, float(hist.edges[-1]) * pad)
        st.readable_log_axis(ax.xaxis, float(hist.edges[0]) / pad, float(hist.edges[-1]) * pad)
        st.readable_log_axis(ax.yaxis, float(finite.min()) / 3, float(finite.max()) * 3)
    else:  # the MP density of q = 1 diverges at 0: keep the histogram in view
        ax.set_ylim(0, float(np.nanmax(y)) * 1.15)
    ax.set_xlabel("eigenvalue λ = σ²", fontsize=st.LABEL)
    ax.set_ylabel("density per unit λ", fontsize=st.LABEL)
    ax.set_title("(b) ESD of λ = σ²", fontsize=st.LABEL, loc="left")
    handles, labels = ax.get_legend_handles_labels()
    if fits.reason:
        handles.append(Line2D([], [], linestyle="none"))
        labels.append(fits.reason)
    st.legend_below(ax, handles=handles, labels=labels)
