"""The ``spectral-density`` method (Yi 2020) and its reduced-complexity spectral-norm bounds."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from svdwidgets import SVDWidgetsError, SVDWidgetsWarning, conv_svd
from svdwidgets.core.conv_svd import _count
from svdwidgets.core.density import (
    AxisSampling,
    SpectralDensitySpectrum,
    axis_samplings,
    sampling_angles,
    spectral_density_spectrum,
    spectral_density_values,
    spectral_norm_upper_bounds,
    symbols_at,
    toeplitz_angles,
)
from svdwidgets.core.fft import polyphase_kernel, symbols
from svdwidgets.core.geometry import geometry_from
from svdwidgets.core.operator import ConvOperator

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Dense LAPACK on one thread: with two threads on a busy shared CPU, ``svdvals`` of a
    1152 x 1152 matrix was measured 100x slower (33 s against 0.24 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _exact(weight: torch.Tensor, input_size: tuple[int, int], **kw: object) -> torch.Tensor:
    w, g = geometry_from(weight, input_size, **kw)
    return torch.linalg.svdvals(ConvOperator(w, g, dtype=F64).to_dense())


def _rel_l2(approx: torch.Tensor, exact: torch.Tensor) -> float:
    m = min(len(approx), len(exact))
    return float((approx[:m].double() - exact[:m]).norm() / exact[:m].norm())


def _layer(kind: str, c: int, seed: int) -> torch.Tensor:
    """3x3 layers: i.i.d. Gaussian, and structured ones (blur, edge, diagonal, low rank)."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(c, c, 3, 3, generator=gen, dtype=F64)
    mix = torch.randn(c, c, 1, 1, generator=gen, dtype=F64)
    blur = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=F64) / 4
    sobel = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=F64)
    diag = torch.tensor([[-2.0, -1, 0], [-1, 0, 1], [0, 1, 2]], dtype=F64)
    if kind == "randn":
        return w
    if kind == "smooth":
        return mix * blur + 0.1 * w
    if kind == "edge":
        return mix * sobel + 0.1 * w
    if kind == "diag":
        return mix * diag + 0.1 * w
    assert kind == "lowrank"
    return torch.einsum("oi,hw->oihw", mix[:, :2, 0, 0] @ mix[:2, :, 0, 0], w[0, 0])


# -- the requirement -------------------------------------------------------------------


def test_closer_to_exact_than_fft_for_zero_padding_on_small_inputs() -> None:
    """Relative L2 distance of the sorted spectra to the exact (dense, float64) spectrum.

    Measured on these 30 layers when the test was written: spectral-density is closer on all 30,
    mean 0.059 against 0.110 for fft (L∞ relative to σ_max: 0.066 against 0.125, closer on 29);
    the per-layer ratio is at most 0.18 for the blur and 0.12 for the edge layers, 0.99 for
    i.i.d. Gaussian kernels. Asserted with margins.
    """
    errors = []
    kinds = ["randn", "smooth", "edge", "diag", "lowrank"]
    for i, (kind, c, n) in enumerate(itertools.product(kinds, [4, 8], [6, 9, 12])):
        w = _layer(kind, c, 100 + i)
        exact = _exact(w, (n, n), padding=1)
        fft = conv_svd(w, (n, n), padding=1, method="fft", dtype=F64).values
        sd = conv_svd(w, (n, n), padding=1, method="spectral-density", dtype=F64).values
        assert len(sd) == len(fft) == len(exact)
        errors.append((kind, _rel_l2(fft, exact), _rel_l2(sd, exact)))
    mean_fft = sum(e[1] for e in errors) / len(errors)
    mean_sd = sum(e[2] for e in errors) / len(errors)
    assert mean_sd < 0.7 * mean_fft
    assert sum(sd < fft for _, fft, sd in errors) >= 27  # of 30
    for kind, err_fft, err_sd in errors:
        if kind in ("smooth", "edge"):
            assert err_sd < 0.5 * err_fft, (kind, err_fft, err_sd)


