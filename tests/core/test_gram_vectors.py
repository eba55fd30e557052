"""The ``fft`` method's singular vectors from each block's complex128 Gram matrix (only its top
eigenpairs, LAPACK's MRRR), checked on the dense circular operator: ``A v = σ u`` and
``Aᵀ u = σ v`` for every direction asked, on blocks wider than one decomposition's subset, on
blocks whose values are all equal (any orthonormal basis of the cluster is right, and it must
be orthonormal), and on rank-deficient blocks, where the tiny values take the block's SVD."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from svdwidgets.core.conv_svd import conv_svd
from svdwidgets.core.spectrum import _GRAM_FLOOR, _gram_pairs, _subset_size


def _dense(conv: nn.Conv2d, size: int) -> torch.Tensor:
    """The circular convolution on ``size x size`` as an ``(out, in)`` float64 matrix (for a
    1x1 kernel there is no padding: the layer's own operator)."""
    c_in = conv.in_channels
    basis = torch.eye(c_in * size * size, dtype=torch.float64).reshape(-1, c_in, size, size)
    pad = conv.padding[0]
    padded = F.pad(basis, (pad, pad, pad, pad), mode="circular") if pad else basis
    out = F.conv2d(padded, conv.weight.detach().double(), stride=conv.stride, groups=conv.groups)
    return out.reshape(basis.shape[0], -1).T


def _check(conv: nn.Conv2d, size: int, count: int) -> None:
    spec = conv_svd(conv, (size, size), method="fft")
    a = _dense(conv, size)
    top = float(spec.values[0])
    pairs = spec.vectors(range(count))
    us = torch.stack([u.double().reshape(-1) for _, u in pairs])
    for i, (v, u) in enumerate(pairs):
        sigma = float(spec.values[i])
        v, u = v.double().reshape(-1), u.double().reshape(-1)
        assert abs(float(v.norm()) - 1) < 1e-5 and abs(float(u.norm()) - 1) < 1e-5, i
        assert torch.linalg.vector_norm(a @ v - sigma * u) <= 2e-6 * top, i
        assert torch.linalg.vector_norm(a.T @ u - sigma * v) <= 2e-6 * top, i
    # distinct directions: the left vectors asked are orthonormal
    gram = us @ us.T
    assert torch.allclose(gram, torch.eye(count, dtype=torch.float64), atol=1e-5)


def test_wide_blocks_beyond_one_subset() -> None:
    """40 channels: a block holds up to 24 values and the top 40 directions reach ranks
    beyond the first subset of 8, so several decompositions of one block serve them."""
    torch.manual_seed(3)
    conv = nn.Conv2d(24, 40, 3, padding=1, padding_mode="circular", bias=False)
    _check(conv, 4, 60)


def test_equal_values_give_an_orthonormal_basis() -> None:
    """An orthogonal 1x1 convolution: every value is 2, every block a scaled unitary (one
    cluster of 16); the vectors asked must still be singular vectors and orthonormal."""
    torch.manual_seed(4)
    q, _ = torch.linalg.qr(torch.randn(16, 16))
    conv = nn.Conv2d(16, 16, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(2 * q[:, :, None, None])
    spec = conv_svd(conv, (4, 4), method="fft")
    assert torch.allclose(spec.values, torch.full_like(spec.values, 2.0), atol=1e-5)
    _check(conv, 4, 48)


def test_close_values_come_in_order() -> None:
    """Values 0.1% apart in each block (too close for inverse iteration): the Gram subset
    gives them, and each vector belongs to its own value (a mix-up of the order fails)."""
    torch.manual_seed(7)
    q1, _ = torch.linalg.qr(torch.randn(16, 16))
    q2, _ = torch.linalg.qr(torch.randn(16, 16))
    w = q1 @ torch.diag(2 + 0.002 * torch.arange(16.0)) @ q2.T
    conv = nn.Conv2d(16, 16, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(w[:, :, None, None])
    _check(conv, 2, 24)


def test_rank_deficient_blocks_take_the_svd_below_the_floor() -> None:
    """A 1x1 convolution of rank 3: each block has 3 nonzero values and 13 zeros; the zeros are
    below ``_GRAM_FLOOR`` and come from the block's SVD (still unit, still orthonormal)."""
    torch.manual_seed(5)
    low = torch.randn(16, 3) @ torch.randn(3, 16)
    conv = nn.Conv2d(16, 16, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(low[:, :, None, None])
    spec = conv_svd(conv, (2, 2), method="fft")
    assert float(spec.values[3 * 4]) < _GRAM_FLOOR * float(spec.values[0])
    _check(conv, 2, 20)


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(24, 40, 1, stride=2, bias=False),
        nn.Conv2d(40, 24, 1, stride=2, bias=False),
        nn.Conv2d(24, 40, 1, bias=False),
        nn.Conv2d(24, 40, 1, stride=2, groups=4, bias=False),
    ],
    ids=["stride2-wide", "stride2-narrow", "stride1", "stride2-groups4"],
)
def test_single_tap_layers_share_one_decomposition(conv: nn.Conv2d) -> None:
    """A 1x1 conv: every frequency's block is a phase times the tap matrix, whose unread
    columns (3 of 4 at stride 2) are dropped; the vectors are the dense operator's, and
    ``vectors`` gives the bits of ``vector``."""
    torch.manual_seed(8)
    nn.init.normal_(conv.weight)
    spec = conv_svd(conv, (8, 8), method="fft")
    assert spec.shortcut == "single-tap" and spec.exact
    _check(conv, 8, 40)
    batched = spec.vectors(range(40))
    for i in range(40):
        v, u = spec.vector(i)
        assert torch.equal(batched[i][0], v) and torch.equal(batched[i][1], u), i


def test_single_tap_blocks_carry_their_phase() -> None:
    """A padded 1x1 conv: its blocks are ``c_f T`` with ``|c_f| = 1`` not 1; each block's
    triplet from the shared decomposition satisfies ``B_f v = σ u`` for that block."""
    from svdwidgets.core.fft import symbols

    torch.manual_seed(9)
    conv = nn.Conv2d(6, 10, 1, padding=1, padding_mode="circular", bias=False)
    spec = conv_svd(conv, (8, 8), method="fft")
    assert spec.shortcut == "single-tap"
    phases = 0
    for fh, fw in [(0, 0), (1, 2), (3, 1), (5, 4)]:
        block = symbols(spec._kernel, torch.tensor([[fh, fw]]))[0, 0].to(torch.complex128)
        phases += int(abs(complex(block[0, 0]) / complex(block.abs()[0, 0]) - 1) > 1e-3)
        for rank in range(4):
            u, sigma, v = spec._pair(fh, fw, 0, rank, None)
            residual = block @ v.to(torch.complex128) - sigma * u.to(torch.complex128)
            assert float(residual.abs().max()) < 1e-5 * float(spec.values[0]), (fh, fw, rank)
    assert phases >= 2  # the case tests something: most blocks are not T itself


@pytest.mark.parametrize("shape", [(12, 30), (30, 12), (16, 16)])
def test_gram_pairs_match_the_svd(shape: tuple[int, int]) -> None:
    torch.manual_seed(6)
    block = torch.randn(*shape, dtype=torch.complex64)
    left, sigma, right = _gram_pairs(block, 5)
    ref = torch.linalg.svdvals(block.to(torch.complex128))
    assert torch.allclose(sigma.double(), ref[:5], rtol=1e-6)
    wide = block.to(torch.complex128)
    residual = wide @ right.to(torch.complex128) - left.to(torch.complex128) * sigma.double()
    assert float(residual.abs().max()) < 1e-5 * float(ref[0])
    assert left.dtype == block.dtype and right.dtype == block.dtype


def test_subset_size_depends_on_the_rank_alone() -> None:
    assert [_subset_size(r, 100) for r in (0, 7, 8, 15, 16, 40)] == [8, 8, 16, 16, 32, 64]
    assert _subset_size(40, 24) == 24
