"""The Triton kernel of :mod:`svdwidgets.core.jacobi`: one-sided Jacobi, one program per matrix.

Hestenes' one-sided Jacobi method (as analysed by Demmel & Veselić, "Jacobi's method is more
accurate than QR", SIAM J. Matrix Anal. Appl. 13, 1992) orthogonalises the columns of ``A`` by
plane rotations; at convergence the column norms are the singular values. The columns are
paired by the round-robin ("circle") ordering, so that each step rotates ``n/2`` disjoint pairs
at once, the ordering batched GPU Jacobi solvers use (KBLAS's one-sided Jacobi, MAGMA's
blocked one; Abdelfattah & Fasi 2026 discuss both).

Triton has no complex type: a complex matrix arrives as interleaved ``(re, im)`` floats and the
rotation carries the phase of ``a_pᴴ a_q``. The matrix lives in a per-program scratch copy in
global memory (on a GPU it stays in L1/L2); each step reads the paired columns in row blocks of
``BLOCK_M``, accumulates the 2x2 Gram entries, then rotates and writes back.

This module imports Triton at import time; :mod:`svdwidgets.core.jacobi` imports it lazily.
Whether the kernel is compiled or interpreted (``TRITON_INTERPRET=1``, which runs it on CPU
tensors with numpy) is decided by Triton when this module is first imported.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["jacobi_kernel"]


@triton.jit
def _pairs(r, lane, HALF):
    """Round-robin step ``r``: lane ``i`` pairs column ``top[i]`` with ``bot[i]`` (circle method
    on ``2*HALF`` players, the last one fixed)."""
    last = 2 * HALF - 1
    top = tl.where(lane == 0, r, (r + lane) % last)
    bot = tl.where(lane == 0, last, (r - lane + last) % last)
    return top, bot


@triton.jit
def jacobi_kernel(
    a_ptr,  # (B, m, n[, 2]) working copy, rotated in place; column norms are the values
    v_ptr,  # (B, n, n[, 2]) right vectors, identity on entry (unused unless VECTORS)
    out_ptr,  # (B, n) column norms on exit (unsorted)
    sweeps_ptr,  # (B,) int32: sweeps run
    m,
    n,
    tol,
    max_sweeps,
    HALF,  # ceil(n / 2): pairs per step
    HALF_P2: tl.constexpr,  # next power of two >= HALF (lanes)
    BLOCK_M: tl.constexpr,  # rows per block (power of two)
    BLOCK_V: tl.constexpr,  # rows of V per block (power of two)
    COMPLEX: tl.constexpr,
    VECTORS: tl.constexpr,
    TINY: tl.constexpr,  # Gram entries below this are zero (1e-300 in float64, 1e-30 in float32)
):
    pid = tl.program_id(0)
    width = 2 if COMPLEX else 1
    a_base = a_ptr + pid.to(tl.int64) * m * n * width
    v_base = v_ptr + pid.to(tl.int64) * n * n * width
    lane = tl.arange(0, HALF_P2)
    live_lane = lane < HALF
    rows0 = tl.arange(0, BLOCK_M)
    vrows0 = tl.arange(0, BLOCK_V)

    sweep = 0
    # rotations of the last sweep: none means every pair has |a_pᴴ a_q| <= tol |a_p| |a_q|.
    rotated = 1
    while (sweep < max_sweeps) & (rotated > 0):
        rotated = 0
        for r in range(0, 2 * HALF - 1):
            top, bot = _pairs(r, lane, HALF)
            live = live_lane & (top < n) & (bot < n)
            # 1. the 2x2 Gram matrix of every pair: alpha = |a_p|², beta = |a_q|², g = a_pᴴ a_q
            alpha = tl.zeros((HALF_P2,), dtype=a_ptr.dtype.element_ty)
            beta = tl.zeros((HALF_P2,), dtype=a_ptr.dtype.element_ty)
            g_re = tl.zeros((HALF_P2,), dtype=a_ptr.dtype.element_ty)
            g_im = tl.zeros((HALF_P2,), dtype=a_ptr.dtype.element_ty)
            for m0 in range(0, m, BLOCK_M):
                rows = m0 + rows0
                mask = (rows[:, None] < m) & live[None, :]
                x_off = (rows[:, None] * n + top[None, :]) * width
                y_off = (rows[:, None] * n + bot[None, :]) * width
                xr = tl.load(a_base + x_off, mask=mask, other=0.0)
                yr = tl.load(a_base + y_off, mask=mask, other=0.0)
                alpha += tl.sum(xr * xr, axis=0)
                beta += tl.sum(yr * yr, axis=0)
                g_re += tl.sum(xr * yr, axis=0)
                if COMPLEX:
                    xi = tl.load(a_base + x_off + 1, mask=mask, other=0.0)
                    yi = tl.load(a_base + y_off + 1, mask=mask, other=0.0)
                    alpha += tl.sum(xi * xi, axis=0)
                    beta += tl.sum(yi * yi, axis=0)
                    g_re += tl.sum(xi * yi, axis=0)
                    g_im += tl.sum(xr * yi - xi * yr, axis=0)
            g = tl.sqrt(g_re * g_re + g_im * g_im)
            scale = tl.sqrt(alpha * beta)
            rotate = live & (g > tol * scale) & (g > TINY)
            rotated += tl.sum(rotate.to(tl.int32))
            # 2. the rotation: [a_p, a_q e^{-iφ}] [[c, s], [-s, c]], with e^{iφ} = g / |g|
            g_safe = tl.where(rotate, g, 1.0)
            zeta = (beta - alpha) / (2.0 * g_safe)
            t = tl.where(zeta >= 0, 1.0, -1.0) / (tl.abs(zeta) + tl.sqrt(1.0 + zeta * zeta))
            c = tl.where(rotate, 1.0 / tl.sqrt(1.0 + t * t), 1.0)
            s = tl.where(rotate, c * t, 0.0)
            cos_phi = tl.where(rotate, g_re / g_safe, 1.0)
            sin_phi = tl.where(rotate, g_im / g_safe, 0.0)
            for m0 in range(0, m, BLOCK_M):
                rows = m0 + rows0
                mask = (rows[:, None] < m) & rotate[None, :]
                x_off = (rows[:, None] * n + top[None, :]) * width
                y_off = (rows[:, None] * n + bot[None, :]) * width
                _rotate_block(a_base, x_off, y_off, mask, c, s, cos_phi, sin_phi, COMPLEX)
            if VECTORS:
                for v0 in range(0, n, BLOCK_V):
                    vrows = v0 + vrows0
                    mask = (vrows[:, None] < n) & rotate[None, :]
                    x_off = (vrows[:, None] * n + top[None, :]) * width
                    y_off = (vrows[:, None] * n + bot[None, :]) * width
                    _rotate_block(v_base, x_off, y_off, mask, c, s, cos_phi, sin_phi, COMPLEX)
            # the next step reads columns that other threads of this program just wrote
            tl.debug_barrier()
        sweep += 1

    # 3. the column norms
    for h in range(0, 2):
        cols = lane + h * HALF
        live = live_lane & (cols < n)
        norm2 = tl.zeros((HALF_P2,), dtype=a_ptr.dtype.element_ty)
        for m0 in range(0, m, BLOCK_M):
            rows = m0 + rows0
            mask = (rows[:, None] < m) & live[None, :]
            offs = (rows[:, None] * n + cols[None, :]) * width
            xr = tl.load(a_base + offs, mask=mask, other=0.0)
            norm2 += tl.sum(xr * xr, axis=0)
            if COMPLEX:
                xi = tl.load(a_base + offs + 1, mask=mask, other=0.0)
                norm2 += tl.sum(xi * xi, axis=0)
        tl.store(out_ptr + pid.to(tl.int64) * n + cols, tl.sqrt(norm2), mask=live)
    tl.store(sweeps_ptr + pid, sweep)


@triton.jit
def _rotate_block(base, x_off, y_off, mask, c, s, cos_phi, sin_phi, COMPLEX: tl.constexpr):
    """``x ← c x − s y e^{−iφ}``, ``y ← s x + c y e^{−iφ}`` on one block of rows."""
    xr = tl.load(base + x_off, mask=mask, other=0.0)
    yr = tl.load(base + y_off, mask=mask, other=0.0)
    if COMPLEX:
        xi = tl.load(base + x_off + 1, mask=mask, other=0.0)
        yi = tl.load(base + y_off + 1, mask=mask, other=0.0)
    # Every thread has read its entries before any writes: where Triton's layout holds an
    # entry in several threads, a replica that read after another replica's write would
    # rotate twice. (On an H200 the sweep count never reached zero before this barrier.)
    tl.debug_barrier()
    if COMPLEX:
        # y e^{-iφ} = (yr cosφ + yi sinφ) + i (yi cosφ − yr sinφ)
        pr = yr * cos_phi[None, :] + yi * sin_phi[None, :]
        pi = yi * cos_phi[None, :] - yr * sin_phi[None, :]
        tl.store(base + x_off + 1, c[None, :] * xi - s[None, :] * pi, mask=mask)
        tl.store(base + y_off + 1, s[None, :] * xi + c[None, :] * pi, mask=mask)
    else:
        pr = yr * cos_phi[None, :]
    tl.store(base + x_off, c[None, :] * xr - s[None, :] * pr, mask=mask)
    tl.store(base + y_off, s[None, :] * xr + c[None, :] * pr, mask=mask)
