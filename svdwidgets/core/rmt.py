"""Random-matrix-theory fits of a layer's spectrum: Marchenko–Pastur bulk and power-law tail.

These are the per-layer numbers of a whole-model profile, in the spirit of WeightWatcher
(Martin & Mahoney 2021, "Predicting trends in the quality of state-of-the-art neural networks
without access to training or testing data", Nature Communications 12, 4122): how far the
spectrum is from that of a random matrix (Marchenko–Pastur), and how heavy its tail is (the
power-law exponent α and the weighted α̂ = α·log10 λ_max).

Two normalisations are used, each where its literature uses it:

* :func:`marchenko_pastur_fit` works with ``λ = s² / N`` — the eigenvalues of ``X = WᵀW / N``
  for an ``N x M`` block ``W`` with ``N >= M`` (the block is transposed when it is wide). For
  i.i.d. entries of variance ``σ²_mp`` their density tends to the Marchenko–Pastur law, so
  ``sigma_mp`` estimates the standard deviation of the entries of ``W``.
* :func:`power_law_fit`, :func:`rmt_row` work with the unnormalised eigenvalues
  ``λ = s²`` of ``WᵀW``, as WeightWatcher does (α does not depend on the scale; α̂, ``xmin`` and
  ``lambda_max`` do).

Everything here takes a 1-D array (numpy array or torch tensor) of singular values ``s``, pooled
over the frequency blocks of a convolution where there are several (see
:func:`marchenko_pastur_fit`), and imports numpy only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypedDict

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "MPFit",
    "PowerLawFit",
    "RMTRow",
    "effective_rank",
    "marchenko_pastur_fit",
    "mp_cdf",
    "mp_pdf",
    "power_law_fit",
    "rmt_row",
    "stable_rank",
]

FloatArray = NDArray[np.float64]
_DistanceFunction = Callable[[NDArray[np.intp]], FloatArray]

#: Above this many (candidate, tail point) pairs, :func:`power_law_fit` with ``search="auto"``
#: switches from the exhaustive search over every ``x_min`` to the multi-resolution search.
_EXHAUSTIVE_BUDGET = 1 << 25
#: Candidates per level of the multi-resolution search.
_GRID_POINTS = 256
#: Elements of one (candidates x tail points) block of the vectorised KS computation.
_BLOCK_ELEMENTS = 1 << 17


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _as_values(values: ArrayLike, name: str) -> FloatArray:
    """``values`` as a finite, non-negative, non-empty 1-D float64 array, or SVDWidgetsError."""
    detach = getattr(values, "detach", None)
    if callable(detach):  # a torch tensor: leave autograd, the device and low precision behind
        tensor = detach().cpu()
        if tensor.is_complex():
            raise SVDWidgetsError(f"{name} must be real; got dtype {tensor.dtype}")
        values = tensor.double().numpy()
    if np.iscomplexobj(values):
        raise SVDWidgetsError(f"{name} must be real; got dtype {np.asarray(values).dtype}")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise SVDWidgetsError(f"{name} must be a 1-D array of numbers; got {values!r}") from error
    if array.ndim != 1 or array.size == 0:
        raise SVDWidgetsError(f"{name} must be a non-empty 1-D array; got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise SVDWidgetsError(
            f"{name} must be finite; got {array[bad[0]]} at index {bad[0]} "
            f"({bad.size} non-finite value(s))"
        )
    negative = np.flatnonzero(array < 0)
    if negative.size:
        raise SVDWidgetsError(
            f"{name} must be non-negative; got {array[negative[0]]} at index {negative[0]} "
            f"({negative.size} negative value(s))"
        )
    return array


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise SVDWidgetsError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _check_q_sigma(q: float, sigma: float) -> tuple[float, float]:
    try:
        q, sigma = float(q), float(sigma)
    except (TypeError, ValueError) as error:
        raise SVDWidgetsError(f"q and sigma must be numbers; got {q!r}, {sigma!r}") from error
    if not np.isfinite(q) or q < 1:
        raise SVDWidgetsError(f"q = N/M must be a finite number >= 1 (transpose W); got {q}")
    if not np.isfinite(sigma) or sigma <= 0:
        raise SVDWidgetsError(f"sigma must be a finite positive number; got {sigma}")
    return q, sigma


# --------------------------------------------------------------------------------------------
# Marchenko–Pastur
# --------------------------------------------------------------------------------------------


def _mp_edges(q: float, variance: float) -> tuple[float, float]:
    root = 1.0 / np.sqrt(q)
    return variance * (1.0 - root) ** 2, variance * (1.0 + root) ** 2


def mp_pdf(x: ArrayLike, q: float, sigma: float) -> FloatArray:
    """Marchenko–Pastur density of the eigenvalues of ``WᵀW / N`` (Marchenko & Pastur 1967).

    ``W`` is ``N x M`` with i.i.d. entries of mean 0 and variance ``sigma²``, ``q = N / M >= 1``,
    in the limit ``N, M -> ∞`` at fixed ``q``::

        p(λ) = q / (2π σ² λ) · sqrt((λ₊ - λ)(λ - λ₋)),   λ± = σ² (1 ± 1/√q)²

    on the open interval ``(λ₋, λ₊)`` and 0 elsewhere (NaN stays NaN). For ``q = 1``, ``λ₋ = 0``
    and the density diverges like ``λ^(-1/2)`` at 0 (integrably); it is reported as 0 at
    ``λ = 0`` itself.

    Parameters
    ----------
    x : array_like
        Points at which to evaluate the density, any shape.
    q : float
        Aspect ratio ``N / M >= 1``.
    sigma : float
        Standard deviation of the entries of ``W``, ``> 0``.

    Returns
    -------
    numpy.ndarray
        The density, float64, of the shape of ``x``.

    References
    ----------
    V. A. Marchenko and L. A. Pastur, "Distribution of eigenvalues for some sets of random
    matrices", Mat. Sb. 72(114):4, 507–536 (1967).
    """
    q, sigma = _check_q_sigma(q, sigma)
    u = np.asarray(x, dtype=np.float64) / sigma**2
    lo, hi = _mp_edges(q, 1.0)
    inside = (u > lo) & (u < hi)
    safe_u = np.where(inside, u, 1.0)
    density = q * np.sqrt(np.clip((hi - safe_u) * (safe_u - lo), 0.0, None)) / (2 * np.pi * safe_u)
    density = np.where(inside, density / sigma**2, 0.0)
    return np.asarray(np.where(np.isnan(u), np.nan, density), dtype=np.float64)


def mp_cdf(x: ArrayLike, q: float, sigma: float) -> FloatArray:
    """Marchenko–Pastur distribution function ``P(λ <= x)``, in closed form.

    Same law and parameters as :func:`mp_pdf`. With ``y = 1/q``, ``u = x / σ²`` and
    ``r = sqrt((λ₊ - u)(u - λ₋))`` (unit-variance edges), for ``λ₋ < u < λ₊``::

        F = 1/2 + q/(2π) · [ r + (1 + y) atan2(u - (1 + y), r)
                               - (1 - y) atan2((1 + y) u - (1 - y)², (1 - y) r) ]

    the integral of the density written with ``atan2`` rather than ``arcsin`` so that it stays
    accurate to rounding next to the edges. ``q = 1`` (``λ₋ = 0``) needs no special case: the
    last term vanishes.

    Parameters
    ----------
    x : array_like
        Points, any shape.
    q : float
        Aspect ratio ``N / M >= 1``.
    sigma : float
        Standard deviation of the entries of ``W``, ``> 0``.

    Returns
    -------
    numpy.ndarray
        Values in ``[0, 1]``, float64, of the shape of ``x``.
    """
    q, sigma = _check_q_sigma(q, sigma)
    u = np.asarray(x, dtype=np.float64) / sigma**2
    y = 1.0 / q
    lo, hi = _mp_edges(q, 1.0)
    r = np.sqrt(np.clip((hi - u) * (u - lo), 0.0, None))
    g = (
        r
        + (1 + y) * np.arctan2(u - (1 + y), r)
        - (1 - y) * np.arctan2((1 + y) * u - (1 - y) ** 2, (1 - y) * r)
    )
    inside = 0.5 + q / (2 * np.pi) * g
    cdf = np.where(u <= lo, 0.0, np.where(u >= hi, 1.0, np.clip(inside, 0.0, 1.0)))  # NaN stays
    return np.asarray(cdf, dtype=np.float64)


@dataclass(frozen=True)
class MPFit:
    """A Marchenko–Pastur fit of the bulk of ``λ = s² / N`` (see :func:`marchenko_pastur_fit`).

    Attributes
    ----------
    sigma_mp : float
        Estimated standard deviation of the entries of the random part of ``W``.
    q : float
        Aspect ratio ``N / M >= 1`` of one block.
    lambda_minus, lambda_plus : float
        Bulk edges ``σ²_mp (1 ∓ 1/√q)²``, in units of ``λ = s² / N``.
    spike_threshold : float
        ``lambda_plus + tw_margin · s_TW``: eigenvalues above it are spikes.
    num_spikes : int
        Number of eigenvalues above ``spike_threshold``.
    num_bulk : int
        Number of eigenvalues at or below ``spike_threshold`` (the bulk the fit used).
    ks_distance : float
        Kolmogorov–Smirnov distance between the empirical CDF of the bulk eigenvalues and the
        Marchenko–Pastur CDF with the fitted ``sigma_mp`` and ``q``.
    """

    sigma_mp: float
    q: float
    lambda_minus: float
    lambda_plus: float
    spike_threshold: float
    num_spikes: int
    num_bulk: int
    ks_distance: float


def _tracy_widom_scale(n: int, m: int, variance: float) -> float:
    """Johnstone's (2001) scale of the largest eigenvalue of ``WᵀW / N``, ``W`` N x M."""
    sn, sm = np.sqrt(n), np.sqrt(m)
    return float(variance * (sn + sm) * (1 / sn + 1 / sm) ** (1 / 3) / n)


