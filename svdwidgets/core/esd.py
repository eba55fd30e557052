"""The numbers a :class:`~svdwidgets.widgets.spectrum_view.SpectrumView` draws, in numpy only.

* :func:`curve_indices`: which singular values a sorted-values curve sends to the browser — all
  of the top ``head`` values, then log-spaced indices down to the smallest, so that a layer with
  800,000 values costs a few thousand points on the wire.
* :func:`esd_histogram`: the empirical spectral density (ESD) of the eigenvalues ``λ = σ²`` of
  ``AᵀA`` (unnormalised, as WeightWatcher plots it), on log-spaced or linear bins, as counts.
* :func:`mp_density`, :func:`mp_bin_counts`: the fitted Marchenko–Pastur bulk on the same scale
  as the histogram. The fit (:func:`svdwidgets.core.rmt.marchenko_pastur_fit`) is on
  ``λ / N`` with ``N`` the long side of one frequency block, so in units of ``λ`` the density
  is ``mp_pdf(λ / N) / N``, carrying the mass of the bulk (``num_bulk`` eigenvalues).
* :func:`power_law_density`: the power-law tail ``∝ λ^(-α)`` from ``x_min`` on, carrying the
  mass of the tail (``n_tail`` eigenvalues): a straight line of slope ``-α`` on log-log axes.
* :func:`layer_fits`: both fits for one layer, the block shape taken as
  :func:`svdwidgets.profile` takes it (``c_out/groups x s_h·s_w·c_in/groups``).

Densities are per unit ``λ`` and normalised by the number of eigenvalues ``n``, so that the
histogram (``counts / (n · bin width)``) and both overlays share one y axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from svdwidgets.core import rmt
from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "Histogram",
    "LayerFits",
    "as_values",
    "block_shape",
    "curve_indices",
    "esd_histogram",
    "expected_count",
    "layer_fits",
    "log_ticks",
    "mp_bin_counts",
    "mp_density",
    "mp_support",
    "power_law_density",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def curve_indices(n: int, *, head: int = 1000, tail: int = 1000) -> IntArray:
    """Indices of the values a sorted curve sends: ``0 … head-1``, then ``tail`` log-spaced ones.

    The log spacing is in the rank ``i + 1``, so the points are evenly spread on a log-x plot;
    the last index ``n - 1`` is always included. All ``n`` indices when ``n <= head + tail``.
    """
    if n < 0 or head < 0 or tail < 1:
        raise SVDWidgetsError(f"need n >= 0, head >= 0, tail >= 1; got {n}, {head}, {tail}")
    if n <= head + tail:
        return np.arange(n, dtype=np.int64)
    ranks = np.geomspace(head + 1, n, tail)
    rest = np.round(ranks).astype(np.int64) - 1
    return np.unique(np.concatenate((np.arange(head, dtype=np.int64), rest, [n - 1])))


@dataclass(frozen=True)
class Histogram:
    """Counts of eigenvalues ``λ = σ²`` per bin.

    ``edges`` has ``len(counts) + 1`` entries. On log bins, zero eigenvalues have no bin: they
    are counted in ``n_zero`` (``counts.sum() + n_zero`` is always the number of eigenvalues).
    """

    edges: FloatArray
    counts: IntArray
    log_bins: bool
    n_zero: int

    @property
    def total(self) -> int:
        return int(self.counts.sum()) + self.n_zero

    @property
    def density(self) -> FloatArray:
        """``counts / (n · width)``: the ESD per unit ``λ``, ``n`` all eigenvalues."""
        widths = np.diff(self.edges)
        return np.asarray(self.counts / (max(self.total, 1) * widths), dtype=np.float64)

    def staircase(self) -> tuple[FloatArray, FloatArray]:
        """``(x, y)`` of the histogram's outline as a polyline (for a line mark with a fill)."""
        x = np.repeat(self.edges, 2)[1:-1]
        y = np.repeat(self.density, 2)
        return x, y

    def bin_of(self, lam: ArrayLike) -> IntArray:
        """The bin of each ``λ`` (clipped to the first and last bins)."""
        j = np.searchsorted(self.edges, np.asarray(lam, dtype=np.float64), side="right") - 1
        return np.clip(j, 0, len(self.counts) - 1).astype(np.int64)


