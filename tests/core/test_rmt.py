"""Tests of svdwidgets.core.rmt: Marchenko–Pastur and power-law fits, ranks, the RMT row."""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from svdwidgets.core.rmt import (
    MPFit,
    PowerLawFit,
    effective_rank,
    marchenko_pastur_fit,
    mp_cdf,
    mp_pdf,
    power_law_fit,
    rmt_row,
    stable_rank,
)
from svdwidgets.errors import SVDWidgetsError


def pareto(rng: np.random.Generator, alpha: float, xmin: float, n: int) -> np.ndarray:
    """``n`` samples of density ∝ x^(-alpha) on [xmin, ∞), by the inverse CDF."""
    return xmin * (1.0 - rng.random(n)) ** (-1.0 / (alpha - 1.0))


def lognormal_body_pareto_tail(rng: np.random.Generator) -> np.ndarray:
    """3000 lognormal values below 5, then 2000 Pareto(α = 2.5) values above x_min = 5."""
    body = rng.lognormal(0.0, 0.7, 20_000)
    body = body[body < 5.0][:3000]
    return np.concatenate([body, pareto(rng, 2.5, 5.0, 2000)])


def svdvals(matrix: np.ndarray) -> np.ndarray:
    """Singular values of a (stack of) tall matrices, from the Gram matrix (fast, accurate here)."""
    gram = np.swapaxes(matrix, -1, -2) @ matrix
    return np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None))


# --------------------------------------------------------------------------------------------
# Marchenko–Pastur law
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [1.0, 2.0, 4.0])
@pytest.mark.parametrize("sigma", [1.0, 0.7])
def test_mp_pdf_is_a_density_with_mean_sigma_squared(q: float, sigma: float) -> None:
    lo, hi = sigma**2 * (1 - q**-0.5) ** 2, sigma**2 * (1 + q**-0.5) ** 2
    total, _ = quad(lambda x: float(mp_pdf(x, q, sigma)), lo, hi, limit=200)
    mean, _ = quad(lambda x: x * float(mp_pdf(x, q, sigma)), lo, hi, limit=200)
    assert total == pytest.approx(1.0, abs=1e-7)
    # E[λ] = σ² for λ the eigenvalues of WᵀW/N: checks the 1/N normalisation.
    assert mean == pytest.approx(sigma**2, rel=1e-7)
    assert mp_pdf(np.array([lo - 1e-3, hi + 1e-3]), q, sigma).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("q", [1.0, 2.0, 4.0])
def test_mp_cdf_is_the_integral_of_mp_pdf(q: float) -> None:
    sigma = 1.3
    lo, hi = sigma**2 * (1 - q**-0.5) ** 2, sigma**2 * (1 + q**-0.5) ** 2
    xs = lo + (hi - lo) * np.array([1e-4, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1 - 1e-6])
    cdf = mp_cdf(xs, q, sigma)
    for x, value in zip(xs, cdf, strict=True):
        integral, _ = quad(lambda t: float(mp_pdf(t, q, sigma)), lo, x, limit=200)
        assert value == pytest.approx(integral, abs=1e-8)
    assert np.all(np.diff(cdf) > 0)
    assert mp_cdf(np.array([lo - 1.0, lo, hi, hi + 1.0]), q, sigma).tolist() == [0, 0, 1, 1]
    assert mp_cdf(xs, q, sigma) == pytest.approx(mp_cdf(xs / sigma**2, q, 1.0), abs=1e-14)
    assert mp_cdf(xs.reshape(3, 3), q, sigma).shape == (3, 3)
    assert np.isnan(mp_cdf(np.nan, q, sigma)) and np.isnan(mp_pdf(np.nan, q, sigma))


