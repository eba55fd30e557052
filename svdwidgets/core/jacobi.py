"""Batched one-sided Jacobi SVD of small matrices, written in Triton (GPU; CPU via its interpreter).

The ``fft`` method reduces a convolution to thousands of small complex matrices, one per
frequency. cuSOLVER's batched Jacobi stops at 32x32 and its other batched drivers reach a few
per cent of a GPU's arithmetic rate on them; the batched solvers that do well (KBLAS, MAGMA;
Abdelfattah & Fasi 2026) run one-sided Jacobi with the matrix kept on chip. This module is that
algorithm in Triton: Hestenes' one-sided Jacobi (Demmel & Veselić 1992), round-robin pair
ordering, one program per matrix, QR first for tall matrices (then Jacobi on ``R``), values
sorted descending. The kernel is :func:`svdwidgets.core.jacobi_kernels.jacobi_kernel`.

Accuracy: rotations and accumulation run in ``precision`` (float64 by default, whatever the
input): one-sided Jacobi then meets the project's solver contract (every σ within 1e-5·σ_max,
1e-3 relative for σ ≥ 1e-4·σ_max) with orders of magnitude to spare. ``precision=torch.float32``
is faster on a GPU and is measured side by side in ``benchmarks/gpu_suite.py``.

Where it runs: CUDA tensors go through the compiled kernel; CPU tensors only through Triton's
interpreter (``TRITON_INTERPRET=1`` set before Triton is first imported), which is how the tests
run it on machines without a GPU. Triton is an optional dependency (the ``gpu`` extra).
"""

from __future__ import annotations

import importlib
import math
import os
from types import ModuleType
from typing import NamedTuple

import torch

from svdwidgets.errors import SVDWidgetsError

__all__ = ["JacobiSVD", "jacobi_svd", "jacobi_svdvals", "triton_available"]

DEFAULT_MAX_SWEEPS = 40
# float32 rotations gave wrong values on an H200 (2026-12-04, Triton 3.6; README "GPU"): on
# CUDA they raise unless this is set (benchmarks/gpu_suite.py sets it to measure them again)
FLOAT32_ON_CUDA_UNVERIFIED_OK = False
_TOL = {torch.float64: 1e-10, torch.float32: 1e-6}
_TINY = {torch.float64: 1e-300, torch.float32: 1e-30}
_ROW_TILE = 1024  # entries of one row block per column set on a GPU (rows x pairs)


class JacobiSVD(NamedTuple):
    """``A V = U diag(S)``: ``U`` (B, m, k), ``S`` (B, k) descending, ``V`` (B, n, k)."""

    U: torch.Tensor
    S: torch.Tensor
    V: torch.Tensor
    sweeps: torch.Tensor  # (B,) sweeps each matrix took


def triton_available() -> bool:
    """Whether Triton imports here (it is the ``gpu`` extra)."""
    try:
        importlib.import_module("triton")
    except ImportError:
        return False
    return True


def jacobi_svdvals(
    blocks: torch.Tensor,
    *,
    tol: float | None = None,
    precision: torch.dtype = torch.float64,
    max_sweeps: int = DEFAULT_MAX_SWEEPS,
) -> torch.Tensor:
    """Singular values, descending, of every matrix in ``blocks`` ``(B, m, n)``: ``(B, min(m, n))``.

    ``blocks``: float32/float64/complex64/complex128, on CUDA or (interpreter) on the CPU. The
    result has the real dtype of ``blocks`` and lies on its device.
    """
    return _solve(blocks, vectors=False, tol=tol, precision=precision, max_sweeps=max_sweeps).S


def jacobi_svd(
    blocks: torch.Tensor,
    *,
    tol: float | None = None,
    precision: torch.dtype = torch.float64,
    max_sweeps: int = DEFAULT_MAX_SWEEPS,
) -> JacobiSVD:
    """Thin SVD of every matrix in ``blocks`` ``(B, m, n)``: see :class:`JacobiSVD`.

    Columns of ``U`` for a zero singular value are zero (``A v = σ u`` holds with any ``u``).
    """
    return _solve(blocks, vectors=True, tol=tol, precision=precision, max_sweeps=max_sweeps)


