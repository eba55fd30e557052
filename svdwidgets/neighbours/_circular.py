"""Circular convolutions on a whole grid: symbols by FFT, and kernels back from symbols.

Shared by the neighbouring systems. The conventions are those of :mod:`svdwidgets.core.fft`:
a circular convolution on an ``N_h x N_w`` grid reads input ``x[i + q]`` (indices mod ``N``)
with the ``c_out x c_in`` tap ``w[q]``, and its symbol at frequency ``f`` is
``M(f) = Σ_q w[q] exp(+2πi f·q / N)``, so that ``rfft2(y)(f) = M(f) rfft2(x)(f)``. For a
``Conv2d`` weight with padding ``p``, tap ``a`` has offset ``q = a - p``.

A *periodic kernel* here is ``w`` as a ``(c_out, c_in, N_h, N_w)`` tensor indexed by
``q mod N``: every circular convolution on the grid is one, and :func:`periodic_to_conv2d`
turns it into a runnable ``nn.Conv2d`` (kernel ``2*(N//2)+1``, circular padding ``N//2``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "check_grid",
    "conv2d_from_kernel",
    "half_plane_symbols",
    "periodic_from_symbols",
    "periodic_to_kernel",
]

Pair = tuple[int, int]


def check_grid(value: object, name: str = "input_size") -> Pair:
    """``n`` or ``(H, W)`` as a pair of positive ints (an :class:`SVDWidgetsError` otherwise)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list, torch.Size))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise SVDWidgetsError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return int(value[0]), int(value[1])


def half_plane_symbols(weight: torch.Tensor, grid: Pair, padding: Pair) -> torch.Tensor:
    """The symbols ``M(f)`` of ``weight`` (``c_out x c_in x kh x kw``, tap offsets ``a - p``)
    as a circular convolution on ``grid``, on the half plane ``0 <= f_w <= N_w/2``.

    Returns a complex tensor ``(N_h, N_w//2 + 1, c_out, c_in)``, computed by ``rfft2`` (the
    conjugate of the DFT, times the phase of the offset ``-p``); differentiable.
    """
    nh, nw = grid
    kh, kw = int(weight.shape[2]), int(weight.shape[3])
    if kh > nh or kw > nw:
        raise SVDWidgetsError(f"the kernel {(kh, kw)} is larger than the grid {grid}")
    spectrum = torch.fft.rfft2(weight, s=(nh, nw)).conj()  # Σ_a w[a] exp(+2πi f·a/N)
    fh = torch.arange(nh, dtype=torch.float64, device=weight.device)[:, None]
    fw = torch.arange(nw // 2 + 1, dtype=torch.float64, device=weight.device)[None, :]
    theta = -2 * math.pi * (fh * padding[0] / nh + fw * padding[1] / nw)
    shift = torch.polar(torch.ones_like(theta), theta).to(spectrum.dtype)
    return (spectrum * shift).permute(2, 3, 0, 1)


def periodic_from_symbols(symbols: torch.Tensor, grid: Pair) -> torch.Tensor:
    """The periodic kernel ``w[q]`` (``c_out x c_in x N_h x N_w``) whose half-plane symbols are
    ``symbols`` (``(N_h, N_w//2 + 1, c_out, c_in)``): ``w[q] = (1/N) Σ_f M(f) exp(-2πi f·q/N)``,
    real because ``M(-f) = conj(M(f))`` is implied by the half plane (``irfft2``)."""
    return torch.fft.irfft2(symbols.permute(2, 3, 0, 1).conj(), s=grid)


def periodic_to_kernel(
    periodic: torch.Tensor, radius: Pair | None = None
) -> tuple[torch.Tensor, Pair]:
    """A ``Conv2d`` weight ``(c_out, c_in, 2r_h+1, 2r_w+1)`` and its padding ``r`` that read the
    periodic kernel's taps at offsets ``-r <= q <= r`` (``q`` mod ``N``).

    With the default ``r = N//2`` every tap is read once (for even ``N`` the offset ``+N/2``,
    the same as ``-N/2``, is left zero): applied with circular padding ``r`` it *is* the
    circular convolution. A smaller ``r`` keeps only the taps of the window (a truncation).
    """
    nh, nw = int(periodic.shape[2]), int(periodic.shape[3])
    rh, rw = (nh // 2, nw // 2) if radius is None else radius
    out = periodic.new_zeros((*periodic.shape[:2], 2 * rh + 1, 2 * rw + 1))
    qh = torch.arange(-rh, min(rh, nh - 1 - nh // 2) + 1)
    qw = torch.arange(-rw, min(rw, nw - 1 - nw // 2) + 1)
    qh = qh[qh >= -(nh // 2)]
    qw = qw[qw >= -(nw // 2)]
    block = periodic[:, :, (qh % nh)[:, None], (qw % nw)[None, :]]
    out[:, :, (qh + rh)[:, None], (qw + rw)[None, :]] = block
    return out, (rh, rw)


def conv2d_from_kernel(
    weight: torch.Tensor,
    padding: Pair,
    padding_mode: str,
    bias: torch.Tensor | None = None,
) -> nn.Conv2d:
    """A stride-1 ``nn.Conv2d`` holding a copy of ``weight`` (and ``bias``)."""
    c_out, c_in, kh, kw = weight.shape
    conv = nn.Conv2d(
        int(c_in),
        int(c_out),
        (int(kh), int(kw)),
        padding=padding,
        padding_mode=padding_mode,  # type: ignore[arg-type]
        bias=bias is not None,
    ).to(dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        conv.weight.copy_(weight.detach())
        if bias is not None and conv.bias is not None:
            conv.bias.copy_(bias.detach())
    return conv