def _ks_sorted(sorted_sample: FloatArray, cdf_values: FloatArray) -> float:
    """Two-sided KS distance ``sup |S - F|`` for a sorted sample and ``F`` at its points."""
    n = sorted_sample.size
    ranks = np.arange(n, dtype=np.float64)
    above = np.max(np.arange(1, n + 1) / n - cdf_values)
    below = np.max(cdf_values - ranks / n)
    return float(max(above, below, 0.0))


def marchenko_pastur_fit(
    singular_values: ArrayLike,
    n_rows: int,
    n_cols: int,
    *,
    tw_margin: float = 1.0,
) -> MPFit:
    """Fit the Marchenko–Pastur law (Marchenko & Pastur 1967) to the bulk of a spectrum.

    Normalisation: each block ``W`` is ``n_rows x n_cols``; let ``N = max(n_rows, n_cols)``,
    ``M = min(n_rows, n_cols)`` (a wide block is transposed) and ``q = N / M >= 1``. The fit is
    on ``λ = s² / N``, the eigenvalues of ``WᵀW / N``; for i.i.d. entries of variance ``σ²`` they
    follow the MP law with support ``[σ² (1 - 1/√q)², σ² (1 + 1/√q)²]`` (:func:`mp_pdf`).

    Pooled blocks: the singular values of a convolution under the ``fft`` method are the union
    of the singular values of one ``c_out x c_in`` block per frequency. Pass them all (with
    their multiplicities) and the shape of ONE block as ``n_rows, n_cols``; the fitted law is
    that of one block and ``sigma_mp`` the scale of a block's entries. A single matrix is the
    case of one block. Complex blocks follow the same law with ``σ² = E|w|²``; for the ``fft``
    method a block entry is a sum over the ``kh·kw`` taps, so for a kernel with i.i.d. entries of
    variance ``v``, ``sigma_mp²`` estimates ``kh·kw·v``.

    Method: ``σ²`` starts at the mean eigenvalue (the MP law has mean ``σ²``). Then, until the
    bulk stops changing, the eigenvalues above ``λ₊(σ²) + tw_margin · s_TW(σ²)`` are set aside
    as spikes and ``σ²`` is re-estimated as the mean of the remaining bulk. ``s_TW`` is
    Johnstone's (2001) Tracy–Widom scale of the largest eigenvalue of one ``N x M`` block,
    ``σ² (√N + √M)(1/√N + 1/√M)^(1/3) / N``: the margin keeps the ordinary finite-size
    fluctuation of the top bulk eigenvalue out of the spike count (``tw_margin=0`` counts every
    eigenvalue above ``λ₊``). With the default margin of 1, the top eigenvalue of a pure-noise
    real block passes the threshold with probability about 5% (the 95th percentile of the
    Tracy–Widom TW₁ law is 0.98); pooled over ``B`` blocks, expect up to about ``0.05·B`` false
    spikes, and raise ``tw_margin`` (about 2 for 1%) where ``B`` is large. The removal only ever
    lowers ``σ²``, so the iteration stops after at most ``len(singular_values)`` steps.

    ``ks_distance`` is the Kolmogorov–Smirnov distance between the empirical CDF of the bulk
    eigenvalues only (spikes excluded) and :func:`mp_cdf` with the fitted ``σ`` and ``q``. If
    the bulk is all zeros (a layer that is almost entirely zero) ``sigma_mp`` is 0 and so is
    ``ks_distance`` (the bulk is then exactly the degenerate law at 0).

    Parameters
    ----------
    singular_values : array_like or torch.Tensor
        1-D, finite, non-negative, not all zero; any order.
    n_rows, n_cols : int
        Shape of one block, positive.
    tw_margin : float, default 1.0
        Number of Tracy–Widom scales above ``λ₊`` from which an eigenvalue is a spike.

    Returns
    -------
    MPFit

    Raises
    ------
    SVDWidgetsError
        Bad values or shape (the message names the offending value).

    References
    ----------
    V. A. Marchenko, L. A. Pastur (1967), Mat. Sb. 72(114):4, 507–536.
    I. M. Johnstone (2001), "On the distribution of the largest eigenvalue in principal
    components analysis", Ann. Statist. 29(2), 295–327.
    C. H. Martin, M. W. Mahoney (2021), "Implicit self-regularization in deep neural
    networks: evidence from random matrix theory and implications for learning", JMLR 22(165).
    """
    s = _as_values(singular_values, "singular_values")
    n_rows = _positive_int(n_rows, "n_rows")
    n_cols = _positive_int(n_cols, "n_cols")
    tw_margin = float(tw_margin)
    if not np.isfinite(tw_margin) or tw_margin < 0:
        raise SVDWidgetsError(f"tw_margin must be a finite number >= 0; got {tw_margin}")
    big, small = max(n_rows, n_cols), min(n_rows, n_cols)
    q = big / small
    lam = np.sort(s**2 / big)
    if lam[-1] == 0:
        raise SVDWidgetsError(f"all {lam.size} singular values are zero; nothing to fit")
    prefix = np.concatenate(([0.0], np.cumsum(lam)))

    count = lam.size
    variance = prefix[count] / count
    while True:
        threshold = _mp_edges(q, variance)[1] + tw_margin * _tracy_widom_scale(big, small, variance)
        new_count = int(np.searchsorted(lam, threshold, side="right"))
        if new_count == count or new_count == 0:
            break
        count = new_count
        variance = prefix[count] / count

    lam_minus, lam_plus = _mp_edges(q, variance)
    bulk = lam[:count]
    if variance > 0:
        ks = _ks_sorted(bulk, mp_cdf(bulk, q, np.sqrt(variance)))
    else:
        ks = 0.0
    return MPFit(
        sigma_mp=float(np.sqrt(variance)),
        q=float(q),
        lambda_minus=float(lam_minus),
        lambda_plus=float(lam_plus),
        spike_threshold=float(threshold),
        num_spikes=int(lam.size - count),
        num_bulk=int(count),
        ks_distance=ks,
    )


