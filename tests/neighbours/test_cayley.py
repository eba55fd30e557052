"""The Cayley orthogonal convolution against the engine and dense references."""

from __future__ import annotations

import pytest
import torch
from conv_reference import dense_conv_matrix, dense_values

import svdwidgets as sw
from svdwidgets.core.fft import half_plane_freqs, polyphase_kernel, symbols
from svdwidgets.core.geometry import geometry_from
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.neighbours._circular import half_plane_symbols
from svdwidgets.neighbours.cayley import CayleyConv2d, cayley, zero_padding_gap


def _layer(c_in: int, c_out: int, k: int = 3, seed: int = 0) -> CayleyConv2d:
    torch.manual_seed(seed)
    return CayleyConv2d(c_in, c_out, k).double()


@pytest.mark.parametrize("shape", [(3, 3), (5, 2), (2, 5)])
def test_cayley_blocks_are_semi_unitary(shape: tuple[int, int]) -> None:
    blocks = torch.randn(7, *shape, dtype=torch.complex128)
    q = cayley(blocks)
    c_out, c_in = shape
    gram = q.mH @ q if c_out >= c_in else q @ q.mH
    eye = torch.eye(min(shape), dtype=torch.complex128)
    assert torch.allclose(gram, eye.expand_as(gram), atol=1e-12)
    if c_out == c_in:  # the formula of the paper: (I - A)(I + A)^{-1}, A = V - V^H
        a = blocks - blocks.mH
        eye = torch.eye(c_in, dtype=a.dtype)
        assert torch.allclose(q, (eye - a) @ torch.linalg.inv(eye + a), atol=1e-12)


def test_parameter_symbols_match_the_engine() -> None:
    layer = _layer(3, 4, k=3)
    grid = (6, 8)
    g = geometry_from(layer.weight, grid, padding=1, padding_mode="circular")[1]
    engine = symbols(polyphase_kernel(layer.weight.detach(), g), half_plane_freqs(grid))[:, 0]
    ours = half_plane_symbols(layer.weight.detach(), grid, layer.offset).reshape(-1, 4, 3)
    assert torch.allclose(ours, engine, atol=1e-12)


@pytest.mark.parametrize(("c_in", "c_out", "n"), [(3, 3, 6), (2, 3, 5), (3, 2, 4)])
def test_circular_layer_is_orthogonal_through_the_engine(c_in: int, c_out: int, n: int) -> None:
    layer = _layer(c_in, c_out)
    conv = layer.to_conv2d(n)
    x = torch.randn(2, c_in, n, n, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(layer(x) - layer.bias[:, None, None], conv(x), atol=1e-12)
    # the dense reference (autograd Jacobian of nn.Conv2d) and the engine, both methods
    dense = dense_conv_matrix(conv.weight, (n, n), padding=conv.padding, padding_mode="circular")
    expected = min(c_in, c_out) * n * n
    assert torch.allclose(
        dense_values(dense)[:expected], torch.ones(expected, dtype=torch.float64), atol=1e-10
    )
    for method in ("exact", "fft"):
        values = sw.conv_svd(conv, (n, n), method=method, dtype=torch.float64).values
        assert len(values) == expected
        assert float((values - 1).abs().max()) < 1e-5
    # float32 layer, float32 engine: still 1 within 1e-5
    conv32 = CayleyConv2d(c_in, c_out, 3).to_conv2d(n)
    values32 = sw.conv_svd(conv32, (n, n)).values
    assert float((values32 - 1).abs().max()) < 1e-5


def test_zero_padding_breaks_orthogonality() -> None:
    layer = _layer(4, 4)
    circular = zero_padding_gap(layer, 8, padding_mode="circular")
    assert circular.max_error < 1e-10
    zeros = zero_padding_gap(layer, 8)
    assert zeros.sigma_max <= 1 + 1e-10 or zeros.sigma_max > 1  # defined either way
    assert zeros.max_error > 0.05  # wrapped-around taps read zeros: far from orthogonal
    assert zeros.sigma_min < 0.9
    truncated = zero_padding_gap(layer, 8, support="kernel")
    assert truncated.max_error > 0.05


def test_layer_trains_and_stays_orthogonal() -> None:
    layer = CayleyConv2d(2, 2, 3)
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    x = torch.randn(4, 2, 6, 6)
    loss = (layer(x) - x.flip(-1)).square().mean()
    loss.backward()
    assert layer.weight.grad is not None and float(layer.weight.grad.abs().sum()) > 0
    opt.step()
    with torch.no_grad():
        y = layer(x) - layer.bias[:, None, None]
    assert torch.allclose(
        torch.linalg.vector_norm(y, dim=(1, 2, 3)),
        torch.linalg.vector_norm(x, dim=(1, 2, 3)),
        rtol=1e-5,
    )


def test_bad_input() -> None:
    with pytest.raises(SVDWidgetsError, match="in_channels"):
        CayleyConv2d(0, 3)
    layer = CayleyConv2d(2, 3, 5)
    with pytest.raises(SVDWidgetsError, match="smaller than the kernel"):
        layer(torch.randn(1, 2, 4, 4))
    with pytest.raises(SVDWidgetsError, match=r"\(B, 2, H, W\)"):
        layer(torch.randn(1, 3, 8, 8))
    with pytest.raises(SVDWidgetsError, match="support"):
        layer.to_conv2d(8, support="half")
    with pytest.raises(SVDWidgetsError, match="CayleyConv2d"):
        zero_padding_gap(torch.nn.Conv2d(2, 2, 3), 8)  # type: ignore[arg-type]