def test_mp_fit_recovers_gaussian_variance_and_edge() -> None:
    rng = np.random.default_rng(0)
    n, m, s = 2000, 500, 0.7
    values = svdvals(rng.normal(0.0, s, size=(n, m)))
    fit = marchenko_pastur_fit(values, n, m)
    assert isinstance(fit, MPFit)
    assert fit.q == 4.0
    assert fit.sigma_mp == pytest.approx(s, rel=0.02)
    assert fit.lambda_plus == pytest.approx(s**2 * (1 + 1 / math.sqrt(4)) ** 2, rel=0.03)
    assert fit.lambda_minus == pytest.approx(s**2 * (1 - 1 / math.sqrt(4)) ** 2, rel=0.03)
    assert fit.num_spikes <= 1
    assert fit.num_bulk + fit.num_spikes == m
    assert fit.ks_distance < 0.02
    # A wide block is transposed; a torch tensor gives the same numbers.
    assert marchenko_pastur_fit(values, m, n) == fit
    assert marchenko_pastur_fit(torch.from_numpy(values).requires_grad_(), n, m) == fit


def test_mp_fit_counts_planted_spikes() -> None:
    rng = np.random.default_rng(1)
    n, m = 2000, 500
    strengths = np.array([3.0, 4.0, 6.0])  # eigenvalues ≈ θ², far above λ₊ = 2.25
    left = np.linalg.qr(rng.normal(size=(n, 3)))[0]
    right = np.linalg.qr(rng.normal(size=(m, 3)))[0]
    signal = (left * strengths * math.sqrt(n)) @ right.T
    fit = marchenko_pastur_fit(svdvals(rng.normal(size=(n, m)) + signal), n, m)
    assert fit.num_spikes == 3
    assert fit.sigma_mp == pytest.approx(1.0, rel=0.02)
    assert fit.ks_distance < 0.02


def test_mp_fit_pools_square_blocks() -> None:
    """Sixteen 64 x 64 blocks (q = 1, λ₋ = 0), as the fft method pools frequencies."""
    rng = np.random.default_rng(2)
    blocks = rng.normal(0.0, 1.3, size=(16, 64, 64))
    pooled = svdvals(blocks).ravel()
    fit = marchenko_pastur_fit(pooled, 64, 64)
    assert fit.q == 1.0
    assert fit.lambda_minus == 0.0
    assert fit.sigma_mp == pytest.approx(1.3, rel=0.02)
    assert fit.lambda_plus == pytest.approx(4 * 1.3**2, rel=0.03)
    assert fit.num_spikes <= 1
    assert fit.ks_distance < 0.03
    # The pooled law is one block's law: the whole 1024-value set under a 1024 x 64 shape is not.
    assert marchenko_pastur_fit(pooled, 1024, 64).ks_distance > 0.1
    # One strong rank-one signal in one block is one spike.
    u, v = rng.normal(size=64), rng.normal(size=64)
    blocks[5] += 6.0 * 1.3 * math.sqrt(64) * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    assert marchenko_pastur_fit(svdvals(blocks).ravel(), 64, 64).num_spikes == 1


def test_mp_fit_degenerate_bulk_at_zero() -> None:
    fit = marchenko_pastur_fit(np.r_[np.zeros(99), 1.0], 100, 100)
    assert (fit.sigma_mp, fit.num_spikes, fit.num_bulk, fit.ks_distance) == (0.0, 1, 99, 0.0)


# --------------------------------------------------------------------------------------------
# Power-law tail
# --------------------------------------------------------------------------------------------


def naive_power_law(x: np.ndarray, min_tail: int) -> tuple[float, float, float, int]:
    """One candidate at a time, straight from Clauset, Shalizi & Newman (2009)."""
    x = np.sort(x[x > 0])
    best: tuple[float, float, float, int] | None = None
    for xmin in np.unique(x):
        tail = x[x >= xmin]
        if tail.size < min_tail or xmin == x[-1]:
            continue
        alpha = 1 + tail.size / np.sum(np.log(tail / xmin))
        points = np.unique(tail)
        empirical = np.searchsorted(tail, points, side="left") / tail.size
        d = float(np.max(np.abs(1 - (points / xmin) ** (1 - alpha) - empirical)))
        if best is None or d < best[0]:
            best = (d, float(alpha), float(xmin), tail.size)
    assert best is not None
    return best


