"""Certified spectral-norm upper bounds by Gram iteration (Delattre et al. 2023, 2024)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from svdwidgets import SVDWidgetsError, conv_svd
from svdwidgets.core.bounds import (
    MAX_N_ITER,
    SpectralNormBound,
    circular_embedding,
    gram_iteration_bound,
    padding_operator_norm,
    spectral_norm_bound,
    spectral_norm_certificate,
)
from svdwidgets.core.geometry import ConvGeometry, geometry_from
from svdwidgets.core.operator import ConvOperator

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Dense LAPACK on one thread (two threads on a busy shared CPU were measured 100x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sigma_max(weight_or_module: object, input_size: object = None, **kw: object) -> float:
    w, g = geometry_from(weight_or_module, input_size, **kw)
    return float(torch.linalg.svdvals(ConvOperator(w, g, dtype=F64).to_dense())[0])


def _random_layers(count: int, seed: int) -> list[tuple[torch.Tensor, tuple[int, int], dict]]:
    """Random layers over every setting: padding modes, strides, dilations, groups, shapes."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    layers: list[tuple[torch.Tensor, tuple[int, int], dict]] = []
    while len(layers) < count:
        groups = rng.choice([1, 1, 2, 3])
        c_out, c_in = groups * rng.randint(1, 4), groups * rng.randint(1, 4)
        kh, kw = rng.randint(1, 5), rng.randint(1, 5)
        stride = (rng.randint(1, 3), rng.randint(1, 2))
        dilation = (rng.randint(1, 2), rng.randint(1, 3))
        n = (rng.randint(3, 9), rng.randint(3, 9))
        if rng.random() < 0.5:  # "same"-style padding, size divisible by the stride
            padding = (dilation[0] * (kh - 1) // 2, dilation[1] * (kw - 1) // 2)
            n = (stride[0] * rng.randint(2, 4), stride[1] * rng.randint(2, 5))
        else:
            padding = (rng.randint(0, 3), rng.randint(0, 3))
        kw_ = {
            "stride": stride,
            "dilation": dilation,
            "padding": padding,
            "groups": groups,
            "padding_mode": rng.choice(["zeros", "zeros", "circular", "reflect", "replicate"]),
        }
        w = torch.randn(c_out, c_in // groups, kh, kw, generator=gen, dtype=F64)
        try:
            geometry_from(w, n, **kw_)
        except SVDWidgetsError:
            continue  # input too small for the kernel, or padding too large for the mode
        layers.append((w, n, kw_))
    return layers


# -- always an upper bound ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_bound_is_never_below_the_exact_norm(seed: int) -> None:
    methods = set()
    for w, n, kw in _random_layers(40, seed):
        sigma = _sigma_max(w, n, **kw)
        cert = spectral_norm_certificate(w, n, n_iter=6, **kw)
        assert cert.value >= sigma * (1 - 1e-10), (w.shape, n, kw, cert, sigma)
        methods.add(cert.method)
    assert methods == {"gram-circular", "gram-zero-padding-embedding", "gram-padding-embedding"}


@pytest.mark.parametrize("n_iter", [1, 2, 4])
def test_few_iterations_still_bound(n_iter: int) -> None:
    for w, n, kw in _random_layers(15, 10 + n_iter):
        assert spectral_norm_bound(w, n, n_iter=n_iter, **kw) >= _sigma_max(w, n, **kw) * (
            1 - 1e-10
        )


def test_linear_weights_and_modules() -> None:
    gen = torch.Generator().manual_seed(5)
    m = torch.randn(7, 5, generator=gen, dtype=F64)
    norm = float(torch.linalg.matrix_norm(m, ord=2))
    lin = nn.Linear(5, 7, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(m)
    for bound in (
        spectral_norm_bound(m),
        spectral_norm_bound(lin),
        spectral_norm_bound(m[:, :, None, None], (4, 3)),
        spectral_norm_bound(m[:, :, None, None], (4, 3), padding=1),  # zero rows only
    ):
        assert norm * (1 - 1e-12) <= bound <= norm * (1 + 1e-9)


def test_modules_use_their_own_settings() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1, bias=False).double()
    assert spectral_norm_bound(conv, (8, 7)) >= _sigma_max(conv, (8, 7)) * (1 - 1e-10)
    circ = nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular", bias=False).double()
    cert = spectral_norm_certificate(circ, (6, 6))
    assert cert.method == "gram-circular"
    assert cert.value == pytest.approx(_sigma_max(circ, (6, 6)), rel=1e-9)
    transpose = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, bias=False).double()
    assert spectral_norm_bound(transpose, (5, 5)) >= _sigma_max(transpose, (5, 5)) * (1 - 1e-10)


# -- tightness ---------------------------------------------------------------------------------


def test_circular_bound_is_tight_after_six_iterations() -> None:
    """Circular layers, measured relative excess over the exact norm: at n_iter 4 up to 8.5e-3,
    at 6 up to 7.2e-5, at 8 up to 1.5e-11 — all from the 1x1 layer, whose matrix has two close
    top singular values; the other layers are within 1e-5 at 4 and 2e-15 from 6 on.

    Guaranteed for any weights: excess <= rank^(2^-(n_iter+1)) - 1.
    """
    gen = torch.Generator().manual_seed(11)
    cases: list[tuple[tuple[int, ...], tuple[int, int], dict[str, Any]]] = [
        ((8, 8, 3, 3), (8, 8), {"padding": 1}),
        ((6, 4, 3, 3), (6, 10), {"padding": 1, "stride": 2}),
        ((4, 8, 5, 5), (9, 9), {"padding": 2}),
        ((6, 3, 3, 3), (8, 8), {"padding": 2, "dilation": 2, "groups": 3}),
        ((5, 7, 1, 1), (4, 4), {}),
    ]
    for shape, n, kw in cases:
        w = torch.randn(*shape, generator=gen, dtype=F64)
        sigma = _sigma_max(w, n, padding_mode="circular", **kw)
        stride = kw.get("stride", 1)
        groups = kw.get("groups", 1)
        assert isinstance(stride, int) and isinstance(groups, int)
        rank = min(shape[0] // groups, shape[1] * stride * stride)
        for n_iter, tol in ((4, 2e-2), (6, 1e-3), (8, 1e-9)):
            cert = spectral_norm_certificate(w, n, padding_mode="circular", n_iter=n_iter, **kw)
            assert cert.method == "gram-circular"
            assert sigma * (1 - 1e-10) <= cert.value <= sigma * (1 + tol), (shape, n_iter)
            guaranteed = rank ** (2.0 ** -(n_iter + 1))
            assert cert.value <= sigma * guaranteed * (1 + 1e-12)


def test_zero_padding_gap_shrinks_with_the_input() -> None:
    """Zero padding, 3x3, stride 1: the bound is the norm of the circular convolution on
    ``n + 1``. Measured excess over the exact norm on these layers (identical at n_iter 4, 6
    and 8): at most 9.6% at n = 6, 4.8% at 8, 2.8% at 12 and 1.6% at 16 (about 1/n²)."""
    gen = torch.Generator().manual_seed(21)
    limits = {6: 0.12, 8: 0.06, 12: 0.04, 16: 0.025}
    for n, limit in limits.items():
        for c_out, c_in in ((4, 4), (6, 3), (3, 8)):
            w = torch.randn(c_out, c_in, 3, 3, generator=gen, dtype=F64)
            sigma = _sigma_max(w, (n, n), padding=1)
            cert = spectral_norm_certificate(w, (n, n), padding=1, n_iter=6)
            assert cert.grid == (n + 1, n + 1)
            assert sigma * (1 - 1e-10) <= cert.value <= sigma * (1 + limit), (n, c_out, c_in)


def test_real_sized_layer_against_exact_top_value() -> None:
    """64x64x3x3 at 16x16 with zero padding: measured excess 0.39% (0.058% at 32x32, where the
    exact top value takes ARPACK about a minute)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=False)
    exact = conv_svd(conv, (16, 16), method="exact", k=1, dtype=F64).values[0].item()
    bound = spectral_norm_bound(conv, (16, 16))
    assert exact * (1 - 1e-10) <= bound <= exact * 1.01


@pytest.mark.parametrize("padding_mode", ["circular", "zeros", "reflect"])
def test_monotone_non_increasing_in_n_iter(padding_mode: str) -> None:
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(6, 5, 3, 3, generator=gen, dtype=F64)
    values = [
        spectral_norm_bound(w, (7, 8), padding=1, padding_mode=padding_mode, n_iter=t)
        for t in range(1, 11)
    ]
    for before, after in itertools.pairwise(values):
        assert after <= before * (1 + 1e-12)
    assert values[-1] < values[0]


# -- the pieces --------------------------------------------------------------------------------


def test_gram_iteration_on_matrices() -> None:
    gen = torch.Generator().manual_seed(9)
    real = torch.randn(5, 7, 4, generator=gen, dtype=F64)
    cplx = torch.complex(
        torch.randn(5, 3, 6, generator=gen, dtype=F64),
        torch.randn(5, 3, 6, generator=gen, dtype=F64),
    )
    for blocks in (real, cplx):
        sigma = torch.linalg.matrix_norm(blocks, ord=2)
        bound = gram_iteration_bound(blocks, 8)
        assert bound.dtype == F64
        torch.testing.assert_close(bound, sigma, rtol=1e-9, atol=0)
        assert bool(torch.all(gram_iteration_bound(blocks, 1) >= sigma * (1 - 1e-12)))
    # no overflow or underflow, zero blocks give zero
    scaled = torch.stack([real[0] * 1e200, real[0] * 1e-200, torch.zeros_like(real[0])])
    bound = gram_iteration_bound(scaled, 10)
    sigma0 = float(torch.linalg.matrix_norm(real[0], ord=2))
    assert bound[0].item() == pytest.approx(sigma0 * 1e200, rel=1e-9)
    assert bound[1].item() == pytest.approx(sigma0 * 1e-200, rel=1e-9)
    assert bound[2].item() == 0.0


def test_zero_weight_gives_zero() -> None:
    assert spectral_norm_bound(torch.zeros(3, 3, 3, 3), (5, 5), padding=1) == 0.0


def test_padding_operator_norm() -> None:
    def geometry(mode: str, p: int, n: tuple[int, int] = (5, 6)) -> ConvGeometry:
        return geometry_from(torch.randn(2, 2, 3, 3), n, padding=p, padding_mode=mode)[1]

    assert padding_operator_norm(geometry("zeros", 2)) == 1.0
    assert padding_operator_norm(geometry("circular", 1)) == 1.0  # a circular convolution
    assert padding_operator_norm(geometry("circular", 2)) == pytest.approx(2.0)  # 2 x 2 copies
    assert padding_operator_norm(geometry("reflect", 1)) == pytest.approx(2.0)
    assert padding_operator_norm(geometry("replicate", 2)) == pytest.approx(3.0)  # edge: 3 copies


def test_circular_embedding_grids() -> None:
    w = torch.randn(2, 2, 3, 3)
    _, g = geometry_from(w, (7, 8), padding=1, stride=2)
    circ, factor, method = circular_embedding(g)
    assert (circ.input_size, circ.padding, circ.padding_mode) == ((8, 10), (1, 1), "circular")
    assert (factor, method) == (1.0, "gram-zero-padding-embedding")
    _, g = geometry_from(w, (7, 8), padding=2, padding_mode="reflect")
    circ, factor, method = circular_embedding(g)
    assert (circ.input_size, circ.padding, method) == ((11, 12), (0, 0), "gram-padding-embedding")


def test_certificate_fields() -> None:
    cert = spectral_norm_certificate(torch.randn(4, 4, 3, 3), (6, 6), padding=1, n_iter=5)
    assert isinstance(cert, SpectralNormBound)
    assert (cert.n_iter, cert.padding_mode, cert.grid) == (5, "zeros", (7, 7))
    assert float(cert) == cert.value
    small = spectral_norm_certificate(torch.randn(4, 4, 3, 3), (6, 6), padding=1, memory_budget=1)
    big = spectral_norm_certificate(torch.randn(4, 4, 3, 3), (6, 6), padding=1)
    assert small.value > 0 and big.value > 0


def test_chunking_changes_nothing() -> None:
    w = torch.randn(5, 4, 3, 3, dtype=F64)
    a = spectral_norm_bound(w, (9, 7), padding=1, memory_budget=1)
    b = spectral_norm_bound(w, (9, 7), padding=1)
    assert a == pytest.approx(b, rel=1e-13)


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_iter", [0, -1, MAX_N_ITER + 1, 2.5, True, "6", None])
def test_bad_n_iter(n_iter: object) -> None:
    with pytest.raises(SVDWidgetsError, match="n_iter") as info:
        spectral_norm_bound(torch.randn(2, 2, 3, 3), (5, 5), n_iter=n_iter)  # type: ignore[arg-type]
    assert repr(n_iter) in str(info.value)
    with pytest.raises(SVDWidgetsError, match="n_iter"):
        gram_iteration_bound(torch.randn(2, 3, 3), n_iter)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kw", "match"),
    [
        ((torch.randn(2, 3, 3),), {}, r"\(2, 3, 3\)"),
        ((torch.randn(2, 2, 3, 3),), {}, "input_size"),
        ((torch.randn(2, 2, 5, 5), (3, 3)), {}, "smaller than the kernel"),
        ((torch.randn(2, 2, 3, 3), (5, 5)), {"padding_mode": "mirror"}, "mirror"),
        ((torch.full((2, 2, 3, 3), float("nan")), (5, 5)), {}, "non-finite"),
        ((torch.randn(2, 2, 3, 3), (5, 5)), {"memory_budget": 0}, "memory_budget"),
        ((torch.randn(2, 2, 3, 3), (5, 5)), {"device": "nonsense"}, "nonsense"),
        ((nn.ReLU(), (5, 5)), {}, "ReLU"),
    ],
)
def test_bad_layers(args: tuple, kw: dict, match: str) -> None:
    with pytest.raises(SVDWidgetsError, match=match):
        spectral_norm_bound(*args, **kw)
