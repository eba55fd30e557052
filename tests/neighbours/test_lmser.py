"""Tied (Lmser) decoders: the transposed layer's spectrum and the round trip's."""

from __future__ import annotations

import pytest
import torch
from conv_reference import dense_conv_matrix
from torch import nn

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.neighbours.lmser import TiedAutoencoder, roundtrip_matrix, tied_transpose


def _jacobian(module: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    x0 = torch.zeros(shape, dtype=torch.float64)
    return torch.autograd.functional.jacobian(lambda x: module(x[None])[0].reshape(-1), x0).reshape(
        -1, x0.numel()
    )


@pytest.mark.parametrize(("stride", "size"), [(1, (6, 5)), (2, (7, 8))])
def test_transpose_is_the_adjoint_with_the_same_spectrum(
    stride: int, size: tuple[int, int]
) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, stride=stride, padding=1, bias=False).double()
    deconv = tied_transpose(conv, size)
    assert deconv.weight is conv.weight
    out = conv(torch.zeros(1, 3, *size, dtype=torch.float64)).shape[2:]
    a = dense_conv_matrix(conv.weight, size, stride=stride, padding=1)
    assert torch.allclose(_jacobian(deconv, (4, *out)), a.T, atol=1e-12)
    s_conv = sw.conv_svd(conv, size, method="exact", dtype=torch.float64).values
    s_deconv = sw.conv_svd(deconv, tuple(out), method="exact", dtype=torch.float64).values
    assert torch.allclose(s_conv, s_deconv, atol=1e-10)
    assert torch.allclose(s_conv, torch.linalg.svdvals(a)[: len(s_conv)], atol=1e-10)


def test_round_trip_spectrum_is_squared() -> None:
    torch.manual_seed(1)
    size = (6, 6)
    encoder = [
        nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False).double(),
        nn.Conv2d(3, 4, 3, padding=1, bias=False).double(),
    ]
    ae = TiedAutoencoder(encoder, size)
    x = torch.randn(2, 2, *size, dtype=torch.float64)
    assert ae(x).shape == x.shape
    roundtrip = roundtrip_matrix(ae)
    assert torch.allclose(roundtrip, roundtrip.T, atol=1e-12)  # A^T A is symmetric
    eig = torch.linalg.eigvalsh(roundtrip).flip(0)
    a = dense_conv_matrix(encoder[1].weight, (3, 3), padding=1) @ dense_conv_matrix(
        encoder[0].weight, size, stride=2, padding=1
    )
    sigma = torch.linalg.svdvals(a)  # 36 values (the code has 4*3*3 = 36 entries; input 72)
    assert torch.allclose(eig[: len(sigma)], sigma.square(), atol=1e-10)
    assert float(eig[len(sigma) :].abs().max()) < 1e-10
    # one layer: the round trip's eigenvalues are conv_svd's values squared
    one = TiedAutoencoder([encoder[0]], size)
    eig1 = torch.linalg.eigvalsh(roundtrip_matrix(one)).flip(0)
    s1 = sw.conv_svd(encoder[0], size, method="exact", dtype=torch.float64).values
    assert torch.allclose(eig1[: len(s1)], s1.square(), atol=1e-10)


def test_bad_input() -> None:
    with pytest.raises(SVDWidgetsError, match="circular"):
        tied_transpose(nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular"), 6)
    with pytest.raises(SVDWidgetsError, match="takes 3 channels"):
        TiedAutoencoder([nn.Conv2d(2, 2, 3), nn.Conv2d(3, 2, 3)], 8)
    with pytest.raises(SVDWidgetsError, match="activation"):
        roundtrip_matrix(TiedAutoencoder([nn.Conv2d(2, 2, 3)], 8, activation=nn.ReLU()))
