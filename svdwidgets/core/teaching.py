"""The numbers of the teaching view: a tiny convolution's dense operator, spectra and blocks.

For a ``Conv2d`` small enough to look at (a few channels on ``n x n`` inputs), everything
:class:`svdwidgets.widgets.ConvOperatorView` draws, as arrays:

* the dense ``c_out·H'·W' x c_in·n²`` matrix ``A`` of the layer exactly as
  ``torch.nn.functional.conv2d`` runs it (bias excluded), built column by column by
  :class:`svdwidgets.core.operator.ConvOperator`, and ``svdvals(A)`` in float64;
* the ``fft`` values and the frequency blocks ``M(f)`` (Sedghi, Gupta & Long, "The Singular
  Values of Convolutional Layers", ICLR 2019; with a stride, the polyphase rearrangement of
  Senderovich et al., NeurIPS 2022): the 2-D DFT block-diagonalises a *circular* convolution
  into one ``c_out x s²·c_in`` matrix per frequency of the ``(n/s) x (n/s)`` grid, and why those
  values are, or are not, this operator's (:func:`fft_reason`);
* the ``unfolded`` values (the ``c_out x c_in·k²`` reshaped weight that DeepDataProfiler uses,
  Praggastis et al. 2022 — a different object).

:func:`teaching_picture` is the view's one call: settings in, :class:`OperatorPicture` out, or
:class:`~svdwidgets.SVDWidgetsError` when the settings describe no convolution.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from svdwidgets.core.conv_svd import spectrum_of
from svdwidgets.core.fft import polyphase_kernel, symbols
from svdwidgets.core.geometry import ConvGeometry, geometry_from
from svdwidgets.core.operator import ConvOperator
from svdwidgets.core.solvers import single_threaded_lapack
from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "OperatorPicture",
    "check_weight",
    "fft_reason",
    "operator_picture",
    "random_weight",
    "teaching_picture",
]


def random_weight(c_out: int, c_in: int, kernel_size: int, seed: int) -> torch.Tensor:
    """A float32 ``(c_out, c_in, k, k)`` weight, standard normal over ``sqrt(c_in k²)`` (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn((c_out, c_in, kernel_size, kernel_size), generator=gen, dtype=torch.float32)
    return w / math.sqrt(c_in * kernel_size**2)


@dataclass(frozen=True)
class OperatorPicture:
    """Everything :class:`ConvOperatorView` draws for one setting.

    ``matrix``: the dense operator ``A`` (``dim_out x dim_in``, float64), row ``o·H'W' + i·W' + j``
    is output channel ``o`` at ``(i, j)``, column ``c·n² + h·n + w`` input channel ``c`` at
    ``(h, w)``. ``exact``: ``svdvals(A)``, descending. ``fft``: the ``fft`` method's values
    (with multiplicity), or ``None`` with the reason in ``fft_note``; ``fft_exact``: that
    spectrum's ``exact`` flag. ``blocks``: the symbols ``M(f)`` on the full
    ``N_h x N_w`` frequency plane, complex ``(N_h, N_w, c_out, s²·c_in)``. ``unfolded``: the
    reshaped weight's values.
    """

    geometry: ConvGeometry
    weight: torch.Tensor
    matrix: np.ndarray
    exact: np.ndarray
    unfolded: np.ndarray
    fft: np.ndarray | None
    fft_exact: bool | None
    fft_note: str
    blocks: np.ndarray | None
    seconds: float

    @property
    def weight_norm2(self) -> float:
        """``‖W‖²_F`` (in float64): ``Σσ² = (n/s)²·‖W‖²_F`` for a circular convolution."""
        return float(self.weight.double().square().sum())

    @property
    def common(self) -> int:
        """How many ranks ``fft`` and exact both have (they can differ in count)."""
        return 0 if self.fft is None else min(self.fft.size, self.exact.size)

    @property
    def gap(self) -> float | None:
        """``max_i |σ_i(fft) − σ_i(exact)| / σ_1(exact)`` over the common ranks."""
        if self.fft is None or self.common == 0:
            return None
        r = self.common
        scale = float(self.exact[0]) or 1.0
        return float(np.max(np.abs(self.fft[:r] - self.exact[:r]))) / scale

    @property
    def top_gap(self) -> float | None:
        """``σ_1(fft) / σ_1(exact) − 1``: how far ``fft`` misstates the spectral norm."""
        if self.fft is None or self.common == 0 or self.exact[0] == 0:
            return None
        return float(self.fft[0] / self.exact[0] - 1.0)

    @property
    def block_sigma(self) -> np.ndarray | None:
        """``(N_h, N_w)``: the largest singular value of each frequency's block."""
        if self.blocks is None:
            return None
        sv = np.linalg.svd(self.blocks, compute_uv=False)
        return np.asarray(sv[..., 0], dtype=np.float64)


def fft_reason(g: ConvGeometry) -> str:
    """Why the ``fft`` values are, or are not, this operator's (``ConvGeometry.fft_is_exact``)."""
    n, s, p = g.input_size[0], g.stride[0], g.padding[0]
    span = g.dilation[0] * (g.kernel[0] - 1)
    if g.fft_is_exact:
        if g.padding_mode == "circular" and p > 0:
            return f"circular padding {p} wraps the {n}×{n} input: A is a circular convolution"
        return "the kernel never reads a padded position: A is a circular convolution"
    if g.padding_mode == "zeros":
        if p == 0:
            return (
                f"no padding: the output is {g.output_size[0]}×{g.output_size[1]}, not the "
                f"{n // s}×{n // s} of a circular convolution"
            )
        return "zero padding: near the border the kernel reads zeros, not the other side"
    return (
        f"circular padding {p} with a {g.kernel[0]}×{g.kernel[0]} kernel gives "
        f"{g.output_size[0]}×{g.output_size[1]} outputs; a circular convolution on {n}×{n} "
        f"with stride {s} needs {span - (s - 1)} ≤ 2p ≤ {span}"
    )


def operator_picture(weight: torch.Tensor, geometry: ConvGeometry) -> OperatorPicture:
    """Dense operator, exact, ``fft`` and ``unfolded`` values and frequency blocks of one layer.

    ``A`` is built by :class:`~svdwidgets.core.operator.ConvOperator` in the weight's precision
    (as the layer runs) and decomposed in float64 (``torch.linalg.svdvals``); ``fft`` (Sedghi
    et al. 2019, polyphase strides) and ``unfolded`` run
    :func:`svdwidgets.core.conv_svd.spectrum_of` in float64, and the blocks are
    :func:`svdwidgets.core.fft.symbols` at every frequency of the grid.
    """
    start = time.perf_counter()
    fft: np.ndarray | None = None
    fft_exact: bool | None = None
    blocks: np.ndarray | None = None
    # torch single-threaded for one picture: its many tiny ops (small convs, 4x4 SVDs,
    # matmuls) ran 2-4x faster than with torch's 2 threads on a shared 2-core machine
    # (a 576x576 picture: 170 ms -> 50 ms)
    with single_threaded_lapack():
        dtype = torch.float64 if weight.dtype == torch.float64 else torch.float32
        dense = ConvOperator(weight, geometry, dtype=dtype).to_dense().double()
        exact = torch.linalg.svdvals(dense).numpy()
        w64 = weight.double()
        unfolded = spectrum_of(w64, geometry, method="unfolded", dtype=torch.float64).values.numpy()
        if geometry.stride_divides_input:
            spec = spectrum_of(w64, geometry, method="fft", dtype=torch.float64)
            fft, fft_exact = spec.values.numpy(), spec.exact
            kernel = polyphase_kernel(w64, geometry)
            nh, nw = kernel.grid
            fh, fw = torch.meshgrid(torch.arange(nh), torch.arange(nw), indexing="ij")
            freqs = torch.stack([fh.reshape(-1), fw.reshape(-1)], dim=1)
            m = symbols(kernel, freqs)[:, 0]  # groups == 1
            blocks = m.reshape(nh, nw, *m.shape[1:]).numpy()
            note = fft_reason(geometry)
        else:
            note = (
                f"the stride {geometry.stride[0]} does not divide n = {geometry.input_size[0]}, "
                "so there is no polyphase grid: fft has no values here"
            )
    return OperatorPicture(
        geometry=geometry,
        weight=weight,
        matrix=dense.numpy(),
        exact=exact,
        unfolded=unfolded,
        fft=fft,
        fft_exact=fft_exact,
        fft_note=note,
        blocks=blocks,
        seconds=time.perf_counter() - start,
    )


def check_weight(weight: object) -> torch.Tensor:
    """A detached CPU copy of a ``(c_out, c_in, k, k)`` float32/float64 tensor or array.

    Raises :class:`~svdwidgets.SVDWidgetsError` naming the shape, dtype or bad entries.
    """
    if isinstance(weight, np.ndarray):
        weight = torch.from_numpy(weight.copy())
    if not isinstance(weight, torch.Tensor):
        raise SVDWidgetsError(
            f"weight must be a (c_out, c_in, k, k) tensor or array, got {type(weight).__name__}"
        )
    if weight.ndim != 4:
        raise SVDWidgetsError(
            f"weight must have shape (c_out, c_in, k, k), got shape {tuple(weight.shape)}"
        )
    kh, kw = int(weight.shape[2]), int(weight.shape[3])
    if kh != kw:
        raise SVDWidgetsError(f"the kernel must be square, got {kh}x{kw} (shape {weight.shape})")
    if weight.dtype not in (torch.float32, torch.float64):
        raise SVDWidgetsError(f"weight must be float32 or float64, got dtype {weight.dtype}")
    if not bool(torch.isfinite(weight).all()):
        raise SVDWidgetsError(f"the weight of shape {tuple(weight.shape)} has NaN or inf entries")
    return weight.detach().cpu().clone()


def teaching_picture(
    weight: torch.Tensor, *, n: int, stride: int, padding: int, padding_mode: str
) -> OperatorPicture:
    """:func:`operator_picture` of ``weight`` on ``n x n`` inputs with these ``Conv2d`` settings.

    Raises :class:`~svdwidgets.SVDWidgetsError` (its message says why) when the settings
    describe no convolution: a kernel larger than the padded input, a circular padding wider
    than the input.
    """
    w, geometry = geometry_from(
        weight, (n, n), stride=stride, padding=padding, padding_mode=padding_mode
    )
    return operator_picture(w, geometry)
