"""Lmser-style symmetric networks: a decoder that reuses the encoder's weights, transposed.

Xu, "Least mean square error reconstruction principle for self-organizing neural-nets",
Neural Networks 6 (1993), and its convolutional revival (Huang, Xu et al., "Deep IA-BI and
Five Actions in Circling", 2019; "Lmser", 2020): the decoder runs the encoder's layers
backwards with the *same* weights, transposed. For a convolution ``A`` (``conv2d`` with weight
``W``) the tied decoder layer is ``ConvTranspose2d`` with that weight, whose operator is exactly
``A^T`` (torch's ``conv_transpose2d`` is the adjoint of ``conv2d``). Hence:

- the transposed layer has the same singular values as the conv (left and right singular
  vectors exchanged): ``svdwidgets.conv_svd`` of both agree;
- without nonlinearity, an encoder ``A = A_L ··· A_1`` and its tied decoder give the round trip
  ``A^T A``, symmetric positive semi-definite with eigenvalues ``σ_i(A)²`` (and zeros when the
  code is smaller than the input).

``output_padding`` is chosen so that the decoder returns the encoder's input size exactly.
Only zero padding is possible (``ConvTranspose2d`` has no other padding mode).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.neighbours._circular import check_grid

__all__ = ["TiedAutoencoder", "roundtrip_matrix", "tied_transpose"]


def tied_transpose(
    conv: nn.Conv2d, input_size: object, *, bias: bool = False
) -> nn.ConvTranspose2d:
    """The ``ConvTranspose2d`` that is ``conv``'s adjoint on inputs of ``input_size``.

    Its ``weight`` *is* ``conv.weight`` (the same ``Parameter``: training one trains both);
    stride, padding, dilation and groups are the conv's, and ``output_padding`` makes its
    output ``(c_in, H, W)`` for ``conv``'s output on ``(H, W)``. ``bias`` adds a fresh zero
    bias of ``c_in`` entries (the adjoint itself has none).
    """
    if not isinstance(conv, nn.Conv2d) or isinstance(conv, nn.ConvTranspose2d):
        raise SVDWidgetsError(f"expected an nn.Conv2d, got {type(conv).__name__}")
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise SVDWidgetsError(
            f"ConvTranspose2d is the adjoint only of zero-padded convs with int padding; got "
            f"padding={conv.padding!r}, padding_mode={conv.padding_mode!r}"
        )
    size = check_grid(input_size)
    out_pad = []
    for axis in (0, 1):
        n, k = size[axis], conv.kernel_size[axis]
        s, p, d = conv.stride[axis], conv.padding[axis], conv.dilation[axis]
        out = (n + 2 * p - d * (k - 1) - 1) // s + 1
        if out < 1:
            raise SVDWidgetsError(f"{conv} gives an empty output on input size {size}")
        out_pad.append(n - ((out - 1) * s - 2 * p + d * (k - 1) + 1))
    deconv = nn.ConvTranspose2d(
        conv.out_channels,
        conv.in_channels,
        conv.kernel_size,  # type: ignore[arg-type]
        stride=conv.stride,  # type: ignore[arg-type]
        padding=conv.padding,  # type: ignore[arg-type]
        output_padding=(out_pad[0], out_pad[1]),
        groups=conv.groups,
        bias=bias,
        dilation=conv.dilation,  # type: ignore[arg-type]
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    deconv.weight = conv.weight  # tied: the same Parameter
    if deconv.bias is not None:
        with torch.no_grad():
            deconv.bias.zero_()
    return deconv


class TiedAutoencoder(nn.Module):
    """``decode(encode(x))`` with the decoder's layers the encoder's, transposed and reversed.

    Parameters
    ----------
    encoder:
        the encoder's ``nn.Conv2d`` layers, in order (they stay shared, not copied).
    input_size:
        ``(H, W)`` of the inputs (fixes every decoder layer's ``output_padding``).
    activation:
        applied after every encoder and decoder layer but the last decoder one; ``None``
        (the default) makes the auto-encoder linear: the round trip is ``A^T A``.
    """

    def __init__(
        self,
        encoder: Sequence[nn.Conv2d],
        input_size: object,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if isinstance(encoder, nn.Module) or not isinstance(encoder, Sequence) or not encoder:
            raise SVDWidgetsError(f"encoder must be a non-empty list of nn.Conv2d, got {encoder!r}")
        size = check_grid(input_size)
        self.input_size = size
        decoders = []
        for j, conv in enumerate(encoder):
            if not isinstance(conv, nn.Conv2d):
                raise SVDWidgetsError(f"encoder layer {j} is {type(conv).__name__}, not Conv2d")
            if j and conv.in_channels != encoder[j - 1].out_channels:
                raise SVDWidgetsError(
                    f"encoder layer {j} takes {conv.in_channels} channels but layer {j - 1} "
                    f"gives {encoder[j - 1].out_channels}"
                )
            decoders.append(tied_transpose(conv, size))
            with torch.no_grad():
                probe = torch.zeros(1, conv.in_channels, *size, dtype=conv.weight.dtype)
                out = conv(probe)
            size = (int(out.shape[2]), int(out.shape[3]))
        self.encoder = nn.ModuleList(encoder)
        self.decoder = nn.ModuleList(reversed(decoders))
        self.activation = activation

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.encoder:
            x = conv(x)
            if self.activation is not None:
                x = self.activation(x)
        return x

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        for j, deconv in enumerate(self.decoder):
            z = deconv(z)
            if self.activation is not None and j < len(self.decoder) - 1:
                z = self.activation(z)
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


@torch.no_grad()
def roundtrip_matrix(autoencoder: TiedAutoencoder) -> torch.Tensor:
    """The dense ``dim_in x dim_in`` matrix of a linear tied auto-encoder's round trip
    (``A^T A``), built by running it on the basis vectors in float64 (biases must be absent
    and ``activation`` None: otherwise the round trip is not linear)."""
    if not isinstance(autoencoder, TiedAutoencoder):
        raise SVDWidgetsError(f"expected a TiedAutoencoder, got {type(autoencoder).__name__}")
    if autoencoder.activation is not None:
        raise SVDWidgetsError("the round trip is linear only without activation")
    for m in autoencoder.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None:
            raise SVDWidgetsError(f"the round trip is linear only without biases: {m}")
    first = autoencoder.encoder[0]
    assert isinstance(first, nn.Conv2d)
    c_in = first.in_channels
    h, w = autoencoder.input_size
    n = c_in * h * w
    basis = torch.eye(n, dtype=torch.float64).reshape(n, c_in, h, w)
    dtype = first.weight.dtype
    autoencoder.double()
    try:
        out = autoencoder(basis).reshape(n, n).T
    finally:
        autoencoder.to(dtype)
    return out
