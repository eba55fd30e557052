"""The ``exact`` method: the operator exactly as ``torch.nn.functional.conv2d`` runs it.

Any padding mode, stride, dilation and groups. Small layers: the dense ``dim_out x dim_in``
matrix is built from the operator itself and decomposed by LAPACK. Large layers, top ``k`` only:
matrix-free Lanczos (ARPACK's implicitly restarted Lanczos bidiagonalisation through
``scipy.sparse.linalg.svds``), with ``conv2d`` as ``matvec`` and ``conv_transpose2d`` as
``rmatvec``, in float64.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import svds

from svdwidgets.core.geometry import ConvGeometry
from svdwidgets.core.operator import ConvOperator
from svdwidgets.core.solvers import batched_svdvals, uses_gram
from svdwidgets.core.spectrum import DenseSpectrum, TopKSpectrum

__all__ = ["dense_spectrum", "topk_spectrum"]


def dense_spectrum(
    weight: torch.Tensor,
    geometry: ConvGeometry,
    *,
    k: int | None,
    dtype: torch.dtype,
    device: torch.device,
) -> DenseSpectrum:
    """All singular values of the dense operator matrix (:func:`batched_svdvals`: LAPACK's
    gesdd, or the float64 Gram for one large single-precision matrix).

    A grouped convolution's matrix is block diagonal: its values are those of the ``groups``
    diagonal blocks, decomposed as one batch (a depthwise layer with 144 channels at 4x4 is 144
    SVDs of 4 x 16, not one of 576 x 2304).
    """
    operator = ConvOperator(weight, geometry, dtype=dtype, device=device)
    blocks = operator.to_dense_blocks()
    values = batched_svdvals(blocks).cpu()  # many blocks shared out over threads
    solver = "dense-gram-f64" if uses_gram(blocks) else "dense-gesdd"
    return DenseSpectrum(values, operator, k=k, solver=solver)


def topk_spectrum(
    weight: torch.Tensor,
    geometry: ConvGeometry,
    *,
    k: int,
    dtype: torch.dtype,
    device: torch.device,
    tol: float = 1e-10,
) -> TopKSpectrum:
    """The ``k`` largest singular values and vectors, matrix-free (ARPACK through ``svds``).

    The matrix-vector products always run in float64: Lanczos loses orthogonality fast in
    single precision. ``tol`` is ARPACK's relative accuracy of the Ritz values (``0`` asks for
    machine precision, which costs many more restarts on the clustered top of a conv spectrum).
    """
    operator = ConvOperator(weight, geometry, dtype=torch.float64, device=device)
    rng = np.random.default_rng(0)
    v0 = rng.standard_normal(min(operator.shape))
    left, sigma, right_h = svds(
        operator.to_scipy(), k=k, which="LM", tol=tol, v0=v0, solver="arpack"
    )
    order = np.argsort(sigma)[::-1]
    values = torch.from_numpy(sigma[order].copy()).to(dtype)
    left_t = torch.from_numpy(left[:, order].copy()).to(dtype)
    right_t = torch.from_numpy(right_h[order].T.copy()).to(dtype)
    return TopKSpectrum(values, left_t, right_t, geometry, solver="matrix-free-arpack")
