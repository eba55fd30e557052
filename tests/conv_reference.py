"""Independent references for the engine's tests.

The dense reference matrix is the Jacobian of ``F.pad`` + ``F.conv2d`` taken by autograd, so it
shares no code with :class:`svdwidgets.core.operator.ConvOperator`.
"""

from __future__ import annotations

import torch


def dense_conv_matrix(
    weight: torch.Tensor,
    input_size: tuple[int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """The ``dim_out x dim_in`` matrix of the conv exactly as ``nn.Conv2d`` computes it."""
    weight = weight.detach().double()
    c_in = weight.shape[1] * groups
    conv = torch.nn.Conv2d(
        c_in,
        weight.shape[0],
        tuple(weight.shape[2:]),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=False,
        padding_mode=padding_mode,
    ).double()
    with torch.no_grad():
        conv.weight.copy_(weight)

    def f(x: torch.Tensor) -> torch.Tensor:
        return conv(x.reshape(1, c_in, *input_size)).reshape(-1)

    x0 = torch.zeros(c_in * input_size[0] * input_size[1], dtype=torch.float64)
    return torch.autograd.functional.jacobian(f, x0)


def dense_values(matrix: torch.Tensor) -> torch.Tensor:
    return torch.linalg.svdvals(matrix.double())


def conv_apply(weight: torch.Tensor, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
    """``nn.Conv2d`` (bias-free) applied to one input of shape ``(c_in, H, W)``."""
    groups = int(kwargs.get("groups", 1))  # type: ignore[call-overload]
    padding_mode = str(kwargs.pop("padding_mode", "zeros"))
    conv = torch.nn.Conv2d(
        weight.shape[1] * groups,
        weight.shape[0],
        tuple(weight.shape[2:]),
        bias=False,
        padding_mode=padding_mode,
        **kwargs,  # type: ignore[arg-type]
    ).to(x.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)
        return conv(x[None])[0]