@pytest.mark.parametrize("alpha", [2.5, 3.5])
def test_power_law_recovers_pareto_exponent(alpha: float) -> None:
    x = pareto(np.random.default_rng(0), alpha, 1.0, 5000)
    fit = power_law_fit(x, kind="eigenvalues")
    assert isinstance(fit, PowerLawFit)
    assert fit.search == "exhaustive"
    assert fit.alpha == pytest.approx(alpha, abs=0.1)
    assert 1.0 <= fit.xmin < 1.1
    assert fit.n_tail == np.sum(x >= fit.xmin) > 4000
    assert fit.sigma_alpha == pytest.approx((fit.alpha - 1) / math.sqrt(fit.n_tail))
    assert fit.lambda_max == x.max()
    assert fit.alpha_weighted == pytest.approx(fit.alpha * math.log10(x.max()))
    assert fit.ks_distance < 0.02


def test_power_law_finds_tail_above_lognormal_body() -> None:
    x = lognormal_body_pareto_tail(np.random.default_rng(1))
    fit = power_law_fit(x, kind="eigenvalues")
    assert fit.alpha == pytest.approx(2.5, abs=0.2)
    assert 4.5 < fit.xmin < 6.0
    # Fitting the whole sample as a power law is far worse.
    whole = 1 + x.size / np.sum(np.log(x / x.min()))
    assert abs(whole - 2.5) > 0.5


@pytest.mark.parametrize("ties", [False, True])
def test_power_law_matches_naive_reference(ties: bool) -> None:
    rng = np.random.default_rng(3)
    x = pareto(rng, 2.2, 1.0, 150)
    if ties:
        x = np.round(x, 1)
        x = np.concatenate([x, x[:40]])
        assert len(np.unique(x)) < x.size - 40
    x = np.concatenate([x, np.zeros(7)])
    d, alpha, xmin, n_tail = naive_power_law(x, min_tail=10)
    fit = power_law_fit(x, kind="eigenvalues", min_tail=10)
    assert (fit.xmin, fit.n_tail) == (xmin, n_tail)
    assert fit.alpha == pytest.approx(alpha, rel=1e-12)
    assert fit.ks_distance == pytest.approx(d, abs=1e-12)
    # Singular values are squared; zeros never enter a tail.
    from_singular_values = power_law_fit(np.sqrt(x), min_tail=10)
    assert from_singular_values.n_tail == fit.n_tail
    assert from_singular_values.alpha == pytest.approx(fit.alpha, rel=1e-12)
    assert from_singular_values.xmin == pytest.approx(fit.xmin, rel=1e-12)
    assert power_law_fit(x[x > 0], kind="eigenvalues", min_tail=10) == fit


def test_multiresolution_search_is_close_to_exhaustive() -> None:
    x = lognormal_body_pareto_tail(np.random.default_rng(4))
    exhaustive = power_law_fit(x, kind="eigenvalues", search="exhaustive")
    coarse = power_law_fit(x, kind="eigenvalues", search="multiresolution")
    assert coarse.search == "multiresolution"
    assert exhaustive.ks_distance <= coarse.ks_distance < exhaustive.ks_distance + 0.005
    assert coarse.alpha == pytest.approx(exhaustive.alpha, abs=0.15)


