"""A grouped convolution's matrix is block diagonal: the exact method and the dense σ_max
decompose its ``groups`` diagonal blocks instead of the whole matrix (a depthwise layer with
144 channels at 4x4 px was one 576 x 2304 SVD, 0.15 s; it is 144 SVDs of 4 x 16)."""

from __future__ import annotations

import pytest
import torch

import svdwidgets as sw
from svdwidgets.core.conv_svd import auto_choice
from svdwidgets.core.geometry import dense_work, geometry_from
from svdwidgets.core.operator import ConvOperator
from svdwidgets.core.sigma_max import sigma_max_interval

CASES = [
    # (weight shape, input size, groups, stride, padding mode)
    ((12, 1, 3, 3), (5, 6), 12, 1, "zeros"),  # depthwise
    ((6, 4, 3, 3), (4, 5), 3, 2, "reflect"),  # strided, reflect padding
    ((4, 6, 3, 3), (6, 6), 2, 1, "circular"),  # more inputs than outputs per group
    ((8, 2, 3, 3), (3, 3), 4, 1, "zeros"),
]


@pytest.mark.parametrize(("shape", "size", "groups", "stride", "mode"), CASES)
def test_blocks_are_the_dense_matrix_diagonal(
    shape: tuple[int, ...], size: tuple[int, int], groups: int, stride: int, mode: str
) -> None:
    torch.manual_seed(0)
    w = torch.randn(shape, dtype=torch.float64)
    weight, g = geometry_from(w, size, padding=1, groups=groups, stride=stride, padding_mode=mode)
    op = ConvOperator(weight, g)
    blocks = op.to_dense_blocks()
    assert blocks.shape == (groups, g.dim_out // groups, g.dim_in // groups)
    # the dense matrix built column by column from conv2d, and nothing off the diagonal blocks
    assert torch.equal(torch.block_diag(*blocks), op.to_dense())


@pytest.mark.parametrize(("shape", "size", "groups", "stride", "mode"), CASES)
def test_exact_spectrum_of_a_grouped_layer(
    shape: tuple[int, ...], size: tuple[int, int], groups: int, stride: int, mode: str
) -> None:
    torch.manual_seed(1)
    w = torch.randn(shape, dtype=torch.float64)
    kw = {"padding": 1, "groups": groups, "stride": stride, "padding_mode": mode}
    spec = sw.conv_svd(w, size, method="exact", dtype=torch.float64, **kw)
    weight, g = geometry_from(w, size, **kw)
    op = ConvOperator(weight, g)
    reference = torch.linalg.svdvals(op.to_dense())
    torch.testing.assert_close(spec.values, reference[: len(spec.values)], rtol=0, atol=1e-12)
    for i in range(len(spec)):
        v, u = spec.vector(i)
        # A v = σ u with unit vectors: the i-th value's own block's vectors, zero elsewhere
        assert abs(float(v.norm()) - 1) < 1e-12 and abs(float(u.norm()) - 1) < 1e-12
        residual = op.matvec(v.reshape(-1)) - spec.values[i] * u.reshape(-1)
        assert float(residual.norm()) < 1e-10


def test_dense_sigma_max_of_a_grouped_layer_is_the_top_block() -> None:
    torch.manual_seed(2)
    w = torch.randn(64, 1, 3, 3, dtype=torch.float64)
    w[37] *= 4  # the top lies in channel 37
    weight, g = geometry_from(w, (4, 4), padding=1, groups=64)
    iv = sigma_max_interval(weight, g)
    assert iv.method == "dense-eigvalsh"
    truth = float(torch.linalg.svdvals(ConvOperator(weight, g).to_dense())[0])
    assert iv.lower <= truth <= iv.upper and iv.rel_width < 1e-9


def test_auto_takes_the_blocks_of_a_small_depthwise_layer() -> None:
    # MixNet-S's last depthwise convolutions at 64 px: 144 channels at 4x4, stride 2
    _, g = geometry_from(torch.zeros(144, 1, 5, 5), (4, 4), padding=2, stride=2, groups=144)
    assert dense_work(g) == 144 * 4 * 16 * 4  # per block, not 576 * 2304 * 576
    method, why = auto_choice(g, None, torch.float32, 1 << 30)
    assert method == "exact", why
