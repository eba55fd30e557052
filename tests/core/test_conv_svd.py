"""conv_svd against dense reference matrices, the invariants of DESIGN.md, and bad input."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from conv_reference import conv_apply, dense_conv_matrix, dense_values
from torch import nn

import svdwidgets as sw
from svdwidgets.core.conv_svd import conv_svd
from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning

F64 = torch.float64


def _weight(c_out: int, c_in_g: int, kh: int, kw: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(c_out, c_in_g, kh, kw, generator=g, dtype=F64)


# (weight shape, input size, conv kwargs): circular layers, where fft is exact
CIRCULAR = [
    ((4, 3, 3, 3), (6, 6), dict(padding=1)),
    ((4, 3, 3, 3), (8, 6), dict(stride=2, padding=1)),
    ((5, 3, 3, 3), (9, 6), dict(stride=(3, 2), padding=1)),
    ((6, 2, 3, 3), (6, 6), dict(padding=2, dilation=2, groups=2)),
    ((6, 2, 3, 3), (7, 6), dict(padding=(2, 1), dilation=(2, 1), groups=2)),
    ((6, 1, 3, 3), (6, 8), dict(stride=2, padding=1, groups=6)),  # depthwise, strided
    ((6, 1, 5, 3), (7, 5), dict(padding=(2, 1), groups=6)),  # depthwise, non-square kernel
    ((5, 3, 2, 3), (6, 9), dict(stride=(2, 3), padding=(0, 1))),
    ((4, 4, 4, 4), (8, 8), dict(stride=2, padding=1)),  # 2p = d(k-1) - 1: still H/s outputs
    ((3, 5, 3, 3), (5, 7), dict(padding=1)),  # odd sizes, c_out < c_in
    ((4, 2, 3, 3), (2, 2), dict(padding=1)),  # kernel larger than the grid: taps alias
]


@pytest.mark.parametrize(("shape", "size", "kw"), CIRCULAR)
def test_fft_equals_dense_operator_for_circular_convs(shape, size, kw) -> None:
    w = _weight(*shape)
    kw = dict(kw, padding_mode="circular")
    spec = conv_svd(w, size, method="fft", dtype=F64, **kw)
    ref = dense_values(dense_conv_matrix(w, size, **kw))
    assert spec.method == "fft" and spec.exact
    assert len(spec) == len(ref)
    torch.testing.assert_close(spec.values, ref, rtol=1e-10, atol=1e-10 * float(ref[0]))
    auto = conv_svd(w, size, dtype=F64, **kw)
    assert auto.method == "fft" and auto.exact


@pytest.mark.parametrize(("shape", "size", "kw"), CIRCULAR)
def test_fft_singular_vectors_satisfy_av_equals_sigma_u(shape, size, kw) -> None:
    w = _weight(*shape, seed=1)
    kw = dict(kw, padding_mode="circular")
    spec = conv_svd(w, size, method="fft", dtype=F64, **kw)
    vs = []
    for i in range(len(spec)):
        v, u = spec.vector(i)
        assert v.shape == (w.shape[1] * kw.get("groups", 1), *size)
        s = spec.values[i]
        torch.testing.assert_close(v.norm(), torch.tensor(1.0, dtype=F64))
        torch.testing.assert_close(u.norm(), torch.tensor(1.0, dtype=F64))
        torch.testing.assert_close(conv_apply(w, v, **kw), s * u, atol=1e-9, rtol=0)
        vs.append(v.reshape(-1))
    # The right vectors form an orthonormal set (up to vectors of repeated values, which are
    # only determined up to a rotation: compare Gram matrices through the values).
    gram = torch.stack(vs) @ torch.stack(vs).T
    distinct = (spec.values[:, None] - spec.values[None, :]).abs() > 1e-6
    assert float(gram[distinct].abs().max()) < 1e-8


ALL_MODES = [
    ((4, 3, 3, 3), (6, 5), dict(padding=1, padding_mode="zeros")),
    ((4, 3, 3, 3), (6, 6), dict(stride=2, padding=1, padding_mode="reflect")),
    ((4, 2, 3, 3), (7, 6), dict(padding=2, dilation=2, groups=2, padding_mode="replicate")),
    ((4, 4, 3, 2), (7, 5), dict(stride=(2, 1), padding=(1, 0), padding_mode="circular")),
    ((4, 1, 3, 3), (6, 6), dict(padding=1, groups=4, padding_mode="zeros")),
    ((3, 3, 3, 3), (5, 7), dict(stride=2, padding=0, padding_mode="zeros")),
]


@pytest.mark.parametrize(("shape", "size", "kw"), ALL_MODES)
def test_exact_dense_matches_reference_in_every_padding_mode(shape, size, kw) -> None:
    w = _weight(*shape, seed=2)
    ref_matrix = dense_conv_matrix(w, size, **kw)
    spec = conv_svd(w, size, method="exact", dtype=F64, **kw)
    ref = dense_values(ref_matrix)
    assert spec.exact and spec.method == "exact"
    torch.testing.assert_close(spec.values, ref, rtol=1e-10, atol=1e-12)
    for i in (0, len(spec) // 2, len(spec) - 1):
        v, u = spec.vector(i)
        torch.testing.assert_close(conv_apply(w, v, **kw), spec.values[i] * u, atol=1e-9, rtol=0)
        torch.testing.assert_close(
            (ref_matrix.T @ u.reshape(-1)).reshape(v.shape),
            spec.values[i] * v,
            atol=1e-9,
            rtol=0,
        )
    # none of these is a circular conv on its grid (the circular one has 7 rows, stride 2)
    auto = conv_svd(w, size, dtype=F64, **kw)
    assert auto.exact and auto.method == "exact"


@pytest.mark.parametrize(("shape", "size", "kw"), ALL_MODES)
def test_matrix_free_top_k_matches_dense(shape, size, kw) -> None:
    w = _weight(*shape, seed=3)
    from svdwidgets.core.exact import topk_spectrum
    from svdwidgets.core.geometry import geometry_from

    weight, geometry = geometry_from(w, size, **kw)
    spec = topk_spectrum(weight, geometry, k=4, dtype=F64, device=torch.device("cpu"))
    ref = dense_values(dense_conv_matrix(w, size, **kw))
    torch.testing.assert_close(spec.values, ref[:4], rtol=1e-9, atol=0)
    for i in range(4):
        v, u = spec.vector(i)
        torch.testing.assert_close(conv_apply(w, v, **kw), spec.values[i] * u, atol=1e-8, rtol=0)


def test_auto_uses_matrix_free_top_k_on_a_layer_too_large_for_dense() -> None:
    w = _weight(8, 8, 3, 3, seed=4) / 8
    budget = 1 << 20  # 1 MiB: the 2048 x 2048 dense operator does not fit
    spec = conv_svd(w, (16, 16), padding=1, k=3, memory_budget=budget, dtype=F64)
    assert spec.method == "exact" and spec.solver == "matrix-free-arpack"
    ref = conv_svd(w, (16, 16), padding=1, method="exact", dtype=F64).values[:3]
    torch.testing.assert_close(spec.values, ref, rtol=1e-9, atol=0)


def test_auto_falls_back_to_fft_with_a_warning_naming_the_way_out() -> None:
    w = _weight(8, 8, 3, 3, seed=5)
    with pytest.warns(SVDWidgetsWarning, match=r"k=\.\.\..*exact top-k"):
        spec = conv_svd(w, (16, 16), padding=1, memory_budget=1 << 20)
    assert spec.method == "fft" and not spec.exact
    circular = conv_svd(w, (16, 16), padding=1, padding_mode="circular")
    torch.testing.assert_close(spec.values, circular.values)


def test_circular_parseval_identity() -> None:
    """Circular padding, stride 1: Σσ² = H·W·‖W‖²_F."""
    w = _weight(7, 5, 3, 3, seed=6)
    spec = conv_svd(w, (9, 10), padding=1, padding_mode="circular", dtype=F64)
    torch.testing.assert_close(spec.values.square().sum(), 90 * w.square().sum())


def test_one_by_one_conv_has_the_matrix_spectrum_repeated() -> None:
    w = _weight(6, 4, 1, 1, seed=7)
    spec = conv_svd(w, (5, 3), dtype=F64)
    assert spec.exact and spec.method == "fft" and spec.shortcut == "single-tap"
    expected = torch.linalg.svdvals(w[:, :, 0, 0]).repeat_interleave(15)
    torch.testing.assert_close(spec.values, expected)


def test_dilation_shortcut_gives_the_undilated_values_repeated() -> None:
    w = _weight(4, 4, 3, 3, seed=8)
    dilated = conv_svd(w, (8, 12), padding=2, dilation=2, padding_mode="circular", dtype=F64)
    assert dilated.shortcut == "dilation"
    small = conv_svd(w, (4, 6), padding=1, padding_mode="circular", dtype=F64)
    torch.testing.assert_close(dilated.values, small.values.repeat_interleave(4))


@pytest.mark.parametrize("n", [4, 6, 9])
def test_interlacing_zero_padding_below_circular_on_the_larger_grid(n) -> None:
    """σ_i(zeros, n) <= σ_i(circular, n + k - 1): the zero-padded operator is a compression."""
    w = _weight(3, 3, 3, 3, seed=9)
    zeros = conv_svd(w, (n, n), padding=1, method="exact", dtype=F64).values
    circ = conv_svd(w, (n + 2, n + 2), padding=1, padding_mode="circular", dtype=F64).values
    assert bool((zeros <= circ[: len(zeros)] * (1 + 1e-12)).all())
    # and the circular values on the same grid are not a bound: zero padding differs
    same = conv_svd(w, (n, n), padding=1, padding_mode="circular", dtype=F64).values
    assert float((same - zeros).abs().max()) > 1e-3 * float(zeros[0])


def test_small_singular_values_are_accurate_in_float32_on_an_ill_conditioned_layer() -> None:
    """Every σ >= 1e-4 σ_max within 1e-3 relative of a float64 reference (float32 compute)."""
    g = torch.Generator().manual_seed(10)
    c = 32
    u = torch.linalg.qr(torch.randn(c, c, generator=g, dtype=F64))[0]
    vt = torch.linalg.qr(torch.randn(c, c, generator=g, dtype=F64))[0]
    spread = torch.logspace(0, -5, c, dtype=F64)
    w = torch.zeros(c, c, 3, 3, dtype=F64)
    w[:, :, 1, 1] = u @ torch.diag(spread) @ vt  # the centre tap: condition number 1e5
    w += 1e-3 * torch.randn(c, c, 3, 3, generator=g, dtype=F64) * spread[None, :, None, None]
    ref = conv_svd(w, (12, 12), padding=1, padding_mode="circular", dtype=F64).values
    got = conv_svd(w.float(), (12, 12), padding=1, padding_mode="circular").values.double()
    assert float(ref[-1] / ref[0]) < 1e-4  # really ill-conditioned
    keep = ref >= 1e-4 * ref[0]
    rel = ((got - ref).abs() / ref)[keep]
    assert float(rel.max()) < 1e-3


def test_linear_layer_through_the_same_face() -> None:
    layer = nn.Linear(7, 4).double()
    spec = conv_svd(layer)
    torch.testing.assert_close(spec.values, torch.linalg.svdvals(layer.weight.detach()).float())
    spec64 = conv_svd(layer.weight, dtype=F64)
    v, u = spec64.vector(1)
    assert v.shape == (7,) and u.shape == (4,)
    torch.testing.assert_close(layer.weight.detach() @ v, spec64.values[1] * u)


def test_conv_module_settings_are_used() -> None:
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, padding_mode="circular", bias=True).double()
    spec = conv_svd(conv, (8, 8), stride=5, padding=7)  # keywords ignored for modules
    ref = dense_values(
        dense_conv_matrix(conv.weight, (8, 8), stride=2, padding=1, padding_mode="circular")
    )
    assert spec.exact
    torch.testing.assert_close(spec.values.double(), ref, rtol=1e-5, atol=1e-5)


def test_conv_transpose_is_the_adjoint() -> None:
    torch.manual_seed(11)
    layer = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1).double()
    spec = conv_svd(layer, (5, 5), dtype=F64)
    out_size = layer(torch.zeros(1, 6, 5, 5, dtype=F64)).shape[2:]
    assert tuple(out_size) == (10, 10)
    forward = dense_conv_matrix(layer.weight, (10, 10), stride=2, padding=1)
    torch.testing.assert_close(spec.values, dense_values(forward), rtol=1e-10, atol=1e-12)
    bias = layer(torch.zeros(1, 6, 5, 5, dtype=F64))[0]
    for i in (0, 7):
        v, u = spec.vector(i)
        assert v.shape == (6, 5, 5) and u.shape == (4, 10, 10)
        with torch.no_grad():
            torch.testing.assert_close(layer(v[None])[0] - bias, spec.values[i] * u)


def test_memory_budget_chunks_without_changing_values() -> None:
    w = _weight(6, 5, 3, 3, seed=12)
    big = conv_svd(w, (10, 10), padding=1, padding_mode="circular", dtype=F64)
    tiny = conv_svd(w, (10, 10), padding=1, padding_mode="circular", dtype=F64, memory_budget=64)
    torch.testing.assert_close(big.values, tiny.values, rtol=1e-12, atol=1e-12)


def test_top_k_of_fft_is_the_head_of_the_full_spectrum() -> None:
    w = _weight(6, 5, 3, 3, seed=13)
    full = conv_svd(w, (10, 10), padding=1, padding_mode="circular", dtype=F64)
    top = conv_svd(w, (10, 10), padding=1, padding_mode="circular", dtype=F64, k=5)
    torch.testing.assert_close(top.values, full.values[:5])
    torch.testing.assert_close(top.vector(4)[0], full.vector(4)[0])


def test_frequency_view() -> None:
    w = _weight(5, 4, 3, 3, seed=14)
    spec = conv_svd(w, (6, 7), padding=1, padding_mode="circular", dtype=F64)
    assert isinstance(spec, sw.FFTSpectrum)
    fv = spec.frequency_values
    assert fv.shape == (6, 7, 4)
    torch.testing.assert_close(fv.reshape(-1).sort(descending=True).values, spec.values)
    # symbol at frequency f by the definition, M(f) = Σ_ab W_ab exp(2πi (f_h (a-1)/6 + f_w (b-1)/7))
    for fh, fw in [(0, 0), (2, 5), (5, 1)]:
        m = sum(
            w[:, :, a, b] * complex(math.cos(t), math.sin(t))
            for a in range(3)
            for b in range(3)
            for t in [2 * math.pi * (fh * (a - 1) / 6 + fw * (b - 1) / 7)]
        )
        torch.testing.assert_close(fv[fh, fw], torch.linalg.svdvals(m))
    table = spec.frequencies
    assert table.shape == (len(spec), 2)
    assert [tuple(row) for row in table.tolist()] == [
        spec.frequency_of(i) for i in range(len(spec))
    ]
    d = spec.direction(0)
    assert d.sigma == pytest.approx(float(spec.values[0]))
    assert spec.frequency_of(0) == d.frequency
    torch.testing.assert_close(fv[d.frequency].max(), spec.values[0])
    assert d.right.shape == (4, 1, 1) and d.left.shape == (5,)
    zero = [i for i in range(len(spec)) if spec.frequency_of(i) == (0, 0)]
    assert len(zero) == 4
    assert float(spec.direction(zero[0]).right.imag.abs().max()) < 1e-12  # real at f = 0


@pytest.mark.parametrize("size", [(6, 7), (6, 8), (5, 5)])
def test_twin_is_the_other_real_vector_of_a_conjugate_pair(size: tuple[int, int]) -> None:
    w = _weight(4, 3, 3, 3, seed=16)
    spec = conv_svd(w, size, padding=1, padding_mode="circular", dtype=F64)
    nh, nw = size
    paired = 0
    for i in range(len(spec)):
        j = spec.twin(i)
        fh, fw = spec.frequency_of(i)
        self_conjugate = (-fh) % nh == fh and (-fw) % nw == fw
        if j is None:
            assert self_conjugate, (i, fh, fw)
            continue
        paired += 1
        assert not self_conjugate and spec.twin(j) == i and j != i
        assert float(spec.values[j]) == pytest.approx(float(spec.values[i]), rel=1e-12)
        di, dj = spec.direction(i), spec.direction(j)
        assert {di.part, dj.part} == {"real", "imag"}
        # one channel direction (the real part of the complex one), two orthogonal real vectors
        torch.testing.assert_close(di.right.real, dj.right.real)
        vi, vj = spec.vector(i)[0], spec.vector(j)[0]
        assert abs(float((vi * vj).sum())) < 1e-9
    real_blocks = sum((-a) % nh == a and (-b) % nw == b for a in range(nh) for b in range(nw))
    assert paired == len(spec) - real_blocks * 3  # every value off a real block has its twin
    top = conv_svd(w, size, padding=1, padding_mode="circular", dtype=F64, k=3)
    assert all(top.twin(i) is None or top.twin(i) < 3 for i in range(3))


def test_unfolded_and_slices_are_the_weight_spectra() -> None:
    w = _weight(6, 4, 3, 3, seed=15)
    unf = conv_svd(w, (8, 8), method="unfolded", dtype=F64)
    torch.testing.assert_close(unf.values, torch.linalg.svdvals(w.reshape(6, -1)))
    assert not unf.exact
    v, u = unf.vector(0)
    assert v.shape == (4, 3, 3)
    torch.testing.assert_close(w.reshape(6, -1) @ v.reshape(-1), unf.values[0] * u)
    sl = conv_svd(w, (8, 8), method="slices", dtype=F64)
    pooled = torch.cat([torch.linalg.svdvals(w[:, :, i, j]) for i in range(3) for j in range(3)])
    torch.testing.assert_close(sl.values, pooled.sort(descending=True).values)
    i, j = sl.tap_of(0)
    v, u = sl.vector(0)
    torch.testing.assert_close(w[:, :, i, j] @ v, sl.values[0] * u)


def test_float64_on_request_and_float32_by_default() -> None:
    w = _weight(3, 3, 3, 3).float()
    assert conv_svd(w, 5, padding=1, padding_mode="circular").values.dtype == torch.float32
    assert conv_svd(w, 5, padding=1, dtype=F64, padding_mode="circular").values.dtype == F64


def test_values_only_method_refuses_vectors() -> None:
    spec = conv_svd(_weight(3, 3, 3, 3), (6, 6), padding=1, method="spectral-density")
    with pytest.raises(SVDWidgetsError, match="spectral-density"):
        spec.vector(0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:  # pragma: no cover - CI has no GPU
    w = _weight(16, 8, 3, 3).float()
    for kw in (dict(padding=1), dict(stride=2, padding=1), dict(groups=8)):
        w_ = w[:, : 8 // kw.get("groups", 1)]
        cpu = conv_svd(w_, (12, 12), padding_mode="circular", **kw)
        gpu = conv_svd(w_, (12, 12), padding_mode="circular", device="cuda", **kw)
        torch.testing.assert_close(gpu.values, cpu.values, rtol=1e-4, atol=1e-5)


# -- bad input ---------------------------------------------------------------------------------

W = torch.ones(4, 2, 3, 3)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: conv_svd(torch.ones(4, 2, 3), (8, 8)), r"shape \(4, 2, 3\)"),
        (lambda: conv_svd(torch.ones(2, 2, 3, 3, 3), (8, 8)), r"shape \(2, 2, 3, 3, 3\)"),
        (lambda: conv_svd(W, (2, 8)), r"input size \(2, 8\)"),
        (lambda: conv_svd(W, (8, 8), dilation=4), r"kernel \(3, 3\) with dilation \(4, 4\)"),
        (lambda: conv_svd(W * float("nan"), (8, 8)), r"72 non-finite"),
        (lambda: conv_svd(W, (0, 8)), r"input_size must be >= 1, got \(0, 8\)"),
        (lambda: conv_svd(W, (8, 8), stride=0), r"stride must be >= 1, got 0"),
        (lambda: conv_svd(W, (8, 8), stride=-2), r"stride must be >= 1, got -2"),
        (lambda: conv_svd(W, (8, 8), padding=-1), r"padding must be >= 0, got -1"),
        (lambda: conv_svd(W, (8, 8), method="svd"), r"unknown method 'svd'"),
        (lambda: conv_svd(W, (8, 8), padding_mode="mirror"), r"unknown padding_mode 'mirror'"),
        (lambda: conv_svd(W, (8, 8), groups=3), r"groups=3 must divide the channels"),
        (lambda: conv_svd(W, (8, 8), groups=0), r"groups must be a positive int, got 0"),
        (lambda: conv_svd(W, (8, 8), k=0), r"k=0 is out of range"),
        (lambda: conv_svd(W, (8, 8), padding=1, k=10**6), r"k=1000000 is out of range"),
        (lambda: conv_svd(W, (8, 8), k=2.5), r"k must be a positive int or None, got 2.5"),
        (lambda: conv_svd(W, (8, 8), method="fft", stride=3), r"stride \(3, 3\) to divide"),
        (lambda: conv_svd(nn.ReLU(), (8, 8)), r"ReLU is not a Conv2d"),
        (lambda: conv_svd("weights", (8, 8)), r"got str"),
        (lambda: conv_svd(W, None), r"input_size=\(H, W\) is required"),
        (lambda: conv_svd(W.int(), (8, 8)), r"floating point, got dtype torch.int32"),
        (lambda: conv_svd(W, (8, 8), dtype=torch.float16), r"dtype must be.*torch.float16"),
        (lambda: conv_svd(W, (8, 8), memory_budget=0), r"memory_budget.*got 0"),
        (lambda: conv_svd(W, (8, 8), padding="full"), r"padding must be .* got 'full'"),
        (lambda: conv_svd(W, (8, 8), padding=8, padding_mode="reflect"), r"padding \(8, 8\)"),
        (
            lambda: conv_svd(W, (300, 300), padding=1, method="exact", memory_budget=1 << 20),
            r"360000 x 180000.*724.2 GiB \(budget 1.0 MiB\).*pass k=",
        ),
        (lambda: conv_svd(W, (8, 8), padding=1).vector(4 * 64), r"index 256 is out of range"),
        (lambda: conv_svd(W, (8, 8), padding=1).vector(-1), r"index -1 is out of range"),
        (lambda: conv_svd(W, (8, 8), device="tpu9"), r"unknown device 'tpu9'"),
    ],
)
def test_bad_input_raises_svdwidgets_error_naming_the_value(call, match) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SVDWidgetsWarning)
        with pytest.raises(SVDWidgetsError, match=match):
            call()


def test_error_type_is_a_value_error() -> None:
    assert issubclass(SVDWidgetsError, ValueError)


def test_auto_rounds_the_grid_up_when_the_stride_does_not_divide_a_large_input() -> None:
    w = _weight(8, 8, 3, 3, seed=16)
    with pytest.warns(SVDWidgetsWarning, match=r"rounded up to \(8, 8\)"):
        spec = conv_svd(w, (7, 7), stride=2, padding=1, memory_budget=1 << 12)
    assert spec.method == "fft" and not spec.exact
    ref = conv_svd(w, (8, 8), stride=2, padding=1, padding_mode="circular")
    torch.testing.assert_close(spec.values, ref.values)
    assert spec.vector(0)[0].shape == (8, 8, 8)
