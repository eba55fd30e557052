"""``conv_svd``: the singular values and vectors of a convolutional layer's linear operator.

The one public entry point of the engine. It validates the layer at the boundary, picks a
method (``auto``), runs it and returns a :class:`~svdwidgets.core.spectrum.Spectrum` that says
which method ran and whether its values are exact.
"""

from __future__ import annotations

import math
import warnings

import torch

from svdwidgets.core.checks import check_dtype, check_memory_budget, resolve_device
from svdwidgets.core.comparison import slices_spectrum, unfolded_spectrum
from svdwidgets.core.exact import dense_spectrum, topk_spectrum
from svdwidgets.core.fft import block_values, polyphase_kernel
from svdwidgets.core.geometry import ConvGeometry, dense_bytes, dense_work, geometry_from
from svdwidgets.core.solvers import solver_name
from svdwidgets.core.spectrum import FFTSpectrum, Spectrum
from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "DENSE_MAX_WORK",
    "METHODS",
    "auto_choice",
    "conv_svd",
    "spectrum_of",
]

METHODS = ("auto", "fft", "exact", "spectral-density", "unfolded", "slices")
DEFAULT_MEMORY_BUDGET = 1 << 30
"""Bytes one layer's computation may hold at once (blocks, dense matrices)."""
DENSE_MAX_WORK = 1e9
"""``auto`` decomposes the dense operator only below this much work (``m*n*min(m, n)`` flops,
about a second on one core); above it the ``fft`` spectrum is far cheaper (``profile`` then
adds the exact σ_max). It was ``4096**3`` (memory-bound): ResNet-18 at 64 px spent two minutes
in dense SVDs of 4096 x 4096 operators."""
EXACT_MAX_WORK = float(4096**3)
"""An explicit ``method="exact"`` (no ``k``) decomposes the dense operator up to this work."""