def esd_histogram(eigenvalues: ArrayLike, *, bins: int = 60, log_bins: bool = True) -> Histogram:
    """Histogram of ``eigenvalues`` on ``bins`` log-spaced (or linear) bins over their range."""
    lam = np.asarray(eigenvalues, dtype=np.float64).reshape(-1)
    if lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise SVDWidgetsError(
            f"an ESD needs finite, non-negative eigenvalues; got {lam.size} values "
            f"with min {lam.min() if lam.size else '-'}"
        )
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise SVDWidgetsError(f"bins must be a positive int; got {bins!r}")
    n_zero = 0
    if log_bins:
        positive = lam[lam > 0]
        n_zero = int(lam.size - positive.size)
        if positive.size == 0:
            raise SVDWidgetsError(f"all {lam.size} eigenvalues are zero: no log-spaced ESD")
        lo, hi = float(positive.min()), float(positive.max())
        if hi <= lo:
            lo, hi = lo / 1.5, hi * 1.5
        edges = np.geomspace(lo, hi, bins + 1)
        counts, _ = np.histogram(positive, bins=edges)
    else:
        lo, hi = float(lam.min()), float(lam.max())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        counts, _ = np.histogram(lam, bins=edges)
    return Histogram(edges, counts.astype(np.int64), bool(log_bins), n_zero)


@dataclass(frozen=True)
class LayerFits:
    """The RMT fits of one layer's spectrum (either may be missing, ``reason`` says why).

    ``big`` is ``N``, the long side of one block: the MP fit is on ``λ / N``.
    """

    mp: rmt.MPFit | None
    tail: rmt.PowerLawFit | None
    big: int
    reason: str = ""


def block_shape(geometry: Any) -> tuple[int, int]:
    """Shape of one frequency block, as :func:`svdwidgets.profile` fits it.

    ``c_out/groups x s_h·s_w·c_in/groups`` (the polyphase block of a strided conv).
    """
    sh, sw = geometry.stride
    return geometry.c_out // geometry.groups, (geometry.c_in // geometry.groups) * sh * sw


def expected_count(spectrum: Any) -> int | None:
    """How many values the whole spectrum has (``None`` without a geometry to tell)."""
    g = getattr(spectrum, "geometry", None)
    if g is None:
        return None
    if spectrum.method in ("fft", "spectral-density"):
        sh, sw = g.stride
        nh, nw = g.input_size[0] // sh, g.input_size[1] // sw
        rows, cols = block_shape(g)
        return int(nh * nw * g.groups * min(rows, cols))
    return int(g.n_values)


def layer_fits(singular_values: ArrayLike, geometry: Any, *, complete: bool) -> LayerFits:
    """Marchenko–Pastur and power-law fits of a layer (none for a partial, top-k spectrum)."""
    s = np.asarray(singular_values, dtype=np.float64)
    if geometry is None:
        rows = cols = 0
    else:
        rows, cols = block_shape(geometry)
    big = max(rows, cols)
    if not complete:
        return LayerFits(None, None, big, "only the top values were computed: no RMT fit")
    reasons = []
    mp = None
    if geometry is None:
        reasons.append("no layer geometry: no MP fit")
    else:
        try:
            mp = rmt.marchenko_pastur_fit(s, rows, cols)
        except SVDWidgetsError as err:
            reasons.append(f"MP fit: {err}")
        if mp is not None and mp.sigma_mp <= 0:
            mp = None
            reasons.append("MP fit: the bulk is all zeros")
    tail = None
    try:
        tail = rmt.power_law_fit(s, kind="singular_values")
    except SVDWidgetsError as err:
        reasons.append(f"power-law fit: {err}")
    return LayerFits(mp, tail, big, "; ".join(reasons))