@pytest.mark.parametrize(
    ("stride", "dilation", "n"),
    [((2, 2), (1, 1), 8), ((2, 2), (1, 1), 12), ((1, 1), (2, 2), 9), ((1, 1), (2, 2), 12)],
)
def test_closer_than_fft_on_average_with_stride_and_dilation(
    stride: tuple[int, int], dilation: tuple[int, int], n: int
) -> None:
    """Measured: the summed error is 0.35-0.42 times fft's in these four configurations."""
    err_fft, err_sd = [], []
    for i, kind in enumerate(["randn", "smooth", "edge", "lowrank"]):
        w = _layer(kind, 6, 300 + i)
        kw = {"stride": stride, "padding": dilation, "dilation": dilation}
        exact = _exact(w, (n, n), **kw)
        fft = conv_svd(w, (n, n), method="fft", dtype=F64, **kw).values  # type: ignore[arg-type]
        sd = conv_svd(w, (n, n), method="spectral-density", dtype=F64, **kw).values  # type: ignore[arg-type]
        err_fft.append(_rel_l2(fft, exact))
        err_sd.append(_rel_l2(sd, exact))
    assert sum(err_sd) < 0.7 * sum(err_fft)


# -- where the sampling is exact ---------------------------------------------------------------


def _symmetrised(w: torch.Tensor, sign_h: int, sign_w: int) -> torch.Tensor:
    """``w`` made symmetric (+1) or antisymmetric (-1) along each spatial axis."""
    w = (w + sign_h * w.flip(2)) / 2
    return (w + sign_w * w.flip(3)) / 2


@pytest.mark.parametrize(("sign_h", "sign_w"), [(1, 1), (1, -1), (-1, 1), (-1, -1)])
@pytest.mark.parametrize(
    ("stride", "dilation", "n"),
    [(1, 1, (7, 9)), (2, 1, (8, 10)), (1, 2, (9, 8))],
)
def test_exact_for_3x3_kernels_symmetric_or_antisymmetric_along_each_axis(
    sign_h: int, sign_w: int, stride: int, dilation: int, n: tuple[int, int]
) -> None:
    """A (modulated) 2-D DST block-diagonalises these operators; the grid hits the exact values."""
    gen = torch.Generator().manual_seed(7 + 3 * sign_h + sign_w)
    w = _symmetrised(torch.randn(5, 4, 3, 3, generator=gen, dtype=F64), sign_h, sign_w)
    kw = {"stride": stride, "padding": dilation, "dilation": dilation}
    exact = _exact(w, n, **kw)
    sd = conv_svd(w, n, method="spectral-density", dtype=F64, **kw).values  # type: ignore[arg-type]
    torch.testing.assert_close(sd, exact[: len(sd)], rtol=1e-9, atol=1e-9)


def test_single_tap_layers_are_exact() -> None:
    """A 1x1 conv (any padding) has the spectrum of its matrix, each value H*W times."""
    gen = torch.Generator().manual_seed(3)
    m = torch.randn(6, 4, generator=gen, dtype=F64)
    sd = conv_svd(m[:, :, None, None], (5, 7), method="spectral-density", dtype=F64).values
    expected = torch.linalg.svdvals(m).repeat_interleave(35)
    torch.testing.assert_close(sd, expected, rtol=1e-12, atol=1e-12)
    lin = nn.Linear(4, 6, bias=False).double()
    values = conv_svd(lin, method="spectral-density", dtype=F64).values
    torch.testing.assert_close(values, torch.linalg.svdvals(lin.weight.detach()))


