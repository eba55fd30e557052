"""Orthogonal convolutions through the Cayley transform, applied in the Fourier domain.

Trockman & Kolter, "Orthogonalizing Convolutional Layers with the Cayley Transform", ICLR 2021
(https://openreview.net/forum?id=Pbj8H_jEHYv). A circular convolution on an ``n x n`` grid is
block-diagonalised by the DFT (Sedghi et al. 2019, :mod:`svdwidgets.core.fft`): at frequency
``f`` it multiplies the channel vector by its symbol ``V(f)``. The Cayley transform of a
skew-Hermitian matrix ``A`` is unitary, ``Q = (I - A)(I + A)^{-1}``; applying it to
``A(f) = V(f) - V(f)^H`` at every frequency gives a convolution whose symbols are all unitary,
that is, an orthogonal operator: every singular value of the layer is 1. Because
``V(-f) = conj(V(f))`` for a real kernel, ``Q(-f) = conj(Q(f))`` and the layer stays real.

Different channel counts follow the paper (its ``cayley`` function): for ``c_out > c_in`` split
``V = [U; W]`` (``U`` the top ``c_in x c_in`` block) and take
``A = U - U^H + W^H W``, ``Q = [(I + A)^{-1}(I - A); -2 W (I + A)^{-1}]``, the first ``c_in``
columns of the Cayley transform of the ``c_out x c_out`` skew-Hermitian matrix
``[[U - U^H, -W^H], [W, 0]]``: its columns are orthonormal (``Q^H Q = I``), so the layer is
an isometry and its ``c_in n²`` singular values are 1. For ``c_in > c_out`` the transform of
``V^H`` is transposed back: the rows are orthonormal and the ``c_out n²`` values are 1.

The orthogonal layer is a *full-size* circular convolution: its spatial kernel covers the
whole ``n x n`` grid, not the ``k x k`` support of the parameter ``V``. It is orthogonal only
with circular padding and stride 1 on the grid it was built for; :func:`zero_padding_gap`
measures how far from orthogonal it is when the same kernel is applied with zero padding.
The paper's learnable scale ``α`` (``α V / ‖V‖``) is left out: the parameter is ``V`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from svdwidgets.core.conv_svd import conv_svd
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.neighbours._circular import (
    check_grid,
    conv2d_from_kernel,
    half_plane_symbols,
    periodic_from_symbols,
    periodic_to_kernel,
)

__all__ = ["SUPPORTS", "CayleyConv2d", "OrthogonalityGap", "cayley", "zero_padding_gap"]

SUPPORTS = ("full", "kernel")


def cayley(blocks: torch.Tensor) -> torch.Tensor:
    """The (semi-)unitary Cayley transform of every ``c_out x c_in`` block of ``blocks``.

    ``blocks`` is ``(..., c_out, c_in)``, complex or real. Square blocks ``V`` give
    ``(I - A)(I + A)^{-1}`` with ``A = V - V^H``; rectangular ones the paper's construction
    (module docstring). ``I + A`` is always invertible: the Hermitian part of ``A`` is
    ``W^H W ⪰ 0``.
    """
    if blocks.ndim < 2:
        raise SVDWidgetsError(f"blocks must be (..., c_out, c_in), got shape {tuple(blocks.shape)}")
    c_out, c_in = int(blocks.shape[-2]), int(blocks.shape[-1])
    if c_in > c_out:
        return cayley(blocks.mH).mH
    upper, lower = blocks[..., :c_in, :], blocks[..., c_in:, :]
    eye = torch.eye(c_in, dtype=blocks.dtype, device=blocks.device)
    a = upper - upper.mH + lower.mH @ lower
    numerator = torch.cat((eye - a, -2 * lower), dim=-2)
    # X (I + A) = [I - A; -2W]: (I - A) commutes with (I + A)^{-1}.
    return torch.linalg.solve(eye + a, numerator, left=False)


class CayleyConv2d(nn.Module):
    """An orthogonal circular convolution, parameterised by a ``k x k`` kernel ``V``.

    ``forward(x)`` takes ``x`` of shape ``(B, c_in, H, W)`` and returns ``(B, c_out, H, W)``:
    ``rfft2``, the Cayley transform ``Q(f)`` of ``V``'s symbol at each frequency (recomputed
    for the input's size, as in the paper), ``irfft2``, plus the bias. Stride 1, circular
    padding; ``V``'s tap ``a`` sits at offset ``a - (k-1)//2``.

    Parameters
    ----------
    in_channels, out_channels:
        ``c_in`` and ``c_out`` (different counts: see the module docstring).
    kernel_size:
        ``k`` or ``(kh, kw)``, the support of the parameter ``V`` (not of the orthogonal
        kernel, which fills the grid).
    bias:
        add a learnable bias (the affine map is then an isometry plus a shift).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SVDWidgetsError(f"{name} must be a positive int, got {value!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = check_grid(kernel_size, "kernel_size")
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Conv2d's initialisation

    @property
    def offset(self) -> tuple[int, int]:
        """The padding ``((kh-1)//2, (kw-1)//2)`` that centres ``V``'s taps."""
        return ((self.kernel_size[0] - 1) // 2, (self.kernel_size[1] - 1) // 2)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"bias={self.bias is not None}"
        )

    def _check_grid(self, input_size: object) -> tuple[int, int]:
        grid = check_grid(input_size)
        if grid[0] < self.kernel_size[0] or grid[1] < self.kernel_size[1]:
            raise SVDWidgetsError(
                f"input size {grid} is smaller than the kernel {self.kernel_size}"
            )
        return grid

    def symbols(self, input_size: object) -> torch.Tensor:
        """The orthogonal layer's symbols ``Q(f)`` on the half plane of the ``(H, W)`` grid:
        a complex ``(H, W//2 + 1, c_out, c_in)`` tensor (differentiable)."""
        grid = self._check_grid(input_size)
        return cayley(half_plane_symbols(self.weight, grid, self.offset))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise SVDWidgetsError(
                f"expected input (B, {self.in_channels}, H, W), got shape {tuple(x.shape)}"
            )
        grid = (int(x.shape[2]), int(x.shape[3]))
        q = self.symbols(grid).to(torch.complex128 if x.dtype == torch.float64 else None)
        xf = torch.fft.rfft2(x).permute(2, 3, 1, 0)  # (H, W//2+1, c_in, B)
        y = torch.fft.irfft2((q @ xf).permute(3, 2, 0, 1), s=grid)
        if self.bias is not None:
            y = y + self.bias[:, None, None]
        return y

    @torch.no_grad()
    def periodic_kernel(self, input_size: object) -> torch.Tensor:
        """The orthogonal layer's spatial kernel on the grid, ``(c_out, c_in, H, W)``, indexed
        by the tap offset ``q`` mod ``(H, W)``: ``y[i] = Σ_q w[q] x[i + q]`` (indices mod N)."""
        grid = self._check_grid(input_size)
        return periodic_from_symbols(self.symbols(grid), grid)

    @torch.no_grad()
    def to_conv2d(
        self, input_size: object, *, padding_mode: str = "circular", support: str = "full"
    ) -> nn.Conv2d:
        """The layer on the ``(H, W)`` grid as a plain ``nn.Conv2d`` (bias excluded).

        ``support="full"``: the whole periodic kernel, kernel size ``2*(N//2)+1`` and padding
        ``N//2``; with ``padding_mode="circular"`` this *is* the layer on that grid.
        ``support="kernel"``: only the taps inside ``V``'s ``k x k`` window (kernel size
        ``2*max(p, k-1-p)+1``, padding its half). ``padding_mode="zeros"`` applies the same
        kernel to zero-padded inputs: every output reads the same taps, but the taps that
        would wrap around the border read zeros instead.
        """
        if support not in SUPPORTS:
            raise SVDWidgetsError(f"support must be one of {SUPPORTS}, got {support!r}")
        if padding_mode not in ("circular", "zeros"):
            raise SVDWidgetsError(
                f"padding_mode must be 'circular' or 'zeros', got {padding_mode!r}"
            )
        grid = self._check_grid(input_size)
        periodic = self.periodic_kernel(grid)
        radius = None
        if support == "kernel":
            (kh, kw), (ph, pw) = self.kernel_size, self.offset
            radius = (
                min(max(ph, kh - 1 - ph), grid[0] // 2),
                min(max(pw, kw - 1 - pw), grid[1] // 2),
            )
        weight, padding = periodic_to_kernel(periodic, radius)
        return conv2d_from_kernel(weight, padding, padding_mode)

    def orthogonality_gap(
        self,
        input_size: object,
        *,
        padding_mode: str = "zeros",
        support: str = "full",
        method: str = "exact",
    ) -> OrthogonalityGap:
        """:func:`zero_padding_gap` of this layer (what the OrthogonalityGapView draws)."""
        return zero_padding_gap(
            self, input_size, padding_mode=padding_mode, support=support, method=method
        )


@dataclass(frozen=True)
class OrthogonalityGap:
    """How far a convolution is from orthogonal: its extreme singular values.

    ``sigma_max - 1`` and ``1 - sigma_min`` are 0 for an orthogonal (or semi-orthogonal)
    operator; ``values`` are all singular values (``conv_svd``, ``method``).
    """

    padding_mode: str
    support: str
    input_size: tuple[int, int]
    values: torch.Tensor
    method: str

    @property
    def sigma_max(self) -> float:
        return float(self.values.max())

    @property
    def sigma_min(self) -> float:
        return float(self.values.min())

    @property
    def max_error(self) -> float:
        """``max_i |σ_i - 1|``."""
        return float((self.values - 1).abs().max())


def zero_padding_gap(
    layer: CayleyConv2d,
    input_size: object,
    *,
    padding_mode: str = "zeros",
    support: str = "full",
    method: str = "exact",
) -> OrthogonalityGap:
    """The singular values of the Cayley layer's kernel applied on the ``(H, W)`` grid.

    The kernel is the layer's orthogonal kernel for that grid (:meth:`CayleyConv2d.to_conv2d`
    with ``support``): ``"full"`` (all ``H x W`` taps) or ``"kernel"`` (truncated to ``V``'s
    ``k x k`` window). With ``padding_mode="circular"`` and ``support="full"`` the values are
    all 1; with ``"zeros"`` the taps that wrap around read zeros and the operator is no longer
    orthogonal. Values from :func:`svdwidgets.conv_svd` (``method``: ``"exact"``, the dense
    operator, is the default; ``"fft"`` is exact only for circular padding).
    """
    if not isinstance(layer, CayleyConv2d):
        raise SVDWidgetsError(f"expected a CayleyConv2d, got {type(layer).__name__}")
    grid = check_grid(input_size)
    conv = layer.to_conv2d(grid, padding_mode=padding_mode, support=support)
    spec = conv_svd(conv.double(), grid, method=method, dtype=torch.float64)
    return OrthogonalityGap(padding_mode, support, grid, spec.values, spec.method)
