"""The convolution as a matrix-free linear operator: ``matvec`` and ``rmatvec``.

``matvec`` is exactly what ``torch.nn.functional.conv2d`` computes (after ``F.pad`` for the
non-zero padding modes), bias excluded; ``rmatvec`` is its adjoint, built from
``conv_transpose2d`` and the adjoint of the padding. The operator has the face of
``scipy.sparse.linalg.LinearOperator`` (shape, dtype, matvec, rmatvec), so scipy's eigensolvers
can use it, and it can materialise itself as a dense matrix for small layers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import LinearOperator

from svdwidgets.core.geometry import ConvGeometry

__all__ = ["ConvOperator"]


class ConvOperator:
    """The linear map ``x (c_in, H, W) -> conv2d(x) (c_out, H', W')`` of one layer.

    Parameters
    ----------
    weight:
        ``(c_out, c_in/groups, kh, kw)``, the forward convolution's weight.
    geometry:
        the validated layer description (:func:`svdwidgets.core.geometry.geometry_from`).
    dtype, device:
        where and in which precision the operator computes.
    """

    def __init__(
        self,
        weight: torch.Tensor,
        geometry: ConvGeometry,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        self.geometry = geometry
        self.weight = weight.detach().to(device=device, dtype=dtype)
        self.dtype = dtype
        self.device = self.weight.device
        g = geometry
        self._torch_padding = (0, 0) if g.padding_mode != "zeros" else g.padding
        # F.pad takes (left, right, top, bottom)
        ph, pw = g.padding
        self._pad = (pw, pw, ph, ph)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.geometry.dim_out, self.geometry.dim_in)

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        if self.geometry.padding_mode == "zeros" or self._pad == (0, 0, 0, 0):
            return x
        return F.pad(x, self._pad, mode=self.geometry.padding_mode)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` for a batch ``x`` of shape ``(B, c_in, H, W)``."""
        g = self.geometry
        return F.conv2d(
            self._padded(x),
            self.weight,
            stride=g.stride,
            padding=self._torch_padding,
            dilation=g.dilation,
            groups=g.groups,
        )

    def apply_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``Aᵀ y`` for a batch ``y`` of shape ``(B, c_out, H', W')``."""
        g = self.geometry
        pad_h, pad_w = self._torch_padding
        padded = (
            (g.input_size[0] + 2 * g.padding[0], g.input_size[1] + 2 * g.padding[1])
            if g.padding_mode != "zeros"
            else g.input_size
        )
        base = [
            (y.shape[2 + a] - 1) * g.stride[a]
            - 2 * (pad_h, pad_w)[a]
            + g.dilation[a] * (g.kernel[a] - 1)
            + 1
            for a in (0, 1)
        ]
        out_pad = (padded[0] - base[0], padded[1] - base[1])
        x = F.conv_transpose2d(
            y,
            self.weight,
            stride=g.stride,
            padding=self._torch_padding,
            output_padding=out_pad,
            groups=g.groups,
            dilation=g.dilation,
        )
        if g.padding_mode == "zeros" or self._pad == (0, 0, 0, 0):
            return x
        return self._pad_adjoint(x)

    def _pad_adjoint(self, x_padded: torch.Tensor) -> torch.Tensor:
        """The adjoint of ``F.pad`` in a non-zero mode: a scatter-add, taken from autograd."""
        g = self.geometry
        probe = torch.zeros(
            (x_padded.shape[0], g.c_in, *g.input_size),
            dtype=self.dtype,
            device=self.device,
            requires_grad=True,
        )
        with torch.enable_grad():
            out = F.pad(probe, self._pad, mode=g.padding_mode)
            (grad,) = torch.autograd.grad(out, probe, grad_outputs=x_padded)
        return grad

    # -- flat-vector face, as scipy's LinearOperator ------------------------------------------

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` on flat vectors: ``(dim_in,)`` or ``(dim_in, B)`` -> ``(dim_out[, B])``."""
        return self._flat(x, self.geometry.in_shape, self.apply)

    def rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        """``Aᵀ y`` on flat vectors: ``(dim_out,)`` or ``(dim_out, B)`` -> ``(dim_in[, B])``."""
        return self._flat(y, self.geometry.out_shape, self.apply_adjoint)

    @staticmethod
    def _flat(
        v: torch.Tensor,
        shape: tuple[int, int, int],
        fn: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        single = v.ndim == 1
        cols = v[:, None] if single else v
        out = fn(cols.T.reshape(cols.shape[1], *shape))
        out = out.reshape(out.shape[0], -1).T
        return out[:, 0] if single else out

    def to_dense(self, *, chunk: int = 1024) -> torch.Tensor:
        """The ``dim_out x dim_in`` matrix, built column by column (or row by row, whichever
        side is smaller) from the operator itself."""
        dim_out, dim_in = self.shape
        eye_side, fn = (dim_in, self.matvec) if dim_in <= dim_out else (dim_out, self.rmatvec)
        blocks = []
        for start in range(0, eye_side, chunk):
            stop = min(start + chunk, eye_side)
            basis = torch.zeros((eye_side, stop - start), dtype=self.dtype, device=self.device)
            basis[torch.arange(start, stop), torch.arange(stop - start)] = 1
            blocks.append(fn(basis))
        dense = torch.cat(blocks, dim=1)
        return dense if dim_in <= dim_out else dense.T

    def to_dense_blocks(self, *, chunk: int = 1024) -> torch.Tensor:
        """The diagonal blocks ``(groups, dim_out/groups, dim_in/groups)`` of the matrix.

        A convolution with ``groups > 1`` maps each group of input channels to its own group of
        output channels (every padding mode pads channel by channel), so its matrix is block
        diagonal, in the ``(c, h, w)`` order of the flat vectors. One product per position of
        one group's input (or output, whichever is smaller) gives the columns (rows) of every
        block at once: the basis vector is repeated in each group.
        """
        groups = self.geometry.groups
        if groups == 1:
            return self.to_dense(chunk=chunk)[None]
        g = self.geometry
        dim_out, dim_in = self.shape
        use_in = dim_in <= dim_out
        shape, fn = (g.in_shape, self.apply) if use_in else (g.out_shape, self.apply_adjoint)
        side = (dim_in if use_in else dim_out) // groups
        parts = []
        for start in range(0, side, chunk):
            n = min(start + chunk, side) - start
            basis = torch.zeros((n, groups, side), dtype=self.dtype, device=self.device)
            basis[torch.arange(n), :, torch.arange(start, start + n)] = 1
            parts.append(fn(basis.reshape(n, *shape)).reshape(n, groups, -1))
        blocks = torch.cat(parts).permute(1, 2, 0)  # (groups, other side, side)
        return blocks if use_in else blocks.transpose(1, 2)

    def to_scipy(self) -> LinearOperator:
        """A ``scipy.sparse.linalg.LinearOperator`` computing through torch."""
        np_dtype = np.float64 if self.dtype == torch.float64 else np.float32

        def mv(x: np.ndarray) -> np.ndarray:
            t = torch.as_tensor(np.ascontiguousarray(x), dtype=self.dtype, device=self.device)
            return self.matvec(t.reshape(t.shape[0], -1)).cpu().numpy().reshape(-1)

        def rmv(y: np.ndarray) -> np.ndarray:
            t = torch.as_tensor(np.ascontiguousarray(y), dtype=self.dtype, device=self.device)
            return self.rmatvec(t.reshape(t.shape[0], -1)).cpu().numpy().reshape(-1)

        def mm(x: np.ndarray) -> np.ndarray:
            t = torch.as_tensor(np.ascontiguousarray(x), dtype=self.dtype, device=self.device)
            return self.matvec(t).cpu().numpy()

        def rmm(y: np.ndarray) -> np.ndarray:
            t = torch.as_tensor(np.ascontiguousarray(y), dtype=self.dtype, device=self.device)
            return self.rmatvec(t).cpu().numpy()

        return LinearOperator(
            self.shape, matvec=mv, rmatvec=rmv, matmat=mm, rmatmat=rmm, dtype=np_dtype
        )
