"""The geometry of a convolutional layer as a linear operator.

A ``Conv2d`` with weight ``W`` of shape ``(c_out, c_in/groups, kh, kw)`` applied to inputs of
size ``(H, W)`` is a linear map ``R^(c_in*H*W) -> R^(c_out*H'*W')`` (bias excluded). This module
turns the many ways of describing such a layer (a weight tensor plus keyword arguments, an
``nn.Conv2d``, an ``nn.ConvTranspose2d``, an ``nn.Linear``) into one validated, immutable
:class:`ConvGeometry`. Every check raises :class:`~svdwidgets.errors.SVDWidgetsError` with the
offending value in the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "PADDING_MODES",
    "ConvGeometry",
    "LayerKind",
    "check_weight",
    "dense_bytes",
    "dense_work",
    "geometry_from",
]

PADDING_MODES = ("zeros", "circular", "reflect", "replicate")
LayerKind = Literal["conv", "conv_transpose", "linear"]
Pair = tuple[int, int]


def _pair(name: str, value: object, *, minimum: int) -> Pair:
    """Normalise an int or a pair of ints, as torch's ``_pair`` does, and check its range."""
    if isinstance(value, bool):
        raise SVDWidgetsError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        pair: tuple[object, ...] = (value, value)
    elif isinstance(value, (tuple, list, torch.Size)) and len(value) == 2:
        pair = tuple(value)
    else:
        raise SVDWidgetsError(f"{name} must be an int or a pair of ints, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise SVDWidgetsError(f"{name} must be an int or a pair of ints, got {value!r}")
    a, b = int(pair[0]), int(pair[1])  # type: ignore[call-overload]
    if a < minimum or b < minimum:
        raise SVDWidgetsError(f"{name} must be >= {minimum}, got {value!r}")
    return a, b


@dataclass(frozen=True)
class ConvGeometry:
    """A validated description of a 2-D convolution acting on inputs of one size.

    The operator is the forward ``torch.nn.functional.conv2d`` with these settings. A
    ``ConvTranspose2d`` layer is described by the forward convolution whose adjoint it is
    (``kind == "conv_transpose"``): the two share their singular values, with the roles of the
    left and right singular vectors exchanged. A ``Linear`` layer is a 1x1 convolution on a 1x1
    input (``kind == "linear"``).
    """

    c_out: int
    c_in: int
    kernel: Pair
    input_size: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    padding_mode: str = "zeros"
    kind: LayerKind = "conv"

    @property
    def output_size(self) -> Pair:
        """``(H', W')``, as ``torch.nn.functional.conv2d`` computes it."""
        return (
            _out_len(
                self.input_size[0],
                self.kernel[0],
                self.stride[0],
                self.padding[0],
                self.dilation[0],
            ),
            _out_len(
                self.input_size[1],
                self.kernel[1],
                self.stride[1],
                self.padding[1],
                self.dilation[1],
            ),
        )

    @property
    def dim_in(self) -> int:
        """Dimension of the input space, ``c_in * H * W``."""
        return self.c_in * self.input_size[0] * self.input_size[1]

    @property
    def dim_out(self) -> int:
        """Dimension of the output space, ``c_out * H' * W'``."""
        h, w = self.output_size
        return self.c_out * h * w

    @property
    def n_values(self) -> int:
        """How many singular values the operator has: ``min(dim_in, dim_out)``."""
        return min(self.dim_in, self.dim_out)

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return (self.c_in, *self.input_size)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.c_out, *self.output_size)

    @property
    def stride_divides_input(self) -> bool:
        return all(n % s == 0 for n, s in zip(self.input_size, self.stride, strict=True))

    @property
    def fft_is_exact(self) -> bool:
        """Whether the ``fft`` method (Sedghi et al. 2019) gives this operator's exact spectrum.

        It does when the operator *is* a circular convolution on the input grid: the stride
        divides the input size and, along each axis, either the padding is circular and the
        output has ``H/s`` positions (``d(k-1) - (s-1) <= 2p <= d(k-1)``), or nothing padded is
        ever read (``p = 0`` and ``d(k-1) < s``: 1x1 kernels, non-overlapping patches).
        """
        if not self.stride_divides_input:
            return False
        for p, d, k, s in zip(self.padding, self.dilation, self.kernel, self.stride, strict=True):
            span = d * (k - 1)
            if self.padding_mode == "circular":
                if not span - (s - 1) <= 2 * p <= span:
                    return False
            elif not (p == 0 and span < s):
                return False
        return True

    def describe(self) -> str:
        """One line naming every setting, for error messages and tables."""
        return (
            f"{self.kind} c_in={self.c_in} c_out={self.c_out} kernel={self.kernel} "
            f"input={self.input_size} stride={self.stride} padding={self.padding} "
            f"dilation={self.dilation} groups={self.groups} padding_mode={self.padding_mode!r}"
        )

    def with_input_size(self, input_size: Pair) -> ConvGeometry:
        """The same layer on another input size (validated again)."""
        return _validated(
            ConvGeometry(
                self.c_out,
                self.c_in,
                self.kernel,
                input_size,
                self.stride,
                self.padding,
                self.dilation,
                self.groups,
                self.padding_mode,
                self.kind,
            )
        )


