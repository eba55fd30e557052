"""Certified spectral-norm upper bounds of convolutional layers by Gram iteration.

B. Delattre, Q. Barthélemy, A. Araujo & A. Allauzen, "Efficient Bound of Lipschitz Constant for
Convolutional Layers by Gram Iteration", ICML 2023; B. Delattre, Q. Barthélemy & A. Allauzen,
"Spectral Norm of Convolutional Layers with Circular and Zero Paddings", arXiv 2402.00240 (2024).

Gram iteration
--------------
For a matrix ``M`` let ``G_0 = M`` and ``G_{t+1} = G_tᴴ G_t``, so ``G_t = (MᴴM)^{2^{t-1}}`` for
``t >= 1``. Then

    σ_1(M) <= ‖G_t‖_F^{1/2^t} = (Σ_i σ_i(M)^{2^{t+1}})^{1/2^{t+1}},

the ``ℓ_p`` norm (``p = 2^{t+1}``) of the singular values: an upper bound for every ``t``,
non-increasing in ``t`` (``ℓ_p`` norms decrease with ``p``), and within a factor
``rank^{1/2^{t+1}}`` of ``σ_1`` (the "quadratic convergence" of the papers: the ratios
``(σ_i/σ_1)`` are squared at every step). To avoid overflow each iterate is divided by its
Frobenius norm ``r_t`` and the scale is carried in log form: with ``Ĝ_{t+1} = (Ĝ_t/r_t)ᴴ(Ĝ_t/r_t)``
and ``log c_{t+1} = 2 (log c_t + log r_t)``, ``G_t = c_t Ĝ_t`` and the bound is
``exp((log c_t + log ‖Ĝ_t‖_F) / 2^t)``. Everything is computed in float64 / complex128.

Circular padding (the layer *is* a circular convolution, ``geometry.fft_is_exact``)
-----------------------------------------------------------------------------------
The operator is unitarily block-diagonal with the symbol blocks ``M(f)`` (Sedghi et al. 2019;
for strides the polyphase symbol, :mod:`svdwidgets.core.fft`), so ``σ_max = max_f σ_1(M(f))``.
The bound is ``max_f ‖G_t(f)‖_F^{1/2^t}`` over the half-plane frequencies (``M(-f)`` is the
conjugate of ``M(f)``) and the groups — the per-frequency form of Lip_Conv in the ICML 2023 paper,
tighter than the Frobenius norm of the whole block-diagonal Gram iterate, and still an upper bound
because each term bounds its own block.

Zero padding, and every other layer
-----------------------------------
The 2024 paper bridges zero and circular padding through a circular convolution on a larger grid.
Its text was not reachable when this module was written, so here is the statement used and its
proof. Per axis, let ``n`` be the input length, ``p`` the padding, ``d`` the dilation, ``k`` the
kernel size, ``s`` the stride and ``n'`` the output length; output ``i`` reads input
``r = s i + d a - p`` through tap ``a``.

*Zero padding.* Take ``N`` the smallest multiple of ``s`` with ``N >= n + p`` and
``N >= s n'``. Embed the input in ``C^N`` by zeros (an isometry ``E``) and run the circular
convolution ``C_N`` with the same taps, stride, dilation and offset ``-p``; output ``i < n'``
of ``C_N`` reads ``r mod N``. For ``i < n'``, ``-p <= r <= s(n'-1) + d(k-1) - p <= n + p - 1``;
a read ``r < 0`` lands on ``N + r >= N - p >= n`` (zeros of ``E``) and a read ``r >= n`` stays
at ``r < N`` (zeros too), so no wrap-around reaches the data: the layer is ``S C_N E`` with ``S``
the selection of outputs ``i < n'``. Hence ``‖A‖ <= ‖C_N‖`` (and even
``σ_i(A) <= σ_i(C_N)``). With ``p = (k-1)/2`` this is a grid of ``n + (k-1)/2``, smaller than
the ``n + k - 1`` of the full linear convolution.

*Reflect, replicate, and circular padding that does not make a circular convolution.* The layer
is ``A = V P``: ``P`` pads (a 0/1 matrix with one 1 per row, so ``PᵀP = diag(copies)`` and
``‖P‖ = sqrt(max copies)``, a product over the two axes) and ``V`` is the unpadded convolution on
the padded size ``n + 2p``, which by the argument above (with ``p = 0``) is a compression of
``C_N`` with ``N`` the smallest multiple of ``s`` with ``N >= n + 2p``. Hence
``‖A‖ <= ‖P‖ ‖C_N‖``.

In both cases the Gram iteration runs on the symbols of ``C_N`` (a circular convolution, so the
bound above applies) and the result is multiplied by ``‖P‖`` (1 for zero padding).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from svdwidgets.core.checks import check_memory_budget, resolve_device
from svdwidgets.core.fft import half_plane_freqs, polyphase_kernel, symbols
from svdwidgets.core.geometry import ConvGeometry, geometry_from
from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "MAX_N_ITER",
    "SpectralNormBound",
    "circular_embedding",
    "gram_iteration_bound",
    "padding_operator_norm",
    "spectral_norm_bound",
    "spectral_norm_certificate",
]

MAX_N_ITER = 64
"""The largest ``n_iter`` accepted (``ℓ_{2^65}``: far past float64 resolution)."""

_NUMPY_PAD = {"circular": "wrap", "reflect": "reflect", "replicate": "edge"}


@dataclass(frozen=True)
class SpectralNormBound:
    """A certified upper bound on a layer's spectral norm and how it was obtained.

    ``value >= σ_max`` of the operator ``torch.nn.functional.conv2d`` computes (bias excluded).
    ``method`` is ``"gram-circular"`` (the layer is a circular convolution on ``grid``),
    ``"gram-zero-padding-embedding"`` (compression of the circular convolution on ``grid``) or
    ``"gram-padding-embedding"`` (``padding_factor * ‖C_grid‖``). ``grid`` is the full-resolution
    circular grid; ``float(bound)`` is ``value``.
    """

    value: float
    n_iter: int
    padding_mode: str
    method: str
    grid: tuple[int, int]
    padding_factor: float = 1.0

    def __float__(self) -> float:
        return self.value


def _check_n_iter(n_iter: object) -> int:
    if isinstance(n_iter, bool) or not isinstance(n_iter, int):
        raise SVDWidgetsError(f"n_iter must be an int, got {n_iter!r}")
    if not 1 <= n_iter <= MAX_N_ITER:
        raise SVDWidgetsError(f"n_iter must be between 1 and {MAX_N_ITER}, got {n_iter!r}")
    return n_iter


def _frobenius(g: torch.Tensor) -> torch.Tensor:
    """Frobenius norms of a batch, scaled by the largest modulus first (no overflow at 1e200)."""
    big = g.abs().amax(dim=(-2, -1))
    big = torch.where(big > 0, big, torch.ones_like(big))
    return big * torch.linalg.matrix_norm(g / big[:, None, None].to(g.dtype))


def gram_iteration_bound(blocks: torch.Tensor, n_iter: int) -> torch.Tensor:
    """Upper bounds ``‖G_t‖_F^{1/2^t}`` on ``σ_1`` of every matrix in ``blocks``.

    Parameters
    ----------
    blocks:
        ``(B, m, n)`` real or complex. Computed in float64 / complex128.
    n_iter:
        ``t >= 1``, the number of Gram steps ``G <- GᴴG`` (on the smaller side).

    Returns
    -------
    torch.Tensor
        ``(B,)`` float64, each ``>= σ_1`` of its block (0 for a zero block).
    """
    n_iter = _check_n_iter(n_iter)
    g = blocks.to(torch.complex128 if blocks.is_complex() else torch.float64)
    if g.shape[-2] < g.shape[-1]:
        g = g.mH  # same singular values; the Gram matrices are the smaller ones
    log_scale = torch.zeros(g.shape[0], dtype=torch.float64, device=g.device)
    for _ in range(n_iter):
        r = _frobenius(g)
        r = torch.where(r > 0, r, torch.ones_like(r))
        g = g / r[:, None, None].to(g.dtype)
        log_scale = 2 * (log_scale + r.log())
        g = g.mH @ g
    final = _frobenius(g)
    return torch.exp((log_scale + final.log()) / 2.0**n_iter)


def padding_operator_norm(geometry: ConvGeometry) -> float:
    """``‖P‖₂`` of the padding the layer applies before an unpadded convolution.

    1 for zero padding and for layers that are circular convolutions on the input grid (their
    bounds need no padding operator). Otherwise ``P = P_h ⊗ P_w`` copies input pixels, ``PᵀP``
    is diagonal with the copy counts, and ``‖P‖ = sqrt(max copies_h · max copies_w)``; the copies
    are counted with ``numpy.pad`` in the mode matching torch's (``wrap``, ``reflect``,
    ``edge``).
    """
    if geometry.padding_mode == "zeros" or geometry.fft_is_exact:
        return 1.0
    mode = _NUMPY_PAD[geometry.padding_mode]
    worst = 1
    for n, p in zip(geometry.input_size, geometry.padding, strict=True):
        index = np.pad(np.arange(n), p, mode=mode)  # type: ignore[call-overload]
        worst *= int(np.bincount(index, minlength=n).max())
    return math.sqrt(worst)


def circular_embedding(geometry: ConvGeometry) -> tuple[ConvGeometry, float, str]:
    """The circular convolution that dominates the layer, the padding factor, and the method.

    Returns ``(circular_geometry, factor, method)`` with ``σ_max(layer) <= factor ·
    σ_max(circular_geometry)`` (see the module docstring for the proof). The returned geometry
    has ``padding_mode="circular"``, an input size divisible by the stride, and the padding that
    gives its taps' offsets (``-p`` for zero padding, ``0`` after an explicit padding).
    """
    g = geometry
    if g.fft_is_exact:
        return _circular(g, g.input_size, g.padding), 1.0, "gram-circular"
    sizes: list[int] = []
    offsets: list[int] = []
    for axis in (0, 1):
        n, p, s = g.input_size[axis], g.padding[axis], g.stride[axis]
        n_out = g.output_size[axis]
        if g.padding_mode == "zeros":
            need = max(n + p, s * n_out)
            offsets.append(p)
        else:
            need = n + 2 * p
            offsets.append(0)
        sizes.append(-(-need // s) * s)
    zeros = g.padding_mode == "zeros"
    method = "gram-zero-padding-embedding" if zeros else "gram-padding-embedding"
    grid = (sizes[0], sizes[1])
    return _circular(g, grid, (offsets[0], offsets[1])), padding_operator_norm(g), method


def _circular(g: ConvGeometry, size: tuple[int, int], padding: tuple[int, int]) -> ConvGeometry:
    return dataclasses.replace(g, input_size=size, padding=padding, padding_mode="circular")


def spectral_norm_certificate(
    weight_or_module: object,
    input_size: object = None,
    *,
    stride: object = 1,
    padding: object = 0,
    dilation: object = 1,
    groups: object = 1,
    padding_mode: object = "zeros",
    n_iter: int = 6,
    device: torch.device | str | None = None,
    memory_budget: int = 1 << 28,
) -> SpectralNormBound:
    """:func:`spectral_norm_bound` with its provenance (:class:`SpectralNormBound`)."""
    n_iter = _check_n_iter(n_iter)
    memory_budget = check_memory_budget(memory_budget)
    weight, geometry = geometry_from(
        weight_or_module,
        input_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
    )
    dev = resolve_device(device, weight)
    circ, factor, method = circular_embedding(geometry)
    kernel = polyphase_kernel(weight.detach().to(device=dev, dtype=torch.float64), circ)
    nh, nw = kernel.grid
    gr, m, n = kernel.block_shape
    side = min(m, n)
    per_freq = gr * (m * n + 3 * side * side) * 16
    chunk = max(1, memory_budget // max(1, per_freq))
    total = nh * (nw // 2 + 1)
    best = 0.0
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        blocks = symbols(kernel, half_plane_freqs(kernel.grid, start, stop))
        bound = gram_iteration_bound(blocks.reshape(-1, m, n), n_iter)
        best = max(best, float(bound.max()))
    return SpectralNormBound(
        value=best * factor,
        n_iter=n_iter,
        padding_mode=geometry.padding_mode,
        method=method,
        grid=circ.input_size,
        padding_factor=factor,
    )


def spectral_norm_bound(
    weight_or_module: object,
    input_size: object = None,
    *,
    stride: object = 1,
    padding: object = 0,
    dilation: object = 1,
    groups: object = 1,
    padding_mode: object = "zeros",
    n_iter: int = 6,
    device: torch.device | str | None = None,
    memory_budget: int = 1 << 28,
) -> float:
    """A certified upper bound on the spectral norm of a convolution, by Gram iteration.

    Delattre et al. (ICML 2023; arXiv 2402.00240, 2024): ``σ_max <= max_f
    ‖G_t(f)‖_F^{1/2^t}`` over the symbol blocks of the layer's circular convolution, or of the
    larger circular convolution a zero-padded (or otherwise padded) layer is a compression of,
    times the padding operator's norm (see the module docstring for the statements and proofs).

    Parameters
    ----------
    weight_or_module:
        a ``(c_out, c_in/groups, kh, kw)`` weight, a ``(out, in)`` linear weight, or an
        ``nn.Conv2d`` / ``nn.ConvTranspose2d`` / ``nn.Linear`` (its own settings are used).
    input_size, stride, padding, dilation, groups, padding_mode:
        as for :func:`svdwidgets.conv_svd`.
    n_iter:
        Gram steps ``t`` (``1 <= t <= 64``); the bound is non-increasing in ``t`` and its
        relative excess over the circular norm is at most ``rank^{2^-(t+1)} - 1``.
    device:
        where to compute (default: the weight's device); always float64.
    memory_budget:
        bytes the symbol blocks and their Gram iterates may hold at once.

    Returns
    -------
    float
        ``>= σ_max`` of the operator ``torch.nn.functional.conv2d`` computes (bias excluded).
    """
    return spectral_norm_certificate(
        weight_or_module,
        input_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
        n_iter=n_iter,
        device=device,
        memory_budget=memory_budget,
    ).value