def _solve(
    blocks: torch.Tensor,
    *,
    vectors: bool,
    tol: float | None,
    precision: torch.dtype,
    max_sweeps: int,
) -> JacobiSVD:
    _check(blocks, precision, max_sweeps, tol)
    if precision == torch.float32 and blocks.is_cuda and not FLOAT32_ON_CUDA_UNVERIFIED_OK:
        raise SVDWidgetsError(
            "precision=torch.float32 on CUDA gave wrong singular values on an H200 and has not "
            "been verified since; use precision=torch.float64 (the default)"
        )
    b, m, n = blocks.shape
    real = blocks.real.dtype if blocks.is_complex() else blocks.dtype
    k = min(m, n)
    if b == 0:
        empty = blocks.new_zeros((0, k), dtype=real)
        return JacobiSVD(
            blocks.new_zeros((0, m, k)), empty, blocks.new_zeros((0, n, k)), empty.int()
        )
    work_dtype = _complex_of(precision) if blocks.is_complex() else precision
    a = blocks.to(work_dtype)
    transposed = m < n
    if transposed:  # Jacobi orthogonalises columns: let them be the shorter side
        a = a.mH
    q = None
    if a.shape[-2] > a.shape[-1]:  # QR first: Jacobi on the square R (MAGMA's tall path)
        if vectors:
            q, a = torch.linalg.qr(a, mode="reduced")
        else:
            a = torch.linalg.qr(a, mode="r").R
    # the kernel rotates in place: never the caller's tensor
    work = a.clone(memory_format=torch.contiguous_format) if a is blocks else a.contiguous()
    values, v, sweeps = _launch(
        work, vectors=vectors, tol=tol, precision=precision, max_sweeps=max_sweeps
    )
    order = values.argsort(dim=-1, descending=True)
    s = values.gather(-1, order)
    if not vectors:
        return JacobiSVD(blocks.new_zeros(0), s.to(real), blocks.new_zeros(0), sweeps)
    idx = order[:, None, :]
    cols = work.gather(-1, idx.expand(-1, work.shape[-2], -1))
    safe = torch.where(s > 0, s, torch.ones_like(s))
    u = torch.where(s[:, None, :] > 0, cols / safe[:, None, :], torch.zeros_like(cols))
    v = v.gather(-1, idx.expand(-1, v.shape[-2], -1))
    if q is not None:
        u = q @ u
    if transposed:  # Aᴴ V' = U' Σ  ⇔  A U' = V' Σ
        u, v = v, u
    out = blocks.dtype
    return JacobiSVD(u.to(out), s.to(real), v.to(out), sweeps)


def _launch(
    work: torch.Tensor,
    *,
    vectors: bool,
    tol: float | None,
    precision: torch.dtype,
    max_sweeps: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the kernel on ``work`` (B, m, n) with m >= n, in place: (values, V, sweeps)."""
    kernels = _kernels(work.device)
    b, m, n = work.shape
    complex_ = work.is_complex()
    flat = torch.view_as_real(work) if complex_ else work
    v = torch.eye(n, dtype=work.dtype, device=work.device).expand(b, n, n).contiguous()
    v_flat = torch.view_as_real(v) if complex_ else v
    values = torch.empty((b, n), dtype=precision, device=work.device)
    sweeps = torch.empty((b,), dtype=torch.int32, device=work.device)
    half = (n + 1) // 2
    half_p2 = _next_pow2(half)
    interpreted = work.device.type == "cpu"
    # On a GPU a row block holds about _ROW_TILE entries per column set; the interpreter runs
    # numpy on whole blocks, so there one block covers every row.
    tile = _next_pow2(m) if interpreted else max(1, min(_next_pow2(m), _ROW_TILE // half_p2))
    vtile = _next_pow2(n) if interpreted else max(1, min(_next_pow2(n), _ROW_TILE // half_p2))
    kernels.jacobi_kernel[(b,)](
        flat,
        v_flat,
        values,
        sweeps,
        m,
        n,
        float(_TOL[precision] if tol is None else tol),
        int(max_sweeps),
        half,
        HALF_P2=half_p2,
        BLOCK_M=tile,
        BLOCK_V=vtile,
        COMPLEX=complex_,
        VECTORS=vectors,
        TINY=_TINY[precision],
        num_warps=4 if half_p2 * tile <= 512 else 8,
    )
    return values, v, sweeps


def _kernels(device: torch.device) -> ModuleType:
    if not triton_available():
        raise SVDWidgetsError(
            "the Jacobi solver needs Triton, which does not import here: "
            "pip install 'svdwidgets[gpu]' (or triton)"
        )
    if device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        raise SVDWidgetsError(
            f"the Jacobi solver runs on CUDA tensors; on device {str(device)!r} only through "
            "Triton's interpreter: set TRITON_INTERPRET=1 before Triton is imported"
        )
    if device.type not in ("cpu", "cuda"):
        raise SVDWidgetsError(f"the Jacobi solver runs on CUDA (or the CPU), not on {device}")
    return importlib.import_module("svdwidgets.core.jacobi_kernels")


def _check(blocks: object, precision: object, max_sweeps: object, tol: object) -> None:
    if not isinstance(blocks, torch.Tensor) or blocks.dim() != 3:
        shape = tuple(blocks.shape) if isinstance(blocks, torch.Tensor) else type(blocks).__name__
        raise SVDWidgetsError(f"blocks must be a (B, m, n) tensor, got {shape}")
    allowed = (torch.float32, torch.float64, torch.complex64, torch.complex128)
    if blocks.dtype not in allowed:
        raise SVDWidgetsError(f"blocks must be float32/64 or complex64/128, got {blocks.dtype}")
    if blocks.shape[1] == 0 or blocks.shape[2] == 0:
        raise SVDWidgetsError(f"blocks must have m, n >= 1, got shape {tuple(blocks.shape)}")
    if precision not in _TOL:
        raise SVDWidgetsError(f"precision must be torch.float64 or torch.float32, got {precision}")
    if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, int) or max_sweeps < 1:
        raise SVDWidgetsError(f"max_sweeps must be a positive int, got {max_sweeps!r}")
    if tol is not None and not (isinstance(tol, float | int) and 0 < tol < 1):
        raise SVDWidgetsError(f"tol must lie in (0, 1), got {tol!r}")
    if blocks.numel() and not bool(torch.isfinite(blocks).all()):
        raise SVDWidgetsError("blocks hold NaN or inf entries: singular values are undefined")


def _complex_of(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64


def _next_pow2(x: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, x))))
