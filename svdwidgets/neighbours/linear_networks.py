"""Linear convolutional networks: a stack of convolutions without nonlinearity is one.

Kohn, Merkh, Montúfar & Trager, "Geometry of Linear Convolutional Networks", SIAM J. Appl.
Algebra Geometry 2022 (arXiv:2108.01538): the end-to-end map of ``L`` convolutions with no
nonlinearity between them is a convolution whose filter is the composition of the filters; a
filter is a polynomial (tap ``a`` <-> monomial ``x^a``) and composition multiplies them, so the
*function space* of a linear convolutional network is a set of polynomials that factor with
the layers' degrees.

On the Fourier side the same fact is a product of symbols (Sedghi et al. 2019,
:mod:`svdwidgets.core.fft`): with circular padding, the stack acts at frequency ``f`` by
``M(f) = M_L(f) ··· M_1(f)``, and its singular values are those of all the products. A first
layer with stride ``s`` (dividing the grid) enters through its polyphase symbol
(``c_out x s²c_in``, Senderovich et al. 2022) on the ``N/s`` grid on which every later layer
then runs; later layers must have stride 1 (a stride there would need every earlier layer's
polyphase form on a finer grid, which is not implemented: it raises, naming the stride).

:func:`filter_root` tests the simplest factorisation the paper's picture asks about: whether a
one-channel filter is a smaller filter composed with itself ``p`` times (a perfect ``p``-th
power of a bivariate polynomial), by an exact recursion on the coefficients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from svdwidgets.core.fft import half_plane_freqs, half_plane_multiplicity, polyphase_kernel, symbols
from svdwidgets.core.geometry import ConvGeometry, geometry_from
from svdwidgets.core.operator import ConvOperator
from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "EndToEnd",
    "compose_kernels",
    "dense_composition",
    "end_to_end",
    "filter_power",
    "filter_root",
]


def _circular_geometries(
    layers: Sequence[nn.Conv2d], input_size: object, assume_circular: bool
) -> list[tuple[torch.Tensor, ConvGeometry]]:
    """Each layer's weight and its geometry as a circular convolution on the grid it sees."""
    if isinstance(layers, nn.Module) or not isinstance(layers, Sequence) or not layers:
        raise SVDWidgetsError(f"layers must be a non-empty list of nn.Conv2d, got {layers!r}")
    out: list[tuple[torch.Tensor, ConvGeometry]] = []
    size = input_size
    for j, layer in enumerate(layers):
        if not isinstance(layer, nn.Conv2d) or isinstance(layer, nn.ConvTranspose2d):
            raise SVDWidgetsError(f"layer {j} must be an nn.Conv2d, got {type(layer).__name__}")
        if layer.padding_mode != "circular" and not assume_circular:
            raise SVDWidgetsError(
                f"layer {j} has padding_mode={layer.padding_mode!r}; the symbol product is the "
                "network with circular padding: pass assume_circular=True to compute that"
            )
        weight, g = geometry_from(layer, size)
        if j > 0 and g.stride != (1, 1):
            raise SVDWidgetsError(
                f"layer {j} has stride {g.stride}: only the first layer may be strided"
            )
        if j > 0 and g.c_in != out[-1][1].c_out:
            raise SVDWidgetsError(
                f"layer {j} takes {g.c_in} channels but layer {j - 1} gives {out[-1][1].c_out}"
            )
        circ = ConvGeometry(**{**g.__dict__, "padding_mode": "circular"})
        if not circ.fft_is_exact:
            raise SVDWidgetsError(
                f"layer {j} is not a circular convolution on its grid (it must keep the size "
                f"N/stride; check padding and that the stride divides the size): {circ.describe()}"
            )
        out.append((weight, circ))
        size = circ.output_size
    return out


def _full_blocks(weight: torch.Tensor, g: ConvGeometry, freqs: torch.Tensor) -> torch.Tensor:
    """``(F, c_out, s²·c_in)`` symbols, the group blocks placed on the diagonal."""
    kernel = polyphase_kernel(weight.double(), g)
    blocks = symbols(kernel, freqs)  # (F, groups, m, n)
    f, groups, m, n = blocks.shape
    full = blocks.new_zeros((f, groups * m, groups * n))
    for i in range(groups):
        full[:, i * m : (i + 1) * m, i * n : (i + 1) * n] = blocks[:, i]
    return full


