"""Linear convolutional networks: symbol products against dense operator products."""

from __future__ import annotations

import pytest
import torch
from conv_reference import dense_conv_matrix
from torch import nn

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.neighbours.linear_networks import (
    compose_kernels,
    dense_composition,
    end_to_end,
    filter_power,
    filter_root,
)


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(
        c_in,
        c_out,
        k,
        stride=stride,
        padding=k // 2,
        padding_mode="circular",
        bias=False,
        groups=groups,
    ).double()


@pytest.mark.parametrize("strided", [False, True])
def test_symbol_product_equals_dense_composition(strided: bool) -> None:
    torch.manual_seed(0)
    layers = [_conv(3, 4, 3, stride=2 if strided else 1), _conv(4, 4, 3, groups=2), _conv(4, 2, 1)]
    size = (6, 4)
    values = end_to_end(layers, size).values()
    # independent reference: autograd Jacobians of each nn.Conv2d, multiplied
    dense = torch.eye(3 * 6 * 4, dtype=torch.float64)
    grid = size
    for layer in layers:
        dense = (
            dense_conv_matrix(
                layer.weight,
                grid,
                stride=layer.stride,
                padding=layer.padding,
                groups=layer.groups,
                padding_mode="circular",
            )
            @ dense
        )
        grid = (grid[0] // layer.stride[0], grid[1] // layer.stride[1])
    reference = torch.linalg.svdvals(dense)
    assert len(values) == min(dense.shape)
    assert torch.allclose(values, reference[: len(values)], atol=1e-10)
    assert torch.allclose(dense_composition(layers, size), dense, atol=1e-12)


def test_composed_kernel_runs_the_stack() -> None:
    torch.manual_seed(1)
    a, b = _conv(2, 3, 3), _conv(3, 2, 5)
    kernel = compose_kernels([a.weight, b.weight])
    assert kernel.shape == (2, 2, 7, 7)
    x = torch.randn(2, 2, 9, 9, dtype=torch.float64)
    valid = torch.nn.functional.conv2d(torch.nn.functional.conv2d(x, a.weight), b.weight)
    assert torch.allclose(torch.nn.functional.conv2d(x, kernel), valid, atol=1e-12)
    # the engine on the composed kernel (circular, padding 1 + 2) gives the product's spectrum
    spec = sw.conv_svd(kernel, (9, 9), padding=3, padding_mode="circular", dtype=torch.float64)
    assert torch.allclose(spec.values, end_to_end([a, b], (9, 9)).values(), atol=1e-10)


def test_repeated_filter_detection() -> None:
    torch.manual_seed(2)
    for k, p in ((2, 2), (3, 2), (3, 3), (4, 2)):
        h = torch.randn(k, k, dtype=torch.float64)
        root = filter_root(filter_power(h, p), p)
        assert root is not None
        assert torch.allclose(filter_power(root, p), filter_power(h, p), atol=1e-10)
        assert torch.allclose(root.abs(), h.abs(), atol=1e-8)  # unique up to sign
    # a random filter of the same size is not a square; a shifted support still is
    assert filter_root(torch.randn(5, 5, dtype=torch.float64), 2) is None
    h = torch.zeros(3, 3, dtype=torch.float64)
    h[1:, 1:] = torch.randn(2, 2)
    assert filter_root(filter_power(h, 2), 2) is not None
    # a composition of two *different* filters is (generically) not a repeated one
    g = torch.randn(3, 3, dtype=torch.float64)
    two = compose_kernels([h[None, None], g[None, None]])
    assert filter_root(two, 2) is None
    # a negative leading coefficient cannot be an even power
    assert filter_root(-filter_power(h, 2), 2) is None


def test_bad_input() -> None:
    with pytest.raises(SVDWidgetsError, match="only the first layer"):
        end_to_end([_conv(2, 2, 3), _conv(2, 2, 3, stride=2)], (8, 8))
    with pytest.raises(SVDWidgetsError, match="assume_circular"):
        end_to_end([nn.Conv2d(2, 2, 3, padding=1)], (8, 8))
    with pytest.raises(SVDWidgetsError, match="not a circular convolution"):
        end_to_end([nn.Conv2d(2, 2, 3, padding=0, padding_mode="circular")], (8, 8))
    with pytest.raises(SVDWidgetsError, match="takes 3 channels"):
        end_to_end([_conv(2, 2, 3), _conv(3, 2, 3)], (8, 8))
    with pytest.raises(SVDWidgetsError, match=r"p\(k-1\)\+1"):
        filter_root(torch.randn(4, 4), 2)
    with pytest.raises(SVDWidgetsError, match="one-channel"):
        filter_root(torch.randn(2, 3, 5, 5), 2)