def test_power_law_on_100k_values_completes_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    x = pareto(np.random.default_rng(5), 3.0, 2.0, 100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = power_law_fit(x, kind="eigenvalues")
    assert fit.search == "multiresolution"
    assert fit.alpha == pytest.approx(3.0, abs=0.05)
    assert fit.xmin < 2.5
    assert capsys.readouterr() == ("", "")


def _powerlaw_package_fit(x: np.ndarray, min_tail: int) -> tuple[float, float, float]:
    powerlaw = pytest.importorskip("powerlaw")
    # The same candidates as power_law_fit: powerlaw tries the distinct values in [lo, hi) and
    # then drops the largest one, so hi is two distinct values above our largest candidate.
    distinct = np.unique(x)
    counts_above = x.size - np.searchsorted(np.sort(x), distinct, side="left")
    last = np.flatnonzero(counts_above >= min_tail)[-1]
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(x, xmin=(distinct[0], distinct[last + 2]), verbose=0)
    return float(fit.alpha), float(fit.xmin), float(fit.D)


@pytest.mark.parametrize("case", ["pareto", "mixed", "ties"])
def test_power_law_agrees_with_powerlaw_package(case: str) -> None:
    """Cross-check with ``powerlaw`` (Alstott et al. 2014); its default keeps α in [0, 3]."""
    rng = np.random.default_rng(6)
    if case == "pareto":
        x = pareto(rng, 2.5, 1.0, 5000)
    elif case == "mixed":
        x = lognormal_body_pareto_tail(rng)
    else:
        x = np.repeat(np.round(pareto(rng, 2.2, 1.0, 2000), 3), 2)
    alpha, xmin, d = _powerlaw_package_fit(x, min_tail=10)
    fit = power_law_fit(x, kind="eigenvalues", min_tail=10)
    assert fit.alpha == pytest.approx(alpha, rel=1e-2)
    assert fit.xmin == pytest.approx(xmin, rel=1e-2)
    assert fit.ks_distance == pytest.approx(d, rel=1e-2)  # the same KS convention


def test_heavy_tailed_spectrum_versus_random() -> None:
    """Gaussian weights: MP bulk, steep tail. Student-t(2) weights: spikes and α < 4."""
    rng = np.random.default_rng(0)
    shape = (1000, 500)
    random = svdvals(rng.normal(size=shape))
    heavy = svdvals(rng.standard_t(2.0, size=shape))
    random_row = rmt_row(random, *shape)
    heavy_row = rmt_row(heavy, *shape)
    assert random_row["alpha"] > 4.0
    assert heavy_row["alpha"] < 4.0
    assert random_row["ks_mp"] < 0.01 < heavy_row["ks_mp"]
    assert random_row["num_spikes"] <= 1
    assert heavy_row["num_spikes"] > 20


# --------------------------------------------------------------------------------------------
# Ranks and the WeightWatcher row
# --------------------------------------------------------------------------------------------


def test_stable_and_effective_rank_by_hand() -> None:
    s = np.array([3.0, 2.0, 1.0])
    assert stable_rank(s) == pytest.approx(14 / 9)
    # p = (1/2, 1/3, 1/6): exp(H) = 2^(1/2) 3^(1/3) 6^(1/6)
    assert effective_rank(s) == pytest.approx(2**0.5 * 3 ** (1 / 3) * 6 ** (1 / 6))
    assert effective_rank(torch.tensor([2.0, 2.0, 2.0, 2.0])) == pytest.approx(4.0)
    assert stable_rank([2.0, 2.0, 2.0, 2.0]) == pytest.approx(4.0)
    assert effective_rank([5.0, 0.0, 0.0]) == 1.0
    assert stable_rank(torch.tensor([3.0, 2.0, 1.0], dtype=torch.bfloat16)) == pytest.approx(14 / 9)
    assert stable_rank([5.0, 0.0, 0.0]) == 1.0


def test_rmt_row_is_consistent() -> None:
    rng = np.random.default_rng(7)
    s = svdvals(rng.normal(size=(300, 100)))
    row = rmt_row(s, 300, 100)
    assert list(row) == [
        "alpha",
        "alpha_weighted",
        "stable_rank",
        "num_spikes",
        "sigma_mp",
        "ks_mp",
        "ks_powerlaw",
        "xmin",
        "lambda_max",
        "log_norm",
        "log_spectral_norm",
    ]
    tail = power_law_fit(s)
    mp = marchenko_pastur_fit(s, 300, 100)
    assert (row["alpha"], row["xmin"], row["ks_powerlaw"]) == (
        tail.alpha,
        tail.xmin,
        tail.ks_distance,
    )
    assert (row["sigma_mp"], row["num_spikes"], row["ks_mp"]) == (
        mp.sigma_mp,
        mp.num_spikes,
        mp.ks_distance,
    )
    assert row["lambda_max"] == pytest.approx(s.max() ** 2)
    assert row["log_spectral_norm"] == pytest.approx(2 * math.log10(s.max()))
    assert row["log_norm"] == pytest.approx(math.log10(np.sum(s**2)))
    assert row["alpha_weighted"] == pytest.approx(row["alpha"] * row["log_spectral_norm"])
    assert row["stable_rank"] == pytest.approx(np.sum(s**2) / s.max() ** 2)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: marchenko_pastur_fit([], 3, 3), r"shape \(0,\)"),
        (lambda: marchenko_pastur_fit([[1.0, 2.0]], 1, 2), r"shape \(1, 2\)"),
        (lambda: marchenko_pastur_fit([1.0, float("nan")], 2, 2), r"got nan at index 1"),
        (lambda: marchenko_pastur_fit([float("inf")], 2, 2), r"got inf at index 0"),
        (lambda: marchenko_pastur_fit([1.0, -2.0], 2, 2), r"got -2\.0 at index 1"),
        (lambda: marchenko_pastur_fit([1.0], 0, 2), r"n_rows must be a positive integer; got 0"),
        (lambda: marchenko_pastur_fit([1.0], 2, -3), r"n_cols .* got -3"),
        (lambda: marchenko_pastur_fit([1.0], 2.5, 2), r"n_rows .* got 2\.5"),  # type: ignore[arg-type]
        (lambda: marchenko_pastur_fit([0.0, 0.0], 2, 2), r"all 2 singular values are zero"),
        (lambda: marchenko_pastur_fit([1.0], 2, 2, tw_margin=-1), r"tw_margin .* got -1"),
        (lambda: marchenko_pastur_fit(np.array([1 + 1j]), 2, 2), r"got dtype complex128"),
        (lambda: power_law_fit(np.arange(1.0, 6.0)), r"got 5 positive value\(s\)"),
        (lambda: power_law_fit(np.ones(20)), r"got 20 positive value\(s\), 1 distinct"),
        (lambda: power_law_fit(np.arange(1.0, 30.0), min_tail=1), r"min_tail .* got 1"),
        (lambda: power_law_fit([1.0], kind="sigma"), r"got 'sigma'"),  # type: ignore[arg-type]
        (lambda: power_law_fit([1.0], search="grid"), r"got 'grid'"),  # type: ignore[arg-type]
        (lambda: power_law_fit([1.0, -0.5], kind="eigenvalues"), r"got -0\.5 at index 1"),
        (lambda: mp_pdf(1.0, 0.5, 1.0), r"q = N/M .* got 0\.5"),
        (lambda: mp_cdf(1.0, 2.0, 0.0), r"sigma .* got 0\.0"),
        (lambda: stable_rank(np.zeros(3)), r"all 3 singular values are zero"),
        (lambda: effective_rank(np.zeros(4)), r"all 4 singular values are zero"),
        (lambda: effective_rank(torch.ones(2, 2)), r"shape \(2, 2\)"),
        (lambda: effective_rank(torch.ones(2, dtype=torch.complex64)), r"torch\.complex64"),
        (lambda: effective_rank(["a", "b"]), r"got \['a', 'b'\]"),
        (lambda: rmt_row(np.arange(1.0, 6.0), 5, 5), r"got 5 positive value\(s\)"),
    ],
)
def test_bad_input_names_the_value(call: object, match: str) -> None:
    assert callable(call)
    with pytest.raises(SVDWidgetsError, match=match):
        call()