# --------------------------------------------------------------------------------------------
# Power-law tail
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLawFit:
    """A power-law fit ``p(λ) ∝ λ^(-α)`` for ``λ >= xmin`` (see :func:`power_law_fit`).

    Attributes
    ----------
    alpha : float
        Maximum-likelihood exponent of the tail.
    xmin : float
        Start of the tail, the value that minimises ``ks_distance``.
    ks_distance : float
        Kolmogorov–Smirnov distance of the tail to the fitted power law (WeightWatcher's ``D``).
    n_tail : int
        Number of eigenvalues ``>= xmin``.
    sigma_alpha : float
        Standard error of ``alpha``, ``(alpha - 1) / sqrt(n_tail)``.
    lambda_max : float
        Largest eigenvalue.
    alpha_weighted : float
        Martin & Mahoney's α̂ = ``alpha · log10(lambda_max)`` (log base 10).
    search : str
        ``"exhaustive"`` (every candidate ``xmin``) or ``"multiresolution"``.
    """

    alpha: float
    xmin: float
    ks_distance: float
    n_tail: int
    sigma_alpha: float
    lambda_max: float
    alpha_weighted: float
    search: str


def _ks_power_law(
    padded_log_x: FloatArray,
    padded_left: NDArray[np.intp] | None,
    starts: NDArray[np.intp],
    alpha: FloatArray,
) -> FloatArray:
    """KS distance of each tail ``log λ[j:]`` (``j`` in ``starts``, ascending) to its power law.

    ``D_j = max_i |P_j(λ_i) - (left_i - j) / (n - j)|`` over the tail, where
    ``P_j(λ) = 1 - (λ / λ_j)^(1 - α_j)`` and ``left_i`` is the index of the first occurrence of
    ``λ_i`` (``i`` itself when there are no ties, ``padded_left is None``). The sorted ``log λ``
    (``n`` values) arrive padded with ``n`` times ``+inf`` (and ``left`` with ``n``), so that
    every row of a block is a fixed-width window of the padded array: past the end of a tail
    ``P = 1`` and the empirical CDF is clipped to 1, which adds nothing to the maximum. Computed
    in (candidates x tail points) blocks of about :data:`_BLOCK_ELEMENTS` elements; the loop is
    over blocks, not candidates.
    """
    n = padded_log_x.size // 2
    out = np.empty(starts.size)
    first = 0
    while first < starts.size:
        width = n - int(starts[first])
        rows = max(1, _BLOCK_ELEMENTS // width)
        j = starts[first : first + rows]
        inv_tail = 1.0 / (n - j).astype(np.float64)
        # block = expm1(-(α - 1) ln(λ_i / λ_j)) = -P_j(λ_i), in place on one copy
        block = sliding_window_view(padded_log_x, width)[j]
        block -= padded_log_x[j][:, None]
        block *= (1.0 - alpha[first : first + rows])[:, None]
        np.expm1(block, out=block)
        if padded_left is None:
            empirical = np.arange(width, dtype=np.float64)[None, :] * inv_tail[:, None]
        else:
            ranks = sliding_window_view(padded_left, width)[j] - j[:, None]
            empirical = ranks * inv_tail[:, None]
        np.minimum(empirical, 1.0, out=empirical)
        block += empirical
        np.abs(block, out=block)
        out[first : first + rows] = block.max(axis=1)
        first += rows
    return out


def power_law_fit(
    values: ArrayLike,
    *,
    kind: Literal["singular_values", "eigenvalues"] = "singular_values",
    min_tail: int = 10,
    search: Literal["auto", "exhaustive", "multiresolution"] = "auto",
) -> PowerLawFit:
    """Continuous power-law fit of the tail of the eigenvalues ``λ = s²`` (Clauset et al. 2009).

    Like WeightWatcher, the fit is of the eigenvalues ``λ = s²`` of ``WᵀW`` (unnormalised), not
    of the singular values: pass singular values with ``kind="singular_values"`` (the default;
    they are squared here) or the eigenvalues themselves with ``kind="eigenvalues"``. Zero
    eigenvalues are allowed and never part of a tail.

    For a candidate ``x_min``, the tail is every ``λ >= x_min`` (``n`` values) and the
    maximum-likelihood exponent is ``α̂ = 1 + n / Σ ln(λ_i / x_min)`` (Clauset, Shalizi & Newman
    2009, eq. 3.1). The chosen ``x_min`` minimises the Kolmogorov–Smirnov distance
    ``D = max_i |P(λ_(i)) - i/n|`` between the fitted CDF ``P(λ) = 1 - (λ/x_min)^(1-α̂)`` and the
    empirical CDF at the sorted tail values (``i = 0 … n-1``; tied values take the rank of their
    first occurrence) — the convention of Clauset's reference code ``plfit.m`` and of the
    ``powerlaw`` package (Alstott et al. 2014). It differs from ``sup |S - P|`` by at most
    ``1/n`` for untied data.

    Candidates are the distinct positive eigenvalues whose tail has at least ``min_tail`` values
    and at least two distinct values (the largest eigenvalue is never a candidate). All
    candidates' ``α̂`` come from one pass of suffix sums of ``ln λ``; their ``D`` from
    vectorised (candidates x tail) blocks. ``search="exhaustive"`` evaluates ``D`` for every
    candidate (``O(n²)`` work, exact); ``"multiresolution"`` evaluates 256 candidates evenly
    spaced in rank, then 256 between the neighbours of the best one, and so on until the
    interval is fully resolved (``O(256 · n · log n)``; it returns the minimum of ``D`` over
    the candidates it evaluated, which can be a near minimum rather than the global one).
    ``"auto"`` is exhaustive when the candidates' tails add up to at most 2**25 values (about
    8,000 eigenvalues) and multi-resolution above that.

    Parameters
    ----------
    values : array_like or torch.Tensor
        1-D, finite, non-negative singular values or eigenvalues (any order).
    kind : {"singular_values", "eigenvalues"}, default "singular_values"
        What ``values`` are.
    min_tail : int, default 10
        Smallest tail a candidate ``x_min`` may leave, ``>= 2``.
    search : {"auto", "exhaustive", "multiresolution"}, default "auto"
        How the ``x_min`` candidates are searched (see above).

    Returns
    -------
    PowerLawFit
        With ``alpha_weighted = alpha · log10(lambda_max)``, Martin & Mahoney's α̂ (log base
        10, ``lambda_max`` the largest eigenvalue ``λ = s²``).

    Raises
    ------
    SVDWidgetsError
        Bad values, an unknown ``kind`` or ``search``, or too few values for a tail of
        ``min_tail`` values with two distinct values.

    References
    ----------
    A. Clauset, C. R. Shalizi, M. E. J. Newman (2009), "Power-law distributions in empirical
    data", SIAM Review 51(4), 661–703.
    C. H. Martin, M. W. Mahoney (2021), "Predicting trends in the quality of state-of-the-art
    neural networks without access to training or testing data", Nat. Commun. 12, 4122.
    J. Alstott, E. Bullmore, D. Plenz (2014), "powerlaw: a Python package for analysis of
    heavy-tailed distributions", PLoS ONE 9(1), e85777.
    """
    if kind not in ("singular_values", "eigenvalues"):
        raise SVDWidgetsError(f"kind must be 'singular_values' or 'eigenvalues'; got {kind!r}")
    if search not in ("auto", "exhaustive", "multiresolution"):
        raise SVDWidgetsError(
            f"search must be 'auto', 'exhaustive' or 'multiresolution'; got {search!r}"
        )
    if isinstance(min_tail, bool) or not isinstance(min_tail, int | np.integer) or min_tail < 2:
        raise SVDWidgetsError(f"min_tail must be an integer >= 2; got {min_tail!r}")
    raw = _as_values(values, kind)
    eigenvalues = raw**2 if kind == "singular_values" else raw
    lam = np.sort(eigenvalues[eigenvalues > 0])
    n = lam.size
    first_of_value = np.flatnonzero(np.concatenate(([True], lam[1:] != lam[:-1])))
    candidates = first_of_value[(n - first_of_value >= min_tail) & (lam[first_of_value] < lam[-1])]
    if candidates.size == 0:
        distinct = first_of_value.size
        raise SVDWidgetsError(
            f"too few values for a power-law tail fit: need at least min_tail={min_tail} "
            f"positive {kind} with at least 2 distinct values; got {n} positive value(s), "
            f"{distinct} distinct"
        )

    log_x = np.log(lam)
    suffix = np.cumsum(log_x[::-1])[::-1]  # suffix[j] = Σ_{i>=j} ln λ_i, accurate for short tails
    n_tail = n - candidates
    alphas = 1.0 + n_tail / (suffix[candidates] - n_tail * log_x[candidates])
    padded_log_x = np.concatenate((log_x, np.full(n, np.inf)))
    padded_left = None
    if first_of_value.size < n:  # ties: the empirical CDF steps at first occurrences
        left = np.searchsorted(lam, lam, side="left")
        padded_left = np.concatenate((left, np.full(n, n, dtype=left.dtype)))

    def distances(chosen: NDArray[np.intp]) -> FloatArray:
        return _ks_power_law(padded_log_x, padded_left, candidates[chosen], alphas[chosen])

    if search == "auto":
        search = "exhaustive" if int(n_tail.sum()) <= _EXHAUSTIVE_BUDGET else "multiresolution"
    if search == "exhaustive":
        all_d = distances(np.arange(candidates.size))
        best = int(np.argmin(all_d))
        best_d = float(all_d[best])
    else:
        best, best_d = _multiresolution_argmin(candidates.size, distances)

    alpha = float(alphas[best])
    lambda_max = float(lam[-1])
    return PowerLawFit(
        alpha=alpha,
        xmin=float(lam[candidates[best]]),
        ks_distance=best_d,
        n_tail=int(n_tail[best]),
        sigma_alpha=float((alpha - 1.0) / np.sqrt(n_tail[best])),
        lambda_max=lambda_max,
        alpha_weighted=float(alpha * np.log10(lambda_max)),
        search=search,
    )


def _multiresolution_argmin(size: int, distances: _DistanceFunction) -> tuple[int, float]:
    """Coarse-to-fine minimum of ``distances`` over the indices ``0 … size-1``."""
    lo, hi = 0, size - 1
    best, best_d = 0, np.inf
    while True:
        resolved = hi - lo + 1 <= _GRID_POINTS
        if resolved:
            grid = np.arange(lo, hi + 1)
        else:
            grid = np.unique(np.round(np.linspace(lo, hi, _GRID_POINTS)).astype(np.intp))
        d = distances(grid)
        k = int(np.argmin(d))
        if d[k] < best_d or (d[k] == best_d and grid[k] < best):
            best, best_d = int(grid[k]), float(d[k])
        if resolved:
            return best, best_d
        lo, hi = int(grid[max(k - 1, 0)]), int(grid[min(k + 1, grid.size - 1)])


# --------------------------------------------------------------------------------------------
# Ranks and the RMT row
# --------------------------------------------------------------------------------------------


def stable_rank(singular_values: ArrayLike) -> float:
    """Stable rank ``Σ s² / max(s)²`` = ``‖W‖_F² / ‖W‖₂²`` (between 1 and the rank).

    Raises
    ------
    SVDWidgetsError
        Bad values, or all zero.
    """
    s = _as_values(singular_values, "singular_values")
    top = s.max()
    if top == 0:
        raise SVDWidgetsError(f"all {s.size} singular values are zero; the stable rank is 0/0")
    return float(np.sum((s / top) ** 2))


def effective_rank(singular_values: ArrayLike) -> float:
    """Effective rank ``exp(H(p))``, ``p = s / Σ s``, ``H`` the Shannon entropy (nats).

    With ``0 · ln 0 = 0``; between 1 and the number of non-zero singular values.

    References
    ----------
    O. Roy, M. Vetterli (2007), "The effective rank: a measure of effective dimensionality",
    15th European Signal Processing Conference (EUSIPCO), 606–610.

    Raises
    ------
    SVDWidgetsError
        Bad values, or all zero.
    """
    s = _as_values(singular_values, "singular_values")
    total = s.sum()
    if total == 0:
        raise SVDWidgetsError(f"all {s.size} singular values are zero; the effective rank is 0/0")
    p = s[s > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


class RMTRow(TypedDict):
    """One layer's RMT numbers (our fits; see :func:`rmt_row`)."""

    alpha: float
    alpha_weighted: float
    stable_rank: float
    num_spikes: int
    sigma_mp: float
    ks_mp: float
    ks_powerlaw: float
    xmin: float
    lambda_max: float
    log_norm: float
    log_spectral_norm: float


def rmt_row(
    singular_values: ArrayLike,
    n_rows: int,
    n_cols: int,
    *,
    min_tail: int = 10,
) -> RMTRow:
    """Our RMT summary of one layer, in the spirit of WeightWatcher (Martin & Mahoney 2021).

    Not WeightWatcher's numbers: the power-law fit takes tails of at least ``min_tail`` values
    and merges ties, and the MP fit is :func:`marchenko_pastur_fit`, not its KDE fit with the
    ``bulk_max + √TW`` spike threshold. For WeightWatcher's own row (equal to weightwatcher
    0.7.7's) see :func:`svdwidgets.core.weightwatcher.weightwatcher_metrics`.

    ``singular_values`` are those of the layer (pooled over frequency blocks for a conv, see
    :func:`marchenko_pastur_fit`) and ``n_rows x n_cols`` the shape of one block. Keys:

    * ``alpha``, ``xmin``, ``ks_powerlaw`` (the distance WeightWatcher calls ``D``):
      :func:`power_law_fit` of ``λ = s²``; ``alpha_weighted = alpha · log10(lambda_max)``
      (log base 10).
    * ``lambda_max = max s²``, ``log_spectral_norm = log10(lambda_max)``,
      ``log_norm = log10(Σ s²)`` (log10 of the squared Frobenius norm),
      ``stable_rank = Σ s² / max s²``.
    * ``sigma_mp``, ``num_spikes``, ``ks_mp``: :func:`marchenko_pastur_fit` of ``λ = s² / N``
      with its default ``tw_margin=1``: eigenvalues within one Tracy–Widom scale above ``λ₊``
      are not counted as spikes (WeightWatcher's ``num_spikes`` is another estimator: a
      KDE-fitted σ and the threshold ``bulk_max + √TW``).

    Raises
    ------
    SVDWidgetsError
        Bad input, or too few values for the tail fit (the caller lists the layer as skipped
        with this message).
    """
    s = _as_values(singular_values, "singular_values")
    mp = marchenko_pastur_fit(s, n_rows, n_cols)
    tail = power_law_fit(s, kind="singular_values", min_tail=min_tail)
    lambda_max = float(np.max(s) ** 2)
    return RMTRow(
        alpha=tail.alpha,
        alpha_weighted=tail.alpha_weighted,
        stable_rank=stable_rank(s),
        num_spikes=mp.num_spikes,
        sigma_mp=mp.sigma_mp,
        ks_mp=mp.ks_distance,
        ks_powerlaw=tail.ks_distance,
        xmin=tail.xmin,
        lambda_max=lambda_max,
        log_norm=float(np.log10(np.sum(s**2))),
        log_spectral_norm=float(np.log10(lambda_max)),
    )
