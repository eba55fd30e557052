"""The exact largest singular value of a layer, as an interval: ``lower <= σ_max <= upper``.

The circular (``fft``) value is exact only for circular convolutions; on zero-padded layers it
can overstate σ_max by several percent. Here σ_max is computed on the operator itself
(:class:`~svdwidgets.core.operator.ConvOperator`, exactly what ``conv2d`` computes, in float64):

* small operators (``min(dim_in, dim_out) <= DENSE_SIDE``; a grouped convolution's matrix is
  block diagonal: ``groups`` blocks of side ``b`` with ``groups * b**3 <= DENSE_SIDE**3``):
  the dense Gram matrix ``AᵀA`` (or ``AAᵀ``) of each diagonal block and LAPACK's
  ``eigvalsh``; the interval is the value widened by 1e-10 relative (well
  above the backward error of a stable eigensolver on a float64 matrix);
* otherwise Lanczos with full reorthogonalisation on ``B = AᵀA`` or ``AAᵀ`` (the smaller;
  at most 60 steps, then restarted at the Ritz vector), its steps in float32 (float64 below
  ``rel_tol`` 1e-5) and its bounds in float64, on the layer's device,
  started at the given vector (the circular spectrum's top vector: a few steps from the answer)
  plus a small random component so that no eigenvector is missing from the Krylov space.

For the Lanczos result with unit Ritz vector ``x``, ``θ = xᵀBx`` and residual
``r = ‖Bx - θx‖``:

* ``lower = sqrt(θ) = ‖Ax‖`` is a rigorous lower bound (a Rayleigh quotient never exceeds the
  largest eigenvalue);
* ``upper = sqrt(θ + r)``: B has an eigenvalue in ``[θ - r, θ + r]`` (Bauer-Fike for symmetric
  matrices), so this bounds the eigenvalue the iteration converged to. That it is the *largest*
  one rests on Lanczos (Kaniel-Paige: the top of a Krylov space converges first); ``upper`` is
  also capped by the Gram-iteration bound (:func:`svdwidgets.spectral_norm_bound`, rigorous for
  every eigenvalue) when ``gram=True``.

The iteration is tightened until ``upper / lower - 1 <= rel_tol`` (default 1e-4).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

from svdwidgets.core.checks import resolve_device
from svdwidgets.core.geometry import ConvGeometry, geometry_from
from svdwidgets.core.operator import ConvOperator
from svdwidgets.core.solvers import single_threaded_lapack
from svdwidgets.errors import SVDWidgetsError

__all__ = ["DENSE_SIDE", "REL_TOL", "SigmaMaxInterval", "exact_sigma_max", "sigma_max_interval"]

REL_TOL = 1e-4
"""Default relative width ``upper / lower - 1`` of the σ_max interval."""
DENSE_SIDE = 512
"""Operators whose smaller side is at most this get σ_max from the dense Gram matrix (grouped
ones: as much eigvalsh work over their diagonal blocks)."""
_DENSE_WIDEN = 1e-10
_MAX_ROUNDS = 6
_MAX_STEPS = 60
_MIN_STEPS = 24
"""Lanczos steps taken before the width test may stop the iteration. Started at the circular
top vector, a depthwise layer's first steps stay inside that vector's channel (a block of the
block-diagonal operator) and converge there, to 1e-5 within 5 steps, while the top lies in
another channel (timm's rexnet_100 at 64 px: 2.4678 reported, 3.1108 true); the Krylov space
needs enough steps to grow the other channels' components first."""
_START_NOISE = 0.1
_FLOAT32_TOL = 1e-5
"""Below this ``rel_tol`` the Krylov steps run in float64 (float32 cannot resolve it)."""
_ONE_THREAD_SIDE = 1 << 16


@dataclass(frozen=True)
class SigmaMaxInterval:
    """``lower <= σ_max <= upper`` of one layer's operator, and how it was obtained.

    ``value`` is the best estimate (the Rayleigh quotient, ``== lower``, unless ``estimate``
    is given); ``method`` is ``"dense-eigvalsh"``, ``"lanczos"`` or, in a profile,
    ``"spectrum-fft"`` / ``"spectrum-exact"`` (the exact spectrum's own top value);
    ``matvecs`` counts products with ``AᵀA`` / ``AAᵀ``;
    ``converged`` says whether the width reached the requested ``rel_tol``.
    """

    lower: float
    upper: float
    method: str
    matvecs: int = 0
    seconds: float = 0.0
    converged: bool = True
    estimate: float | None = None

    @property
    def value(self) -> float:
        """The best estimate: ``estimate`` when given, else ``lower`` (the Rayleigh quotient)."""
        return self.lower if self.estimate is None else self.estimate

    @property
    def rel_width(self) -> float:
        return self.upper / self.lower - 1.0 if self.lower > 0 else 0.0

    def __contains__(self, x: object) -> bool:
        return isinstance(x, (int, float)) and self.lower <= x <= self.upper

    def __float__(self) -> float:
        return self.value


def exact_sigma_max(
    weight_or_module: object,
    input_size: object = None,
    *,
    stride: object = 1,
    padding: object = 0,
    dilation: object = 1,
    groups: object = 1,
    padding_mode: object = "zeros",
    start: torch.Tensor | None = None,
    rel_tol: float = REL_TOL,
    gram: bool = False,
    device: torch.device | str | None = None,
) -> SigmaMaxInterval:
    """σ_max of a convolution as ``conv2d`` computes it, as an interval ``rel_tol`` wide.

    Parameters are those of :func:`svdwidgets.conv_svd`, plus ``start``: an approximate top
    right singular vector of the forward convolution (``(c_in, H, W)``, e.g. the ``fft``
    spectrum's ``vector(0)[0]``), ``rel_tol`` (``upper/lower - 1``, in ``[1e-12, 0.1]``) and
    ``gram`` (also cap ``upper`` by the Gram-iteration bound). See the module docstring.
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
    return sigma_max_interval(
        weight, geometry, start=start, rel_tol=rel_tol, gram=gram, device=device
    )


def sigma_max_interval(
    weight: torch.Tensor,
    geometry: ConvGeometry,
    *,
    start: torch.Tensor | None = None,
    start_left: torch.Tensor | None = None,
    rel_tol: float = REL_TOL,
    gram: bool = False,
    device: torch.device | str | None = None,
    dense_side: int = DENSE_SIDE,
) -> SigmaMaxInterval:
    """:func:`exact_sigma_max` for a layer already validated by ``geometry_from``.

    ``start`` / ``start_left``: approximate top right (input-space) / left (output-space)
    singular vectors of the forward convolution; either may be ``None``. Operators whose
    smaller side is at most ``dense_side`` are decomposed densely.
    """
    if isinstance(rel_tol, bool) or not isinstance(rel_tol, (int, float)):
        raise SVDWidgetsError(f"rel_tol must be a float, got {rel_tol!r}")
    if not 1e-12 <= rel_tol <= 0.1:
        raise SVDWidgetsError(f"rel_tol must be between 1e-12 and 0.1, got {rel_tol!r}")
    if not bool(torch.isfinite(weight).all()):
        raise SVDWidgetsError(f"the weight of {geometry.describe()} has NaN or inf entries")
    t0 = time.perf_counter()
    dev = resolve_device(device, weight)
    op = ConvOperator(weight, geometry, dtype=torch.float64, device=dev)
    dim_out, dim_in = op.shape
    right_side = dim_in <= dim_out  # iterate on AᵀA (input space), else AAᵀ
    side = min(dim_in, dim_out)
    block = side // geometry.groups
    if geometry.groups * block**3 <= dense_side**3:  # the dense work of one dense_side matrix
        result = _dense(op, right_side)
    else:
        # small convolutions: torch's thread pool only costs on a busy machine (11 ms vs <1 ms
        # per product on the bundled model, 2 loaded cores)
        with single_threaded_lapack() if side <= _ONE_THREAD_SIDE else contextlib.nullcontext():
            result = _lanczos(op, right_side, start if right_side else start_left, rel_tol)
    if gram and result.rel_width > rel_tol:
        from svdwidgets.core.bounds import spectral_norm_bound

        g = geometry
        bound = spectral_norm_bound(
            weight,
            g.input_size,
            stride=g.stride,
            padding=g.padding,
            dilation=g.dilation,
            groups=g.groups,
            padding_mode=g.padding_mode,
        )
        if bound < result.upper:
            result = SigmaMaxInterval(
                result.lower,
                max(bound, result.lower),
                result.method + "+gram",
                result.matvecs,
                converged=bound / result.lower - 1 <= rel_tol,
            )
    return SigmaMaxInterval(
        result.lower,
        result.upper,
        result.method,
        result.matvecs,
        seconds=time.perf_counter() - t0,
        converged=result.rel_width <= rel_tol,
    )


def _gram_op(
    op: ConvOperator, right_side: bool
) -> tuple[int, Callable[[torch.Tensor], torch.Tensor]]:
    if right_side:
        return op.shape[1], lambda x: op.rmatvec(op.matvec(x))
    return op.shape[0], lambda y: op.matvec(op.rmatvec(y))


def _dense(op: ConvOperator, right_side: bool) -> SigmaMaxInterval:
    """The top of the dense Gram matrix of every diagonal block (one block unless grouped)."""
    blocks = op.to_dense_blocks()
    t = blocks.transpose(1, 2)
    gram = t @ blocks if right_side else blocks @ t
    with single_threaded_lapack():
        top = float(torch.linalg.eigvalsh(gram)[:, -1].max())
    sigma = math.sqrt(max(top, 0.0))
    return SigmaMaxInterval(
        sigma * (1 - _DENSE_WIDEN), sigma * (1 + _DENSE_WIDEN), "dense-eigvalsh", matvecs=0
    )


def _lanczos(
    op: ConvOperator, right_side: bool, start: torch.Tensor | None, rel_tol: float
) -> SigmaMaxInterval:
    """Lanczos with full reorthogonalisation on ``B``, restarted at the Ritz vector.

    The Krylov steps run in float32 (``conv2d`` in float32 is 2-12x faster than in float64 on
    the CPU, and a Ritz vector accurate to float32 gives a float64 residual ~1e-6 relative,
    far below the 1e-4 asked), unless ``rel_tol`` is below :data:`_FLOAT32_TOL`; the bounds
    are always computed in float64 from the Ritz vector. A round whose float64 check fails
    after the float32 iteration believed itself converged continues in float64.
    """
    dim, apply64 = _gram_op(op, right_side)
    work, apply = torch.float64, apply64
    if rel_tol >= _FLOAT32_TOL:  # one float32 copy of the operator for every round
        work = torch.float32
        apply = _gram_op(
            ConvOperator(op.weight, op.geometry, dtype=work, device=op.device), right_side
        )[1]
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(dim, generator=gen, dtype=torch.float64).to(op.device)
    x = noise / torch.linalg.vector_norm(noise)
    if start is not None and start.numel() == dim:
        s = start.detach().reshape(-1).to(device=op.device, dtype=torch.float64)
        norm = float(torch.linalg.vector_norm(s))
        if math.isfinite(norm) and norm > 0:
            x = s / norm + _START_NOISE * x
    x = x / torch.linalg.vector_norm(x)
    matvecs = 0
    best = (0.0, math.inf)
    steps = max(2, min(_MAX_STEPS, dim))
    for _ in range(_MAX_ROUNDS):
        ritz, used, believed = _krylov(apply, x.to(work), steps, rel_tol)
        matvecs += used
        ritz = ritz.to(torch.float64)
        ritz = ritz / torch.linalg.vector_norm(ritz)
        bx = apply64(ritz)
        matvecs += 1
        rq = float(ritz @ bx)
        resid = float(torch.linalg.vector_norm(bx - rq * ritz))
        lower = math.sqrt(max(rq, 0.0))
        upper = math.sqrt(max(rq, 0.0) + resid)
        if upper / max(lower, 1e-300) < best[1] / max(best[0], 1e-300):
            best = (lower, upper)
        if upper == 0 or upper / lower - 1 <= rel_tol:
            break
        if believed:  # float32 rounding is what stops it: go on in float64
            work, apply = torch.float64, apply64
        x = ritz
    return SigmaMaxInterval(best[0], best[1], "lanczos", matvecs=matvecs)


def _krylov(
    apply: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, steps: int, rel_tol: float
) -> tuple[torch.Tensor, int, bool]:
    """One Lanczos run of at most ``steps`` from unit ``x``: the top Ritz vector, the number of
    products, and whether the residual estimate met ``rel_tol`` (half of it: the bound on σ is
    ``sqrt(1 + r/θ)``)."""
    dim = x.shape[0]
    basis = torch.empty((steps, dim), dtype=x.dtype, device=x.device)
    basis[0] = x
    alphas: list[float] = []
    betas: list[float] = []
    for j in range(steps):
        w = apply(basis[j])
        alpha = float(basis[j] @ w)
        alphas.append(alpha)
        w = w - alpha * basis[j]
        if j:
            w = w - betas[-1] * basis[j - 1]
        # full reorthogonalisation after the three-term recurrence; a second pass only when
        # the first removed much (Daniel-Gragg-Kaufman-Stewart)
        for _pass in range(2):
            before = torch.linalg.vector_norm(w)
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
            beta = float(torch.linalg.vector_norm(w))
            if beta > 0.7 * float(before):
                break
        theta, top = _tridiagonal_top(alphas, betas)
        estimate = beta * abs(top[-1])
        converged = estimate <= 0.5 * rel_tol * max(theta, 1e-300) and j + 1 >= min(_MIN_STEPS, dim)
        if converged or beta <= 1e-14 * abs(theta) or j == steps - 1:
            coef = torch.as_tensor(top, dtype=x.dtype, device=x.device)
            return coef @ basis[: j + 1], j + 1, converged
        betas.append(beta)
        basis[j + 1] = w / beta
    raise AssertionError("unreachable: the loop returns at its last step")


def _tridiagonal_top(alphas: list[float], betas: list[float]) -> tuple[float, np.ndarray]:
    """The largest eigenvalue of the Lanczos tridiagonal matrix and its unit eigenvector."""
    if len(alphas) == 1:
        return alphas[0], np.ones(1)
    n = len(alphas)
    values, vectors = eigh_tridiagonal(
        np.asarray(alphas), np.asarray(betas), select="i", select_range=(n - 1, n - 1)
    )
    return float(values[0]), vectors[:, 0]