# -- the spectrum object -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "n", "kw"),
    [
        ((8, 4, 3, 3), (6, 6), {"padding": 1}),
        ((4, 8, 3, 3), (7, 5), {"padding": 1}),
        ((6, 3, 3, 3), (8, 6), {"stride": 2, "padding": 1}),
        ((6, 2, 3, 3), (8, 8), {"padding": 1, "groups": 2}),
        ((4, 4, 3, 3), (7, 9), {"padding": 2, "dilation": 2}),
        ((4, 4, 3, 3), (8, 8), {"padding": 2, "dilation": 2, "stride": 2}),
        ((3, 5, 2, 4), (6, 8), {"padding": (0, 1)}),
        ((5, 5, 5, 5), (10, 10), {"padding": 2, "stride": (2, 1)}),
        ((4, 4, 3, 3), (6, 6), {"padding": 0}),
    ],
)
def test_count_order_and_fields(
    shape: tuple[int, int, int, int], n: tuple[int, int], kw: dict[str, object]
) -> None:
    w = torch.randn(*shape)
    spec = conv_svd(w, n, method="spectral-density", **kw)  # type: ignore[arg-type]
    fft = conv_svd(w, n, method="fft", **kw)  # type: ignore[arg-type]
    assert isinstance(spec, SpectralDensitySpectrum)
    assert spec.method == "spectral-density"
    assert spec.exact is False
    assert spec.values.dtype == torch.float32 and spec.values.device.type == "cpu"
    weight, geometry = geometry_from(w, n, **kw)
    assert len(spec) == len(fft) == _count("spectral-density", geometry, weight)
    assert bool(torch.all(spec.values[:-1] >= spec.values[1:]))
    assert bool(torch.all(spec.values >= 0))
    assert sum(mult * gh * gw for (gh, gw), mult in spec.grids) * geometry.stride[0] * (
        geometry.stride[1]
    ) == math.prod(n)
    with pytest.raises(SVDWidgetsError, match="spectral-density"):
        spec.vector(0)
    assert "spectral-density" in repr(spec)


def test_top_k_and_its_range() -> None:
    w = torch.randn(4, 4, 3, 3)
    full = conv_svd(w, (6, 6), padding=1, method="spectral-density").values
    top = conv_svd(w, (6, 6), padding=1, method="spectral-density", k=5).values
    torch.testing.assert_close(top, full[:5])
    with pytest.raises(SVDWidgetsError, match="k=145"):
        conv_svd(w, (6, 6), padding=1, method="spectral-density", k=145)
    weight, geometry = geometry_from(w, (6, 6), padding=1)
    with pytest.raises(SVDWidgetsError, match="k=0"):
        spectral_density_spectrum(
            weight,
            geometry,
            k=0,
            dtype=torch.float32,
            device=torch.device("cpu"),
            memory_budget=1 << 20,
        )


def test_float32_matches_float64_and_chunking_changes_nothing() -> None:
    w = torch.randn(6, 5, 3, 3, dtype=F64)
    weight, geometry = geometry_from(w, (9, 7), padding=1)
    ref = spectral_density_values(weight, geometry, dtype=F64)
    tiny = spectral_density_values(weight, geometry, dtype=F64, memory_budget=1)
    torch.testing.assert_close(tiny, ref, rtol=1e-13, atol=1e-13)
    single = spectral_density_values(weight, geometry, dtype=torch.float32)
    assert single.dtype == torch.float32
    torch.testing.assert_close(single.double(), ref, rtol=1e-4, atol=1e-5)


def test_stride_that_does_not_divide_the_input_is_refused() -> None:
    with pytest.raises(SVDWidgetsError, match=r"stride \(2, 2\).*\(7, 8\)"):
        conv_svd(torch.randn(4, 4, 3, 3), (7, 8), stride=2, padding=1, method="spectral-density")


def test_non_zero_padding_modes_warn() -> None:
    w = torch.randn(4, 4, 3, 3)
    with pytest.warns(SVDWidgetsWarning, match="circular.*'fft' is exact"):
        conv_svd(w, (6, 6), padding=1, padding_mode="circular", method="spectral-density")
    with pytest.warns(SVDWidgetsWarning, match="reflect"):
        conv_svd(w, (6, 6), padding=1, padding_mode="reflect", method="spectral-density")


# -- the building blocks -----------------------------------------------------------------------


