"""The ``fft`` method: singular values of a circular convolution, one small SVD per frequency.

Sedghi, Gupta & Long, "The Singular Values of Convolutional Layers", ICLR 2019: a multi-channel
circular convolution on an ``N_h x N_w`` grid is block-diagonalised by the 2-D DFT; at frequency
``f`` it acts on the channel vector by the ``c_out x c_in`` matrix (the *symbol*)
``M(f) = Σ_taps W[:, :, a, b] exp(2πi (f_h q_h / N_h + f_w q_w / N_w))``, and the operator's
singular values are those of all the ``M(f)`` together.

Stride ``s`` (dividing the input size) goes through the polyphase rearrangement (Senderovich,
Zhang, Yavneh & Zhang, "Towards Practical Control of Singular Values of Convolutional Layers",
NeurIPS 2022): the input is split into its ``s_h*s_w`` sub-grids, which turns the strided
convolution into a stride-1 one on the ``(H/s_h) x (W/s_w)`` grid with ``s_h*s_w*c_in`` input
channels. Groups make each symbol block-diagonal (one block per group).

For real weights ``M(-f) = conj(M(f))``, so only the half plane ``0 <= f_w <= N_w/2`` is
computed; a frequency whose conjugate lies outside it counts twice. Shortcuts that change no
value: a kernel with a single polyphase tap (1x1 convs, non-overlapping patches) has the same
symbol up to a phase at every frequency, so one SVD serves all; a one-column block (depthwise)
needs a norm, not an SVD; a dilation ``d`` dividing the grid is the undilated kernel on the
``N/d`` grid, every value ``d_h*d_w`` times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from svdwidgets.core.geometry import ConvGeometry
from svdwidgets.core.solvers import batched_svdvals

__all__ = [
    "BlockValues",
    "PolyphaseKernel",
    "block_values",
    "half_plane_freqs",
    "half_plane_multiplicity",
    "polyphase_kernel",
    "symbols",
]


@dataclass(frozen=True)
class PolyphaseKernel:
    """The layer as a stride-1 circular convolution on the coarse grid.

    ``taps[t]`` (``groups x m x n`` with ``m = c_out/groups`` and ``n = s_h*s_w*c_in/groups``,
    columns ordered ``(channel, r_h, r_w)``) multiplies the input shifted by ``offsets[t]``.
    """

    taps: torch.Tensor
    offsets: tuple[tuple[int, int], ...]
    grid: tuple[int, int]

    @property
    def block_shape(self) -> tuple[int, int, int]:
        return (int(self.taps.shape[1]), int(self.taps.shape[2]), int(self.taps.shape[3]))


def polyphase_kernel(weight: torch.Tensor, geometry: ConvGeometry) -> PolyphaseKernel:
    """Rearrange ``weight`` (``c_out x c_in/groups x kh x kw``) into polyphase taps.

    Output pixel ``i`` reads input ``s*i + d*a - p`` for tap ``a``; writing ``d*a - p = s*q + r``
    with ``0 <= r < s``, it reads sub-grid ``r`` at coarse position ``i + q``.
    """
    g = geometry
    (sh, sw), (dh, dw), (ph, pw) = g.stride, g.dilation, g.padding
    grid = (g.input_size[0] // sh, g.input_size[1] // sw)
    c_out, c_in_g, kh, kw = weight.shape
    index: dict[tuple[int, int], int] = {}
    placed: list[tuple[int, int, int, int, int]] = []
    for a in range(kh):
        qh, rh = divmod(dh * a - ph, sh)
        for b in range(kw):
            qw, rw = divmod(dw * b - pw, sw)
            t = index.setdefault((qh, qw), len(index))
            placed.append((t, rh, rw, a, b))
    taps = weight.new_zeros((len(index), c_out, c_in_g, sh, sw))
    for t, rh, rw, a, b in placed:
        taps[t, :, :, rh, rw] += weight[:, :, a, b]
    m = c_out // g.groups
    taps = taps.reshape(len(index), g.groups, m, c_in_g * sh * sw)
    return PolyphaseKernel(taps=taps, offsets=tuple(index), grid=grid)


def half_plane_multiplicity(grid: tuple[int, int]) -> torch.Tensor:
    """How often each frequency of the half plane ``(N_h, N_w//2 + 1)`` occurs in the full one.

    Frequencies with ``0 < f_w < N_w/2`` stand for themselves and their conjugate (2); the
    columns ``f_w = 0`` and ``f_w = N_w/2`` contain their own conjugates (1).
    """
    nh, nw = grid
    mult = torch.full((nh, nw // 2 + 1), 2, dtype=torch.int64)
    mult[:, 0] = 1
    if nw % 2 == 0:
        mult[:, nw // 2] = 1
    return mult


def _phases(freqs: torch.Tensor, offsets: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """``exp(2πi (f_h q_h / N_h + f_w q_w / N_w))`` for every frequency (rows) and tap."""
    theta = (
        2
        * math.pi
        * (
            freqs[:, :1].double() * offsets[None, :, 0].double() / grid[0]
            + freqs[:, 1:].double() * offsets[None, :, 1].double() / grid[1]
        )
    )
    return torch.polar(torch.ones_like(theta), theta)


def symbols(kernel: PolyphaseKernel, freqs: torch.Tensor) -> torch.Tensor:
    """The symbol ``M(f)`` at each frequency of ``freqs`` (``F x 2`` ints).

    Returns a complex tensor ``(F, groups, m, n)``: a direct DFT over the taps, which is a
    single ``F x T`` by ``T x (groups*m*n)`` matrix product.
    """
    taps = kernel.taps
    t, gr, m, n = taps.shape
    offsets = torch.tensor(kernel.offsets, dtype=torch.int64)
    phase = _phases(freqs.cpu(), offsets, kernel.grid).to(taps.device)
    flat = taps.reshape(t, gr * m * n)
    real = phase.real.to(taps.dtype) @ flat
    imag = phase.imag.to(taps.dtype) @ flat
    return torch.complex(real, imag).reshape(-1, gr, m, n)


def half_plane_freqs(
    grid: tuple[int, int], start: int = 0, stop: int | None = None
) -> torch.Tensor:
    """Frequencies ``(f_h, f_w)`` of the half plane, row-major, ``[start, stop)`` of them."""
    half = grid[1] // 2 + 1
    stop = grid[0] * half if stop is None else stop
    idx = torch.arange(start, stop)
    return torch.stack([idx // half, idx % half], dim=1)


@dataclass(frozen=True)
class BlockValues:
    """Singular values of every half-plane frequency block.

    ``values`` has shape ``(N_h, N_w//2 + 1, groups, r)`` (descending along ``r``) and
    ``multiplicity`` shape ``(N_h, N_w//2 + 1)``; the operator's spectrum is every value
    repeated by its frequency's multiplicity.
    """

    values: torch.Tensor
    multiplicity: torch.Tensor
    grid: tuple[int, int]
    shortcut: str


def block_values(
    weight: torch.Tensor,
    geometry: ConvGeometry,
    *,
    dtype: torch.dtype,
    device: torch.device,
    memory_budget: int,
) -> BlockValues:
    """Singular values of the circular convolution, block by block (see the module docstring).

    ``weight`` is taken as a circular convolution on ``geometry.input_size`` with the layer's
    stride, padding offset, dilation and groups, whatever ``geometry.padding_mode`` says.
    """
    weight = weight.to(device=device, dtype=dtype)
    kernel = polyphase_kernel(weight, geometry)
    mult = half_plane_multiplicity(kernel.grid)
    shape = (*mult.shape, *kernel.block_shape[:1], min(kernel.block_shape[1:]))

    if len(kernel.offsets) == 1:
        # One tap: every symbol is a phase times the same matrix.
        # Columns of sub-grids no tap reads (a strided 1x1 conv reads one of s_h*s_w) are zero:
        # drop them before the SVD and put their zero singular values back after.
        tap = kernel.taps[0]
        used = tap.abs().amax(dim=(0, 1)) > 0
        one = batched_svdvals(tap[:, :, used]) if bool(used.any()) else tap.new_zeros(shape[2:3])
        one = torch.nn.functional.pad(one, (0, shape[-1] - one.shape[-1]))  # (groups, r)
        values = one.expand(shape).contiguous()
        return BlockValues(values.cpu(), mult, kernel.grid, "single-tap")

    reduced = _dilation_reduction(geometry)
    if reduced is not None:
        return _values_by_dilation(weight, geometry, reduced, dtype, device, memory_budget, mult)

    # on the device: a GPU fills every chunk without waiting for the host (FFTSpectrum sorts
    # there too, then moves the result)
    values = torch.empty(shape, dtype=dtype, device=device)
    flat = values.view(-1, *shape[2:])
    per_freq = max(1, math.prod(kernel.block_shape)) * (2 * dtype.itemsize) * 3
    chunk = max(1, memory_budget // per_freq)
    total = flat.shape[0]
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        blocks = symbols(kernel, half_plane_freqs(kernel.grid, start, stop))
        sv = batched_svdvals(blocks.reshape(-1, *blocks.shape[2:]))
        flat[start:stop] = sv.reshape(stop - start, *shape[2:])
    return BlockValues(values, mult, kernel.grid, "depthwise-norm" if shape[-1] == 1 else "none")


def _dilation_reduction(geometry: ConvGeometry) -> tuple[int, int] | None:
    d, n = geometry.dilation, geometry.input_size
    if geometry.stride != (1, 1) or d == (1, 1):
        return None
    if n[0] % d[0] or n[1] % d[1]:
        return None
    return (n[0] // d[0], n[1] // d[1])


def _values_by_dilation(
    weight: torch.Tensor,
    geometry: ConvGeometry,
    reduced: tuple[int, int],
    dtype: torch.dtype,
    device: torch.device,
    memory_budget: int,
    mult: torch.Tensor,
) -> BlockValues:
    """Dilation ``d`` dividing the grid: ``M(f) = phase * M̃(f mod N/d)`` where ``M̃`` is the
    undilated kernel's symbol on the ``N/d`` grid (the offset ``-p`` only adds a phase)."""
    small = ConvGeometry(
        geometry.c_out,
        geometry.c_in,
        geometry.kernel,
        reduced,
        groups=geometry.groups,
        padding_mode="circular",
    )
    coarse = block_values(
        weight, small, dtype=dtype, device=device, memory_budget=memory_budget
    ).values
    full = _full_plane(coarse, reduced)
    nh, nw = geometry.input_size
    fh = torch.arange(nh) % reduced[0]
    fw = torch.arange(nw // 2 + 1) % reduced[1]
    values = full[fh[:, None], fw[None, :]]
    return BlockValues(values.contiguous(), mult, geometry.input_size, "dilation")


def _full_plane(half: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Values on the whole ``N_h x N_w`` plane from the half plane (``σ(M(-f)) = σ(M(f))``)."""
    nh, nw = grid
    fh = torch.arange(nh)[:, None].expand(nh, nw)
    fw = torch.arange(nw)[None, :].expand(nh, nw)
    upper = fw > nw // 2
    src_h = torch.where(upper, (-fh) % nh, fh)
    src_w = torch.where(upper, nw - fw, fw)
    return half[src_h, src_w]