@dataclass(frozen=True)
class EndToEnd:
    """The end-to-end symbols of a linear convolutional network on its output grid.

    ``symbols`` is ``(N_h, N_w//2 + 1, c_out, s²c_in)`` (half plane of ``grid``, the output
    grid), ``multiplicity`` how often each frequency occurs in the whole plane.
    """

    symbols: torch.Tensor
    multiplicity: torch.Tensor
    grid: tuple[int, int]

    def values(self) -> torch.Tensor:
        """All singular values of the composed operator, descending, with multiplicity."""
        sv = torch.linalg.svdvals(self.symbols)  # (N_h, N_w//2+1, r)
        reps = self.multiplicity[..., None].expand_as(sv).reshape(-1)
        return torch.sort(sv.reshape(-1).repeat_interleave(reps), descending=True).values


def end_to_end(
    layers: Sequence[nn.Conv2d], input_size: object, *, assume_circular: bool = False
) -> EndToEnd:
    """The symbols ``M_L(f) ··· M_1(f)`` of ``layers`` applied one after another (no
    nonlinearity, biases excluded) to inputs of ``input_size``, with circular padding.

    Every layer must keep its grid (``N/stride`` outputs; "same" padding). Layers that are not
    circular raise unless ``assume_circular=True`` (then the network with their padding made
    circular is what is computed). Only the first layer may have a stride.
    """
    checked = _circular_geometries(layers, input_size, assume_circular)
    grid = checked[0][1].output_size
    freqs = half_plane_freqs(grid)
    product = _full_blocks(*checked[0], freqs)
    for weight, g in checked[1:]:
        product = _full_blocks(weight, g, freqs) @ product
    half = (grid[0], grid[1] // 2 + 1)
    return EndToEnd(product.reshape(*half, *product.shape[1:]), half_plane_multiplicity(grid), grid)


def dense_composition(
    layers: Sequence[nn.Conv2d], input_size: object, *, assume_circular: bool = False
) -> torch.Tensor:
    """The product ``A_L ··· A_1`` of the layers' dense operator matrices
    (:class:`~svdwidgets.core.operator.ConvOperator`, circular padding, float64)."""
    checked = _circular_geometries(layers, input_size, assume_circular)
    dense = ConvOperator(*checked[0]).to_dense()
    for weight, g in checked[1:]:
        dense = ConvOperator(weight, g).to_dense() @ dense
    return dense


def compose_kernels(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """The kernel of the stride-1 convolutions ``weights[0]``, then ``weights[1]``, ...

    For cross-correlations ``y = w ⋆ x`` (as ``F.conv2d``), the composition has
    ``W[c] = Σ_{a+b=c} W_2[b] W_1[a]`` (channel matrices multiplied): the product of the
    filters' polynomials. Shape ``(c_out_L, c_in_1, Σk_h - L + 1, Σk_w - L + 1)``. Applied
    with padding ``Σ p_j`` it is the stack of ``'valid'``- or circularly-padded layers
    (for zero padding only when no layer pads: zero padding between layers is not a
    convolution of the input).
    """
    if not isinstance(weights, Sequence) or not weights:
        raise SVDWidgetsError("weights must be a non-empty list of 4-D conv weights")
    for j, w in enumerate(weights):
        if not isinstance(w, torch.Tensor) or w.ndim != 4:
            shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise SVDWidgetsError(f"weight {j} must be (c_out, c_in, kh, kw), got {shape}")
    out = weights[0]
    for j, w in enumerate(weights[1:], start=1):
        if w.shape[1] != out.shape[0]:
            raise SVDWidgetsError(
                f"weight {j} takes {w.shape[1]} channels but the stack gives {out.shape[0]}"
            )
        kh, kw = int(w.shape[2]), int(w.shape[3])
        # W[o, i, c] = Σ_m Σ_b w[o, m, b] out[m, i, c - b]: a true convolution over space.
        stacked = F.conv2d(
            out.transpose(0, 1), w.flip(2, 3), padding=(kh - 1, kw - 1)
        )  # (c_in, c_out, K, K)
        out = stacked.transpose(0, 1)
    return out


def _power(q: np.ndarray, p: int) -> np.ndarray:
    from scipy.signal import convolve2d

    out = q
    for _ in range(p - 1):
        out = convolve2d(out, q)
    return out


def filter_power(kernel: torch.Tensor, power: int) -> torch.Tensor:
    """A one-channel filter composed with itself ``power`` times (its polynomial's power)."""
    k = _one_channel(kernel)
    return torch.from_numpy(_power(k, _check_power(power)))


def _one_channel(kernel: object) -> np.ndarray:
    if not isinstance(kernel, torch.Tensor):
        raise SVDWidgetsError(f"kernel must be a tensor, got {type(kernel).__name__}")
    k = kernel.detach()
    if k.ndim == 4 and k.shape[:2] == (1, 1):
        k = k[0, 0]
    if k.ndim != 2:
        raise SVDWidgetsError(
            f"kernel must be one-channel: (kh, kw) or (1, 1, kh, kw), got {tuple(kernel.shape)}"
        )
    if not bool(torch.isfinite(k).all()):
        raise SVDWidgetsError("kernel has non-finite entries")
    return k.double().cpu().numpy()


def _check_power(power: object) -> int:
    if isinstance(power, bool) or not isinstance(power, int) or power < 1:
        raise SVDWidgetsError(f"power must be a positive int, got {power!r}")
    return power


def filter_root(kernel: torch.Tensor, power: int = 2, *, rtol: float = 1e-8) -> torch.Tensor | None:
    """A filter ``h`` with ``h * ... * h`` (``power`` times) equal to ``kernel``, or None.

    ``kernel`` is one-channel, ``(K_h, K_w)`` or ``(1, 1, K_h, K_w)``, with
    ``K = power·(k - 1) + 1`` (other sizes raise). Scope: real one-channel filters and a
    repeated factor; it does not decide whether a filter factors into *different* smaller
    ones, nor multi-channel factorisations.

    Method (exact, not a fit): as a bivariate polynomial, ``P = Q^p`` fixes ``Q``'s
    lexicographically lowest monomial ``m0`` (``P``'s lowest is ``p·m0``) and its coefficient
    (a real ``p``-th root; for even ``p`` the sign is free and ``P``'s must be positive). Every
    later coefficient follows from ``P[(p-1)m0 + m] = p Q[m0]^{p-1} Q[m] + (terms in
    coefficients before m)``, because the lexicographic order is compatible with addition. The
    candidate so built is the only possible root (up to sign), so ``kernel`` is a ``p``-th
    power exactly when ``‖Q^p - P‖ <= rtol ‖P‖``. Entries below ``rtol·max|P|`` count as 0.
    """
    p = _check_power(power)
    big = _one_channel(kernel)
    kh_big, kw_big = big.shape
    if (kh_big - 1) % p or (kw_big - 1) % p:
        raise SVDWidgetsError(
            f"a filter composed {p} times has size p(k-1)+1; {tuple(big.shape)} is not one"
        )
    kh, kw = (kh_big - 1) // p + 1, (kw_big - 1) // p + 1
    scale = float(np.abs(big).max())
    if scale == 0:
        return torch.zeros((kh, kw), dtype=torch.float64)
    support = np.argwhere(np.abs(big) > rtol * scale)
    a0, b0 = (int(v) for v in support[0])  # argwhere is row-major: lexicographic
    if a0 % p or b0 % p:
        return None
    m0 = (a0 // p, b0 // p)
    lead = float(big[a0, b0])
    if p % 2 == 0 and lead < 0:
        return None
    q = np.zeros((kh, kw))
    q[m0] = np.sign(lead) * abs(lead) ** (1.0 / p)
    denom = p * q[m0] ** (p - 1)
    for a in range(m0[0], kh):
        for b in range(kw):
            if (a, b) <= m0:
                continue
            idx = ((p - 1) * m0[0] + a, (p - 1) * m0[1] + b)
            q[a, b] = (big[idx] - _power(q, p)[idx]) / denom
    if np.linalg.norm(_power(q, p) - big) > rtol * np.linalg.norm(big) + 1e-300:
        return None
    return torch.from_numpy(q)