def test_symbols_at_integer_frequencies_equal_symbols() -> None:
    w = torch.randn(6, 2, 3, 3, dtype=F64)
    _, geometry = geometry_from(w, (8, 6), stride=2, padding=1, dilation=1, groups=2)
    kernel = polyphase_kernel(w, geometry)
    freqs = torch.tensor([[0, 0], [1, 2], [3, 1], [2, 3]])
    grid = torch.tensor(kernel.grid, dtype=F64)
    angles = 2 * math.pi * freqs.double() / grid
    torch.testing.assert_close(symbols_at(kernel, angles), symbols(kernel, freqs))


def test_toeplitz_angles_and_sampling_points() -> None:
    torch.testing.assert_close(
        toeplitz_angles(3), torch.tensor([1.0, 2.0, 3.0], dtype=F64) * math.pi / 4
    )
    torch.testing.assert_close(
        toeplitz_angles(2, span=1), torch.tensor([1.0, 2.0], dtype=F64) * math.pi / 2.5
    )
    with pytest.raises(SVDWidgetsError, match="got 0"):
        toeplitz_angles(0)
    plain = sampling_angles((3, 4))
    assert plain.shape == (2 * 12, 2)
    shifted = sampling_angles((3, 4), (AxisSampling(2, 0.0), AxisSampling(2, math.pi / 2)))
    assert shifted.shape == (4 * 12, 2)


def test_axis_samplings_detects_antisymmetry() -> None:
    w = _symmetrised(torch.randn(3, 3, 3, 3, dtype=F64), 1, -1)
    _, geometry = geometry_from(w, (6, 6), padding=1)
    sh, sw = axis_samplings(polyphase_kernel(w, geometry))
    assert (sh.span, sh.shift) == (2, 0.0)
    assert (sw.span, sw.shift) == (2, math.pi / 2)
    # the outer columns are zero: the live taps span one column
    w1 = torch.zeros(3, 3, 3, 3, dtype=F64)
    w1[:, :, :, 1] = torch.randn(3, 3, 3, dtype=F64)
    sh1, sw1 = axis_samplings(polyphase_kernel(w1, geometry))
    assert sw1.span == 0 and sh1.span == 2


# -- the reduced-complexity spectral-norm bounds -----------------------------------------------


@pytest.mark.parametrize(
    ("shape", "n", "kw"),
    [
        ((8, 4, 3, 3), (6, 6), {"padding": 1}),
        ((4, 8, 3, 3), (7, 5), {"padding": 1, "stride": 2}),
        ((6, 2, 3, 3), (8, 8), {"padding": 2, "dilation": 2, "groups": 3}),
        ((4, 4, 3, 3), (6, 6), {"padding": 1, "padding_mode": "circular"}),
        ((4, 4, 3, 3), (6, 7), {"padding": 1, "padding_mode": "reflect"}),
        ((4, 4, 5, 3), (6, 7), {"padding": 2, "padding_mode": "replicate", "stride": 2}),
        ((4, 4, 2, 2), (5, 5), {"padding": 0}),
    ],
)
def test_upper_bounds_dominate_the_exact_norm(
    shape: tuple[int, int, int, int], n: tuple[int, int], kw: dict[str, object]
) -> None:
    w = torch.randn(*shape, dtype=F64)
    sigma = float(_exact(w, n, **kw)[0])
    weight, geometry = geometry_from(w, n, **kw)
    bounds = spectral_norm_upper_bounds(weight, geometry)
    assert set(bounds) == {"tap_norm_sum", "abs_sum", "row_column", "reshaped", "min"}
    for name, value in bounds.items():
        assert value >= sigma * (1 - 1e-12), (name, value, sigma)
    assert bounds["row_column"] >= bounds["abs_sum"] * (1 - 1e-12)
    assert bounds["min"] == min(v for k, v in bounds.items() if k != "min")


def test_spectrum_exposes_the_bounds() -> None:
    w = torch.randn(4, 4, 3, 3, dtype=F64)
    spec = conv_svd(w, (6, 6), padding=1, method="spectral-density", dtype=F64)
    assert isinstance(spec, SpectralDensitySpectrum)
    bounds = spec.upper_bounds()
    assert bounds["min"] >= float(_exact(w, (6, 6), padding=1)[0])
