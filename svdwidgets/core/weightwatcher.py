"""WeightWatcher's per-layer metrics, computed the way weightwatcher 0.7.7 computes them.

WeightWatcher (Martin & Mahoney; ``pip install weightwatcher``) does not analyse the operator of
a convolution. For a ``Conv2d`` weight ``(c_out, c_in/groups, kh, kw)`` it takes the ``kh·kw``
tap matrices ``W[:, :, i, j]`` (each transposed to ``N x M``, ``N >= M``), multiplies them by
``sqrt(1/2)`` (``conv2d_norm=True``, its default: every conv eigenvalue is *halved*), and pools
the eigenvalues ``λ = s²`` of ``WᵀW`` of all taps into one empirical spectral density (ESD) of
``M·kh·kw`` values. A ``Linear`` weight is one ``N x M`` matrix, not rescaled. On that ESD:

* the power-law fit of its ``pl_package="ww"`` (``WW_powerlaw.WWFit``): the eigenvalues above
  ``1e-5``, every one of them but the largest a candidate ``xmin``, ``α = 1 + n / Σ ln(λ/xmin)``,
  the Kolmogorov–Smirnov distance ``D = max |1 - (λ/xmin)^(1-α) - i/n|`` (ties not merged), the
  ``xmin`` of least ``D`` (first on ties). Below 20 eigenvalues its small-sample variant:
  ``α = 1 + (n-1)/Σ ln(λ/xmin)``, only tails of at least 8 scored (WWFit computes an objective
  ``D - 0.868/√n`` there but then keeps the least ``D``, as reproduced here). ``xmax`` is the
  largest eigenvalue fitted, ``num_pl_spikes`` the number of eigenvalues ``>= xmin``,
  ``sigma = (α - 1)/√n``.
* the norm metrics: ``norm = Σλ``, ``spectral_norm = max λ`` (these are *squared* norms, as in
  WeightWatcher), their ``log10``, ``alpha_weighted = α·log10(max λ)``,
  ``log_alpha_norm = log10 Σ λ^α``, ``stable_rank = Σλ / max λ``, ``matrix_rank`` and
  ``entropy`` (its normalised matrix entropy).
* with ``mp_fit=True`` its Marchenko–Pastur fit (``RMT_Util.fit_density_with_range``): the
  ESD rescaled to mean 1 (``W_scale² = n / Σλ``), a linear-kernel density estimate of bandwidth
  0.1 on 1000 points of ``[0, max + 0.5]`` (densities below 0.01 dropped), ``σ`` found by
  ``scipy.optimize.brute`` over ``[0.05, 2)·σ₀`` in steps of ``0.01·σ₀`` (``σ₀`` the σ whose
  MP edge is the largest eigenvalue) polished by Nelder–Mead, least squares between the MP
  density (the quarter-circle law on ``√λ`` when ``Q = N/M = 1``) and the estimate.
  ``bulk_max = (σ(1 + 1/√Q))²``, the Tracy–Widom margin ``TW = Q^(-1/2) bulk_max^(2/3) M^(-2/3)``,
  ``num_spikes`` = the eigenvalues above ``bulk_max + √TW`` (not above ``bulk_max``),
  ``mp_softrank = bulk_max / max λ``; ``bulk_max``, ``bulk_min`` are reported on the original
  scale, ``sigma_mp`` on the rescaled one.

Layers are filtered as WeightWatcher filters them: ``M·rf`` eigenvalues outside
``[min_evals, max_evals]`` or ``N > max_N`` give no row (:class:`WWSkipped` says why).
``ConvTranspose2d`` and other modules WeightWatcher does not recognise are not analysed.

What is *not* reproduced: ``randomize`` (WeightWatcher's shuffles draw from numpy's global
random state), ``fix_fingers``, ``fit="TPL"``, ``pl_package="powerlaw"``, ``xmax``,
``glorot_fix``, ``conv2d_fft``, ``pool=False`` and the other options; they are rejected by
name. This module imports numpy and scipy only (no weightwatcher, no scikit-learn).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.linalg
import scipy.optimize
from numpy.typing import NDArray

from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "WW_OPTIONS",
    "WWSkipped",
    "check_options",
    "esd",
    "mp_fit",
    "power_law_fit",
    "tap_matrices",
    "weightwatcher_metrics",
]

FloatArray = NDArray[np.float64]
Kind = Literal["dense", "conv2d"]

WW_OPTIONS: dict[str, Any] = {
    "conv2d_norm": True,
    "mp_fit": True,
    "min_evals": 8,
    "max_evals": 15000,
    "max_N": 50000,
}
"""The options reproduced, with the defaults used here. WeightWatcher's ``analyze`` defaults are
the same except ``mp_fit=False`` (pass ``mp_fit=True`` to it to get the MP columns)."""

EVALS_THRESH = 1e-5
"""Eigenvalues at or below this are left out of the power-law fit (WeightWatcher's value)."""
_SMALL_N = 20
_WEAK_RANK_TOL = 1e-6
_KDE_BANDWIDTH = 0.1
_KDE_THRESH = 0.01


@dataclass(frozen=True)
class WWSkipped:
    """A layer WeightWatcher does not analyse, and why."""

    reason: str


def check_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``WW_OPTIONS`` updated with ``options``; unknown names and bad values raise."""
    merged = dict(WW_OPTIONS)
    if options is None:
        return merged
    if not isinstance(options, Mapping):
        raise SVDWidgetsError(f"weightwatcher options must be a dict, got {options!r}")
    unknown = sorted(set(options) - set(WW_OPTIONS))
    if unknown:
        raise SVDWidgetsError(
            f"weightwatcher option(s) {unknown} are not reproduced; the options are "
            f"{sorted(WW_OPTIONS)}"
        )
    for name in ("conv2d_norm", "mp_fit"):
        if name in options and not isinstance(options[name], bool):
            raise SVDWidgetsError(
                f"weightwatcher option {name} must be a bool, got {options[name]!r}"
            )
    for name in ("min_evals", "max_evals", "max_N"):
        value = options.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SVDWidgetsError(
                f"weightwatcher option {name} must be an int >= 0, got {options[name]!r}"
            )
    merged.update(options)
    return merged


def tap_matrices(weight: np.ndarray, kind: Kind) -> tuple[list[np.ndarray], int, int, int]:
    """WeightWatcher's matrices of a layer, and its ``N``, ``M``, ``rf``.

    ``weight`` as PyTorch stores it: ``(out, in)`` for ``dense``, ``(c_out, c_in/groups, kh, kw)``
    for ``conv2d``, in float32 (WeightWatcher reads ``weight.float().numpy()``). For a conv the
    channel layout is guessed as WeightWatcher guesses it: ``c_out + c_in < kh + kw`` reads as
    channels-first and is flipped back (the same taps, ``N = c_out``, ``M = c_in`` whichever is
    larger); otherwise its ``N``, ``M`` bookkeeping is kept as it is (it swaps them at every
    wide tap, so with an even number of taps and ``c_out < c_in`` its ``N`` is the smaller
    side, which changes ``Q`` in the MP fit).
    """
    if kind == "dense":
        if weight.ndim != 2:
            raise SVDWidgetsError(f"a dense weight must be 2-D, got shape {weight.shape}")
        return [weight], int(max(weight.shape)), int(min(weight.shape)), 1
    if kind != "conv2d" or weight.ndim != 4:
        raise SVDWidgetsError(
            f"expected kind 'dense' (2-D) or 'conv2d' (4-D weight), got {kind!r} with shape "
            f"{weight.shape}"
        )
    n, m, imax, jmax = (int(d) for d in weight.shape)
    mats = []
    if n + m >= imax + jmax:  # channels last (PyTorch's layout): one matrix per tap
        for i in range(imax):
            for j in range(jmax):
                w = weight[:, :, i, j]
                if w.shape[0] < w.shape[1]:
                    n, m = m, n
                    w = w.T
                mats.append(w)
    else:  # read as channels first, then flipped back: still the taps, N, M unchanged
        for i in range(imax):
            for j in range(jmax):
                w = weight[:, :, i, j]
                if n < m:
                    w = w.T
                mats.append(w)
    return mats, n, m, imax * jmax


def esd(
    mats: list[np.ndarray], kind: Kind, n: int, *, conv2d_norm: bool = True
) -> tuple[FloatArray, dict[str, Any]]:
    """The pooled, sorted eigenvalues ``λ = s²`` and WeightWatcher's ESD columns.

    Columns: ``sv_max`` (largest singular value), ``sv_min`` (the largest of the taps'
    smallest singular values, as WeightWatcher computes it), ``rank_loss`` (its tolerance
    from the layer's ``N``).
    """
    norm: float = float(np.sqrt(1 / 2.0)) if kind == "conv2d" and conv2d_norm else 1.0
    scale = np.float64(norm) if norm != 1.0 else 1
    all_evals: FloatArray = np.array([])
    max_sv = min_sv = 0.0
    rank_loss = 0
    for w in mats:
        w = (w * scale).astype(float)
        sv = np.sort(scipy.linalg.svd(w, compute_uv=False).flatten())
        all_evals = np.concatenate((all_evals, sv * sv))
        max_sv = float(np.max([max_sv, np.max(sv)]))
        min_sv = float(np.max([min_sv, np.min(sv)]))
        rank_loss += len(sv) - _matrix_rank(sv, n)
    return np.sort(all_evals), {"sv_max": max_sv, "sv_min": min_sv, "rank_loss": rank_loss}


def _matrix_rank(svals: FloatArray, n: int) -> int:
    tol = np.max(svals) * n * np.finfo(svals.dtype).eps
    return int(np.count_nonzero(svals > tol))


def _entropy(svals: FloatArray, n: int) -> float:
    eps = 1e-10  # WeightWatcher's EPSILON
    rank = _matrix_rank(svals, n) + eps
    evals = svals * svals
    p = evals / np.sum(evals) + eps
    return float(-np.sum(p * np.log(p)) / np.log(rank))


@dataclass(frozen=True)
class WWPowerLaw:
    """WeightWatcher's power-law fit (``alpha = xmin = D = sigma = -1`` when it fails)."""

    alpha: float
    xmin: float
    xmax: float
    D: float
    sigma: float
    num_pl_spikes: int
    status: str


def power_law_fit(evals: FloatArray) -> WWPowerLaw:
    """``WW_powerlaw.WWFit`` on the eigenvalues above ``1e-5`` (see the module docstring)."""
    data = np.sort(np.asarray(evals, dtype=np.float64)[evals > EVALS_THRESH])
    if data.size < 2:
        return WWPowerLaw(-1.0, -1.0, -1.0, -1.0, -1.0, -1, "failed")
    small = data.size < _SMALL_N
    log_data = np.log(data, dtype=np.float64)
    count = data.size
    alphas = np.zeros(count - 1)
    ds = np.ones(count - 1)
    objective = np.full(count - 1, np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i, xmin in enumerate(data[:-1]):
            n = float(count - i)
            if small:
                if count - i < 8:
                    continue
                s = np.sum(log_data[i:]) - n * log_data[i]
                if s <= 1e-12:
                    continue
                alpha = 1.0 + (n - 1.0) / s
                alphas[i] = alpha
                if alpha <= 1.0:
                    continue
                fit = 1.0 - (data[i:] / xmin) ** (1.0 - alpha)
                ds[i] = float(np.max(np.abs(np.arange(count - i, dtype=np.float64) / n - fit)))
                objective[i] = ds[i] - 0.868 / np.sqrt(n)
            else:
                alpha = 1 + n / (np.sum(log_data[i:]) - n * log_data[i])
                alphas[i] = alpha
                if alpha > 1:
                    ds[i] = np.max(np.abs(1 - (data[i:] / xmin) ** (-alpha + 1) - np.arange(n) / n))
        sigmas = (alphas - 1) / np.sqrt(count - np.arange(count - 1))
    if small and not np.isfinite(objective).any():
        # no tail of 8: WWFit scores the whole sample as candidate 0 (sigma stays as computed)
        n = float(count)
        s = np.sum(log_data) - n * log_data[0]
        if s > 1e-12:
            alphas[0] = 1.0 + (n - 1.0) / s
            fit = 1.0 - (data / data[0]) ** (1.0 - alphas[0])
            ds[0] = float(np.max(np.abs(np.arange(count, dtype=np.float64) / n - fit)))
    # WWFit's constructor picks the least D in both paths (the small-sample objective is not
    # what it keeps)
    best = int(np.argmin(ds))
    alpha = float(alphas[best])
    if math.isnan(alpha):
        return WWPowerLaw(-1.0, -1.0, -1.0, -1.0, -1.0, -1, "failed")
    xmin = float(data[best])
    return WWPowerLaw(
        alpha=alpha,
        xmin=xmin,
        xmax=float(data[-1]),
        D=float(ds[best]),
        sigma=float(sigmas[best]),
        num_pl_spikes=int(np.count_nonzero(evals >= xmin)),
        status="success",
    )


def _warning(alpha: float) -> str:
    """WeightWatcher's ``warning`` column: α below 2 or above 6."""
    if alpha < 2.0:
        return "over-trained"
    if alpha > 6.0:
        return "under-trained"
    return ""


def _kde(x: FloatArray) -> tuple[FloatArray, FloatArray, int]:
    """The linear-kernel density estimate on WeightWatcher's 1000-point grid, low values cut.

    scikit-learn's ``KernelDensity(kernel="linear", bandwidth=0.1)``: ``Σ max(0, 1 - |g - x|/h)
    / (n h)``. Returns the kept grid points, their densities, and how many were below 0.01.
    """
    grid = np.linspace(0, np.max(x) + 0.5, 1000)
    density = np.empty_like(grid)
    step = max(1, (1 << 20) // max(x.size, 1))
    for start in range(0, grid.size, step):
        g = grid[start : start + step]
        kernel = np.maximum(0.0, 1.0 - np.abs(g[:, None] - x[None, :]) / _KDE_BANDWIDTH)
        density[start : start + step] = kernel.sum(axis=1) / (x.size * _KDE_BANDWIDTH)
    good = density > _KDE_THRESH
    return grid[good], density[good], int(np.count_nonzero(density < _KDE_THRESH))


def _mp_residual(sigma: float, xde: FloatArray, yde: FloatArray, n_bad: int, q: float) -> float:
    sigma = float(np.asarray(sigma).reshape(-1)[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        if q == 1:
            ymp = np.nan_to_num((1 / (np.pi * sigma * sigma)) * np.sqrt(4 - xde**2))
            resid = ymp - yde
        else:
            y = 1 / q
            b = np.power(sigma * (1 + np.sqrt(1 / q)), 2)
            a = np.power(sigma * (1 - np.sqrt(1 / q)), 2)
            ymp = np.nan_to_num(
                (1 / (2 * np.pi * sigma * sigma * xde * y)) * np.sqrt((b - xde) * (xde - a))
            )
            peak = xde[np.where(yde == max(yde))][0]
            if (b < peak) | (b > max(xde)) | (a > peak):
                resid = np.zeros(len(yde)) + 1000
            else:
                resid = ymp - yde
    resid = np.concatenate((resid, np.zeros(n_bad)))
    return float(np.sum(resid**2))


def mp_fit(evals: FloatArray, n: int, m: int) -> dict[str, float]:
    """WeightWatcher's ``mp_fit`` of the ESD (see the module docstring for the definitions)."""
    q = n / m
    w_scale = np.sqrt(evals.shape[0]) / np.sqrt(np.sum(evals))
    scaled = (w_scale * w_scale) * evals
    lambda_max = np.max(scaled)
    sigma0 = np.sqrt(np.max(scaled) / np.square(1 + 1.0 / np.sqrt(q)))
    to_fit = np.sqrt(scaled) if q == 1 else scaled
    xde, yde, n_bad = _kde(to_fit)
    ranges = (slice(0.05 * sigma0, 2.0 * sigma0, 0.01 * sigma0),)
    result = scipy.optimize.brute(_mp_residual, ranges, args=(xde, yde, n_bad, q), full_output=True)
    sigma = float(result[0][0])
    bulk_max = (sigma * (1 + 1 / np.sqrt(q))) ** 2
    bulk_min = (sigma * (1 - 1 / np.sqrt(q))) ** 2
    tw = 1 / np.sqrt(q) * np.power(bulk_max, 2 / 3) * np.power(m, -2 / 3)
    spikes = int(np.count_nonzero(scaled > bulk_max + np.sqrt(tw)))
    return {
        "num_spikes": spikes,
        "sigma_mp": sigma,
        "mp_softrank": float(bulk_max / lambda_max),
        "W_scale": float(w_scale),
        "bulk_max": float(bulk_max / (w_scale * w_scale)),
        "bulk_min": float(bulk_min / (w_scale * w_scale)),
    }


_MP_FAILED = dict.fromkeys(
    ("num_spikes", "sigma_mp", "mp_softrank", "W_scale", "bulk_max", "bulk_min"), -1
)


def weightwatcher_metrics(
    weight: Any, kind: Kind, options: Mapping[str, Any] | None = None
) -> dict[str, Any] | WWSkipped:
    """One layer's row of ``WeightWatcher().analyze(...)``, under its column names.

    ``weight``: the layer's weight (a tensor or array, in PyTorch's layout), ``kind``:
    ``"dense"`` (``Linear``) or ``"conv2d"``. ``options``: see :data:`WW_OPTIONS`. Returns the
    columns ``N, M, rf, num_evals, sv_max, sv_min, rank_loss, weak_rank_loss, lambda_max,
    alpha, xmin, xmax, D, sigma, num_pl_spikes, status`` (and with ``mp_fit``: ``num_spikes,
    sigma_mp, mp_softrank, W_scale, bulk_max, bulk_min``), then ``norm, log_norm,
    spectral_norm, log_spectral_norm, alpha_weighted, log_alpha_norm, stable_rank,
    matrix_rank, entropy``; or :class:`WWSkipped` for a layer WeightWatcher leaves out.
    """
    opts = check_options(options)
    detach = getattr(weight, "detach", None)
    if callable(detach):
        weight = detach().cpu().float().numpy()
    w = np.asarray(weight)
    if w.dtype != np.float32:
        w = w.astype(np.float32)
    if not np.isfinite(w).all():
        raise SVDWidgetsError(
            f"the weight {w.shape} has {int(np.count_nonzero(~np.isfinite(w)))} NaN/inf entries"
        )
    mats, n, m, rf = tap_matrices(w, kind)
    count = m * rf
    if opts["min_evals"] and count < opts["min_evals"]:
        return WWSkipped(f"WeightWatcher skips it: M·rf = {count} < min_evals={opts['min_evals']}")
    if opts["max_evals"] and count > opts["max_evals"]:
        return WWSkipped(f"WeightWatcher skips it: M·rf = {count} > max_evals={opts['max_evals']}")
    if n > opts["max_N"]:
        return WWSkipped(f"WeightWatcher skips it: N = {n} > max_N={opts['max_N']}")
    evals, columns = esd(mats, kind, n, conv2d_norm=opts["conv2d_norm"])
    row: dict[str, Any] = {"N": n, "M": m, "rf": rf, "Q": n / m, "num_evals": len(evals)}
    row.update(columns)
    row["weak_rank_loss"] = int(np.count_nonzero(evals < _WEAK_RANK_TOL))
    row["lambda_max"] = float(np.max(evals))
    fit = power_law_fit(evals)
    row.update(
        alpha=fit.alpha,
        xmin=fit.xmin,
        xmax=fit.xmax,
        D=fit.D,
        sigma=fit.sigma,
        num_pl_spikes=fit.num_pl_spikes,
        status=fit.status,
        warning=_warning(fit.alpha),
    )
    if opts["mp_fit"]:
        try:
            row.update(mp_fit(evals, n, m))
        except (ValueError, ArithmeticError, IndexError):
            row.update(_MP_FAILED)
    norm = np.sum(evals)
    spectral = np.max(evals)
    with np.errstate(over="ignore"):
        alpha_norm = np.log10(np.sum([ev**fit.alpha for ev in evals]))
    row.update(
        norm=float(norm),
        log_norm=float(np.log10(norm)),
        spectral_norm=float(spectral),
        log_spectral_norm=float(np.log10(spectral)),
        alpha_weighted=float(fit.alpha * np.log10(spectral)),
        log_alpha_norm=float(alpha_norm),
        stable_rank=float(norm / spectral),
        matrix_rank=_matrix_rank(np.sqrt(evals), n),
        entropy=_entropy(np.sqrt(evals), n),
    )
    return row