def _out_len(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _validated(g: ConvGeometry) -> ConvGeometry:
    if g.padding_mode not in PADDING_MODES:
        raise SVDWidgetsError(
            f"unknown padding_mode {g.padding_mode!r}; expected one of {PADDING_MODES}"
        )
    if g.c_out % g.groups != 0 or g.c_in % g.groups != 0:
        raise SVDWidgetsError(
            f"groups={g.groups} must divide the channels: c_in={g.c_in}, c_out={g.c_out}"
        )
    for axis in (0, 1):
        n, k, p, d = g.input_size[axis], g.kernel[axis], g.padding[axis], g.dilation[axis]
        span = d * (k - 1) + 1
        if n + 2 * p < span:
            raise SVDWidgetsError(
                f"input size {g.input_size} (padded by {g.padding}) is smaller than the "
                f"kernel {g.kernel} with dilation {g.dilation} (span {span}): {g.describe()}"
            )
        stride = g.stride[axis]
        if stride > n + 2 * p:
            # Any stride past the padded input gives one output position per axis: such a
            # stride is a mistake, and the polyphase split would need stride**2 sub-grids.
            raise SVDWidgetsError(
                f"stride {g.stride} exceeds the padded input size "
                f"{(g.input_size[0] + 2 * g.padding[0], g.input_size[1] + 2 * g.padding[1])}: "
                f"{g.describe()}"
            )
        if g.padding_mode == "reflect" and p >= n:
            raise SVDWidgetsError(
                f"padding {g.padding} must be smaller than the input size {g.input_size} "
                f"for padding_mode={g.padding_mode!r}"
            )
        if g.padding_mode == "circular" and p > n:
            raise SVDWidgetsError(
                f"circular padding {g.padding} must not exceed the input size {g.input_size}"
            )
    return g


def _padding(value: object, kernel: Pair, dilation: Pair, stride: Pair) -> Pair:
    if isinstance(value, str):
        if value == "valid":
            return (0, 0)
        if value == "same":
            if stride != (1, 1):
                raise SVDWidgetsError(f"padding='same' needs stride 1, got stride={stride}")
            spans = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
            if any(s % 2 for s in spans):
                raise SVDWidgetsError(
                    f"padding='same' with kernel {kernel} and dilation {dilation} pads "
                    "asymmetrically, which svdwidgets does not support; pass explicit padding"
                )
            return (spans[0] // 2, spans[1] // 2)
        raise SVDWidgetsError(f"padding must be an int, a pair, 'same' or 'valid', got {value!r}")
    return _pair("padding", value, minimum=0)


def check_weight(weight: object, *, ndim: tuple[int, ...] = (4,)) -> torch.Tensor:
    """Check that ``weight`` is a finite floating-point tensor of an accepted rank."""
    if not isinstance(weight, torch.Tensor):
        raise SVDWidgetsError(
            f"expected a weight tensor or a Conv2d/ConvTranspose2d/Linear module, "
            f"got {type(weight).__name__}"
        )
    if weight.ndim not in ndim:
        raise SVDWidgetsError(
            f"a conv weight must have shape (c_out, c_in/groups, kh, kw) (4-D) and a linear "
            f"weight (out, in) (2-D); got shape {tuple(weight.shape)}"
        )
    if weight.numel() == 0:
        raise SVDWidgetsError(f"the weight is empty: shape {tuple(weight.shape)}")
    if not (weight.is_floating_point() or weight.is_complex()):
        raise SVDWidgetsError(f"the weight must be floating point, got dtype {weight.dtype}")
    if weight.is_complex():
        raise SVDWidgetsError(f"complex weights are not supported, got dtype {weight.dtype}")
    if weight.is_meta:
        raise SVDWidgetsError(
            f"the weight of shape {tuple(weight.shape)} is on the meta device (it has no values); "
            "load or materialise the model's parameters first (e.g. model.to_empty + "
            "load_state_dict)"
        )
    # A sum is non-finite whenever an entry is (NaN and inf propagate); only then count them.
    if not bool(torch.isfinite(weight.detach().sum())):
        bad = int((~torch.isfinite(weight.detach())).sum())
        if bad:
            raise SVDWidgetsError(
                f"the weight of shape {tuple(weight.shape)} has {bad} non-finite entries "
                "(NaN or inf)"
            )
    return weight.detach()


def geometry_from(
    weight_or_module: object,
    input_size: object = None,
    *,
    stride: object = 1,
    padding: object = 0,
    dilation: object = 1,
    groups: object = 1,
    padding_mode: object = "zeros",
) -> tuple[torch.Tensor, ConvGeometry]:
    """Validate a layer and its input size; return ``(weight, geometry)``.

    When a module is given, its own stride, padding, dilation, groups and padding mode are
    used and the keyword arguments are ignored, as ``DESIGN.md`` specifies. The returned weight
    always has the forward convolution's layout ``(c_out, c_in/groups, kh, kw)``.
    """
    if isinstance(weight_or_module, nn.Module):
        return _from_module(weight_or_module, input_size)
    weight = check_weight(weight_or_module, ndim=(2, 4))
    if weight.ndim == 2:
        return weight[:, :, None, None], _linear_geometry(weight)
    return _conv_geometry(weight, input_size, stride, padding, dilation, groups, padding_mode)


def _conv_geometry(
    weight: torch.Tensor,
    input_size: object,
    stride: object,
    padding: object,
    dilation: object,
    groups: object,
    padding_mode: object,
) -> tuple[torch.Tensor, ConvGeometry]:
    """The geometry of a checked 4-D conv weight with the ``nn.Conv2d`` keywords."""
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise SVDWidgetsError(f"groups must be a positive int, got {groups!r}")
    if not isinstance(padding_mode, str):
        raise SVDWidgetsError(f"padding_mode must be a string, got {padding_mode!r}")
    c_out, c_in_g, kh, kw = weight.shape
    kernel = (int(kh), int(kw))
    stride_ = _pair("stride", stride, minimum=1)
    dilation_ = _pair("dilation", dilation, minimum=1)
    geometry = ConvGeometry(
        c_out=int(c_out),
        c_in=int(c_in_g) * groups,
        kernel=kernel,
        input_size=_input_size(input_size),
        stride=stride_,
        padding=_padding(padding, kernel, dilation_, stride_),
        dilation=dilation_,
        groups=groups,
        padding_mode=padding_mode,
    )
    return weight, _validated(geometry)


def _input_size(value: object) -> Pair:
    if value is None:
        raise SVDWidgetsError("input_size=(H, W) is required for a convolution")
    return _pair("input_size", value, minimum=1)


def _linear_geometry(weight: torch.Tensor) -> ConvGeometry:
    out_features, in_features = weight.shape
    return ConvGeometry(int(out_features), int(in_features), (1, 1), (1, 1), kind="linear")


def _from_module(module: nn.Module, input_size: object) -> tuple[torch.Tensor, ConvGeometry]:
    if isinstance(module, nn.Linear):
        weight = check_weight(module.weight, ndim=(2,))
        return weight[:, :, None, None], _linear_geometry(weight)
    if isinstance(module, nn.Conv2d):
        padding = module.padding if isinstance(module.padding, str) else tuple(module.padding)
        return _conv_geometry(
            check_weight(module.weight),
            input_size,
            tuple(module.stride),
            padding,
            tuple(module.dilation),
            module.groups,
            module.padding_mode,
        )
    if isinstance(module, nn.ConvTranspose2d):
        return _from_conv_transpose(module, input_size)
    raise SVDWidgetsError(
        f"{type(module).__name__} is not a Conv2d, ConvTranspose2d or Linear layer"
    )


def _from_conv_transpose(
    module: nn.ConvTranspose2d, input_size: object
) -> tuple[torch.Tensor, ConvGeometry]:
    """A ConvTranspose2d on ``(h, w)`` is the adjoint of a Conv2d on its output size."""
    weight = check_weight(module.weight)  # (c_in_T, c_out_T/groups, kh, kw)
    if module.padding_mode != "zeros":
        raise SVDWidgetsError(
            f"ConvTranspose2d supports only padding_mode='zeros', got {module.padding_mode!r}"
        )
    h, w = _input_size(input_size)
    s = _pair("stride", tuple(module.stride), minimum=1)
    d = _pair("dilation", tuple(module.dilation), minimum=1)
    p = _pair("padding", tuple(module.padding), minimum=0)
    op = _pair("output_padding", tuple(module.output_padding), minimum=0)
    k = (int(weight.shape[2]), int(weight.shape[3]))
    big = tuple(
        (n - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1 for i, n in enumerate((h, w))
    )
    if min(big) < 1:
        raise SVDWidgetsError(
            f"ConvTranspose2d on input {(h, w)} has an empty output {big}: {module}"
        )
    fwd_weight, geometry = _conv_geometry(weight, big, s, p, d, module.groups, "zeros")
    geometry = ConvGeometry(**{**geometry.__dict__, "kind": "conv_transpose"})
    if geometry.output_size != (h, w):  # pragma: no cover - torch guarantees this
        raise SVDWidgetsError(f"internal: adjoint size {geometry.output_size} != {(h, w)}")
    return fwd_weight, geometry


def dense_bytes(geometry: ConvGeometry, itemsize: int) -> int:
    """Bytes of the dense operator: its ``groups`` diagonal blocks (``dim_out x dim_in`` for
    ``groups == 1``)."""
    return geometry.dim_in * geometry.dim_out // geometry.groups * itemsize


def dense_work(geometry: ConvGeometry) -> float:
    """Floating-point work of a dense SVD of the operator, up to a constant: one SVD per
    diagonal block (``groups`` blocks of ``dim_out/groups x dim_in/groups``)."""
    m, n = geometry.dim_out / geometry.groups, geometry.dim_in / geometry.groups
    return geometry.groups * m * n * min(m, n)