def conv_svd(
    weight_or_module: object,
    input_size: object = None,
    *,
    stride: object = 1,
    padding: object = 0,
    dilation: object = 1,
    groups: object = 1,
    padding_mode: object = "zeros",
    method: str = "auto",
    k: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> Spectrum:
    """Singular values (and vectors) of a convolution as ``torch.nn.functional.conv2d`` runs it.

    Parameters
    ----------
    weight_or_module:
        a ``(c_out, c_in/groups, kh, kw)`` weight, a ``(out, in)`` linear weight, or an
        ``nn.Conv2d`` / ``nn.ConvTranspose2d`` / ``nn.Linear``. A module's own stride, padding,
        dilation, groups and padding mode are used (the keyword arguments are then ignored).
    input_size:
        ``(H, W)`` (or ``n``) of the layer's input; not needed for a Linear layer. For a
        ConvTranspose2d, the size of *its* input.
    stride, padding, dilation, groups, padding_mode:
        as for ``torch.nn.Conv2d`` (defaults too: padding 0, zeros).
    method:
        ``"fft"`` (Sedghi et al. 2019, polyphase strides; exact for circular convolutions),
        ``"exact"`` (the operator itself: dense, or matrix-free Lanczos for the top ``k``),
        ``"spectral-density"`` (Yi 2020; zero-padding approximation), ``"unfolded"``
        (DeepDataProfiler's reshaped weight), ``"slices"`` (WeightWatcher's per-tap slices), or
        ``"auto"``: ``fft`` where it is exact; else ``exact`` when the dense operator fits
        ``memory_budget`` or ``k`` is given; else ``fft`` as an approximation, with a warning.
    k:
        only the ``k`` largest values (and their vectors).
    device:
        where to compute (default: the weight's device). Values come back on the CPU.
    dtype:
        ``torch.float32`` (blocks in complex64; the default) or ``torch.float64``.
    memory_budget:
        bytes the computation may hold at once; frequencies are processed in chunks to fit.

    Returns
    -------
    Spectrum
        ``.values`` (descending, with multiplicity), ``.method``, ``.exact``, ``.vector(i)``.
        A Linear layer's spectrum (``auto``, ``fft`` or ``exact``) is the SVD of its one
        matrix: its ``method`` is ``"dense"``.
    """
    weight, geometry = geometry_from(
        weight_or_module,
        input_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=padding_mode,
    )
    return spectrum_of(
        weight,
        geometry,
        method=method,
        k=k,
        device=device,
        dtype=dtype,
        memory_budget=memory_budget,
    )


def spectrum_of(
    weight: torch.Tensor,
    geometry: ConvGeometry,
    *,
    method: str = "auto",
    k: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> Spectrum:
    """:func:`conv_svd` for a layer already validated by ``geometry_from``."""
    if method not in METHODS:
        raise SVDWidgetsError(f"unknown method {method!r}; expected one of {METHODS}")
    check_dtype(dtype)
    memory_budget = check_memory_budget(memory_budget)
    dev = resolve_device(device, weight)
    if method == "auto":
        method = _choose(geometry, k, dtype, memory_budget)
        if method == "fft" and not geometry.stride_divides_input:
            # the approximation of last resort, already announced by _choose's warning
            geometry = geometry.with_input_size(_stride_grid(geometry))
    _check_k(k, _count(method, geometry, weight), method)
    _check_size(method, geometry, weight, k, dtype, memory_budget)
    _check_range(weight, geometry, dtype)

    if method in ("fft", "exact"):
        run = _fft if method == "fft" else _exact
        spectrum = run(weight, geometry, k, dtype, dev, memory_budget)
        if geometry.kind == "linear":
            # one matrix: both methods are its SVD, exact; name it for what it is
            spectrum.method = "dense"
        return spectrum
    if method == "unfolded":
        return unfolded_spectrum(weight.to(dev, dtype), geometry, k=k)
    if method == "slices":
        return slices_spectrum(weight.to(dev, dtype), geometry, k=k)
    from svdwidgets.core.density import spectral_density_spectrum

    return spectral_density_spectrum(
        weight, geometry, k=k, dtype=dtype, device=dev, memory_budget=memory_budget
    )


def _dense_fits(
    geometry: ConvGeometry,
    dtype: torch.dtype,
    memory_budget: int,
    max_work: float = DENSE_MAX_WORK,
) -> bool:
    # The dense matrix, the basis chunk that builds it, and LAPACK's copy.
    return (
        3 * dense_bytes(geometry, dtype.itemsize) <= memory_budget
        and dense_work(geometry) <= max_work
    )


def auto_choice(
    geometry: ConvGeometry, k: int | None, dtype: torch.dtype, budget: int
) -> tuple[str, str]:
    """The method ``auto`` takes for this layer, and why (one short sentence)."""
    if geometry.kind == "linear":
        return "fft", "linear layer: the dense SVD of its weight (exact)"
    if geometry.fft_is_exact:
        return "fft", "circular convolution: the fft spectrum is exact"
    if k is not None:
        return "exact", f"top k={k} asked: matrix-free Lanczos or dense"
    work = dense_work(geometry)
    if _dense_fits(geometry, dtype, budget):
        return "exact", f"dense SVD is cheap ({work:.2g} <= {DENSE_MAX_WORK:.2g} flops)"
    return "fft", (
        f"dense SVD too costly ({work:.2g} > {DENSE_MAX_WORK:.2g} flops or over the memory "
        "budget): circular fft spectrum"
    )


def _choose(geometry: ConvGeometry, k: int | None, dtype: torch.dtype, budget: int) -> str:
    method, _ = auto_choice(geometry, k, dtype, budget)
    if method == "exact" or geometry.fft_is_exact:
        return method
    warnings.warn(
        f"conv_svd: {geometry.describe()} is not a circular convolution and its dense operator "
        f"({geometry.dim_out} x {geometry.dim_in}) exceeds the dense limits, so these are the "
        "'fft' values of the circular convolution on the same grid (exact=False). The two "
        "operators differ only where the kernel reaches the border, about "
        f"{_edge_fraction(geometry):.0%} of the positions here, and the top values typically "
        "move by a few percent at this size"
        + (
            ""
            if geometry.stride_divides_input
            else f"; the stride {geometry.stride} does not divide the input "
            f"{geometry.input_size}, so the grid is rounded up to {_stride_grid(geometry)}"
        )
        + ". Pass k=... for the exact top-k values (matrix-free Lanczos).",
        SVDWidgetsWarning,
        stacklevel=3,
    )
    return "fft"


def _stride_grid(geometry: ConvGeometry) -> tuple[int, int]:
    """The input size rounded up to a multiple of the stride (for the ``fft`` approximation)."""
    n, s = geometry.input_size, geometry.stride
    return (-(-n[0] // s[0]) * s[0], -(-n[1] // s[1]) * s[1])


def _size(n_bytes: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} bytes"


def _edge_fraction(geometry: ConvGeometry) -> float:
    """The fraction of input positions within the dilated kernel's reach of the border."""
    inner = 1.0
    for d, k, n in zip(geometry.dilation, geometry.kernel, geometry.input_size, strict=True):
        inner *= max(0, n - d * (k - 1)) / n
    return 1.0 - inner


def _count(method: str, geometry: ConvGeometry, weight: torch.Tensor) -> int:
    c_out, c_in_g, kh, kw = weight.shape
    if method == "unfolded":
        return min(c_out, c_in_g * kh * kw)
    if method == "slices":
        return kh * kw * min(c_out, c_in_g)
    if method in ("fft", "spectral-density"):
        # the circular operator on the input grid, with H/s x W/s outputs
        sh, sw = geometry.stride
        nh, nw = geometry.input_size[0] // sh, geometry.input_size[1] // sw
        return nh * nw * geometry.groups * min(c_out // geometry.groups, c_in_g * sh * sw)
    return geometry.n_values


def _check_k(k: object, count: int, method: str) -> None:
    if k is None:
        return
    if isinstance(k, bool) or not isinstance(k, int):
        raise SVDWidgetsError(f"k must be a positive int or None, got {k!r}")
    if not 1 <= k <= count:
        raise SVDWidgetsError(
            f"k={k} is out of range: method {method!r} gives {count} singular values here"
        )


RESULT_FLOOR = 64 << 20
"""The result of one layer (every value, Lanczos' basis) may hold ``max(memory_budget, this)``."""


def _check_size(
    method: str,
    geometry: ConvGeometry,
    weight: torch.Tensor,
    k: int | None,
    dtype: torch.dtype,
    budget: int,
) -> None:
    """Refuse, before allocating, a layer whose result alone would not fit the budget.

    ``memory_budget`` bounds the chunks the methods work in; what cannot be chunked (every
    singular value of the layer, the frequency grid, the Lanczos basis) must fit
    ``max(memory_budget, RESULT_FLOOR)``.
    """
    if method in ("fft", "spectral-density"):
        grid = geometry.input_size[0] * geometry.input_size[1]
        count = _count(method, geometry, weight)
        # the values (and their sorted copy with multiplicity), and the grid's multiplicities
        need = 2 * count * dtype.itemsize + grid * 8
        what = f"all {count:,} '{method}' values"
    elif method == "exact" and k is not None and not _dense_fits(geometry, dtype, budget):
        # ARPACK's basis (ncv vectors of each side, float64) and the operator's work vectors
        ncv = min(geometry.n_values, max(2 * k + 1, 20))
        need = (ncv + 4) * (geometry.dim_in + geometry.dim_out) * 8
        what = f"the Lanczos basis for k={k} ({ncv} vectors of {geometry.dim_in:,} values)"
    else:
        return
    limit = max(budget, RESULT_FLOOR)
    if need > limit:
        raise SVDWidgetsError(
            f"{geometry.describe()}: {what} would need about {_size(need)}, more than "
            f"memory_budget={budget} ({_size(budget)}; results may use up to "
            f"{_size(limit)}); pass a larger memory_budget if the machine has the memory, or "
            "analyse the layer at a smaller input size"
        )


_FLOAT32_SAFE = float(torch.finfo(torch.float32).max) / 64


def _check_range(weight: torch.Tensor, geometry: ConvGeometry, dtype: torch.dtype) -> None:
    """Refuse float32 weights whose largest singular value could overflow float32.

    sigma_max <= sum over taps of ||W_tap||_2 <= sqrt(kh*kw) * ||W||_F (computed in float64),
    so below the bound every sum the methods form stays finite.
    """
    if dtype != torch.float32:
        return
    frob = float(torch.linalg.vector_norm(weight.detach().to(torch.float64)))
    bound = frob * math.sqrt(geometry.kernel[0] * geometry.kernel[1])
    if not bound <= _FLOAT32_SAFE:
        raise SVDWidgetsError(
            f"the weight of shape {tuple(weight.shape)} is too large for float32: its largest "
            f"entry is {float(weight.detach().abs().max()):.3g} and the largest singular value "
            f"could reach {bound:.3g} (float32 ends at 3.4e38); pass dtype=torch.float64"
        )


def _fft(
    weight: torch.Tensor,
    geometry: ConvGeometry,
    k: int | None,
    dtype: torch.dtype,
    device: torch.device,
    budget: int,
) -> FFTSpectrum:
    if not geometry.stride_divides_input:
        raise SVDWidgetsError(
            f"method 'fft' needs the stride {geometry.stride} to divide the input size "
            f"{geometry.input_size} (polyphase rearrangement); use method='exact'"
        )
    blocks = block_values(weight, geometry, dtype=dtype, device=device, memory_budget=budget)
    kernel = polyphase_kernel(weight.to(dtype=dtype), geometry)
    _, m, n = kernel.block_shape
    # a single-tap kernel is one SVD per group for every frequency; else many per chunk
    count = geometry.groups if blocks.shortcut == "single-tap" else None
    solver = solver_name(device, (m, n), count=count, dtype=blocks.values.dtype)
    return FFTSpectrum(blocks, kernel, geometry, exact=geometry.fft_is_exact, solver=solver, k=k)


def _exact(
    weight: torch.Tensor,
    geometry: ConvGeometry,
    k: int | None,
    dtype: torch.dtype,
    device: torch.device,
    budget: int,
) -> Spectrum:
    if _dense_fits(geometry, dtype, budget, EXACT_MAX_WORK) or (
        k is not None and k >= geometry.n_values - 1 and 3 * dense_bytes(geometry, 8) <= budget
    ):
        return dense_spectrum(weight, geometry, k=k, dtype=dtype, device=device)
    if k is None:
        need = 3 * dense_bytes(geometry, dtype.itemsize)
        raise SVDWidgetsError(
            f"the dense operator of {geometry.describe()} is {geometry.dim_out} x "
            f"{geometry.dim_in} and would need about {_size(need)} (budget "
            f"{_size(budget)}) and {dense_work(geometry):.2g} flops; pass k=... for "
            "the exact top-k values (matrix-free Lanczos), or a larger memory_budget"
        )
    if k >= geometry.n_values - 1:
        raise SVDWidgetsError(
            f"k={k} asks for (almost) all {geometry.n_values} values of a layer too large for "
            "the dense method; ask for fewer, or a larger memory_budget"
        )
    return topk_spectrum(weight, geometry, k=k, dtype=dtype, device=device)