def mp_density(x: ArrayLike, mp: rmt.MPFit, big: int, n_total: int) -> FloatArray:
    """The fitted MP bulk in units of ``λ = σ²``, as a fraction of all ``n_total`` eigenvalues.

    ``(num_bulk / n_total) · mp_pdf(x / N, q, σ_mp) / N``: integrates to ``num_bulk / n_total``.
    """
    pdf = rmt.mp_pdf(np.asarray(x, dtype=np.float64) / big, mp.q, mp.sigma_mp) / big
    return np.asarray(mp.num_bulk / n_total * pdf, dtype=np.float64)


def mp_bin_counts(edges: ArrayLike, mp: rmt.MPFit, big: int) -> FloatArray:
    """Expected number of bulk eigenvalues in each bin under the fit (exact, from the CDF)."""
    cdf = rmt.mp_cdf(np.asarray(edges, dtype=np.float64) / big, mp.q, mp.sigma_mp)
    return np.asarray(mp.num_bulk * np.diff(cdf), dtype=np.float64)


def mp_support(mp: rmt.MPFit, big: int) -> tuple[float, float]:
    """The bulk's edges ``(λ₋ N, λ₊ N)`` in units of ``λ = σ²``."""
    return mp.lambda_minus * big, mp.lambda_plus * big


def power_law_density(x: ArrayLike, tail: rmt.PowerLawFit, n_total: int) -> FloatArray:
    """``(n_tail / n_total) · (α - 1) / x_min · (λ / x_min)^(-α)`` for ``λ >= x_min``, else NaN."""
    lam = np.asarray(x, dtype=np.float64)
    alpha, xmin = tail.alpha, tail.xmin
    pdf = (alpha - 1.0) / xmin * np.power(np.where(lam >= xmin, lam, xmin) / xmin, -alpha)
    return np.asarray(np.where(lam >= xmin, tail.n_tail / n_total * pdf, np.nan), dtype=np.float64)


def as_values(values: Any, name: str) -> NDArray[np.float64]:
    """Singular values as a descending float64 array (checked: 1-D, finite, non-negative).

    ``values`` is a tensor or anything numpy reads; ``name`` (the layer) is for the message.
    """
    detach = getattr(values, "detach", None)
    if callable(detach):
        values = detach().cpu().double().numpy()
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise SVDWidgetsError(f"layer {name!r}: singular values must be numbers: {err}") from err
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise SVDWidgetsError(
            f"layer {name!r}: need a non-empty 1-D array of finite, non-negative singular "
            f"values; got shape {a.shape}"
        )
    return np.sort(a)[::-1].copy()


LOG_TICK_STEPS = ((1.0, 2.0, 5.0), (1.0, 3.0), (1.0,))
"""Mantissas of log-axis ticks, finest first."""


def log_ticks(
    lo: float,
    hi: float,
    *,
    most: int = 9,
    steps: tuple[tuple[float, ...], ...] = LOG_TICK_STEPS,
) -> NDArray[np.float64]:
    """Round tick values for a log axis over ``[lo, hi]``: the finest of ``steps`` per decade
    that gives at most ``most`` ticks (1-2-5, then 1-3, then decades). ``[lo, hi]`` itself
    when fewer than two round values fall inside."""
    decades = np.arange(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    ticks = np.array([lo, hi])
    for mantissas in steps:
        ticks = np.array([m * 10.0**d for d in decades for m in mantissas])
        ticks = ticks[(ticks >= lo * (1 - 1e-9)) & (ticks <= hi * (1 + 1e-9))]
        if ticks.size <= most:
            break
    if ticks.size < 2:
        return np.array([lo, hi])
    return ticks
