"""Folding a BatchNorm2d into the convolution before it.

In eval mode ``BN(conv(x)) = γ (conv(x) - μ) / sqrt(var + ε) + β``: a per-output-channel scale
``γ / sqrt(var + ε)`` of the convolution plus a constant. The constant does not change the
linear operator, so the folded layer's operator is the convolution with weight
``W[o] * γ[o] / sqrt(var[o] + ε)``. Its spectrum is what the network actually applies between
nonlinearities, which is why the paper's analysis of trained networks wants it.
"""

from __future__ import annotations

import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError

__all__ = ["FOLD_BN_DEFAULT", "fold_batchnorm"]

FOLD_BN_DEFAULT = False
"""The one BatchNorm-folding default of :func:`svdwidgets.profile`, :class:`svdwidgets.Analysis`,
the Explorer, ``svdwidgets report`` and ``python -m svdwidgets``: not folded — the spectrum of
the conv weights as they stand, as WeightWatcher and the literature report it. Pass
``fold_bn=True`` (``--fold-bn``) for the operator the network applies between nonlinearities."""


def fold_batchnorm(weight: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """The conv weight ``(c_out, c_in/groups, kh, kw)`` with the eval-mode BN scale folded in."""
    if not isinstance(bn, nn.BatchNorm2d):
        raise SVDWidgetsError(f"expected a BatchNorm2d to fold, got {type(bn).__name__}")
    if bn.running_var is None:
        raise SVDWidgetsError(
            f"{bn} keeps no running statistics (track_running_stats=False): in eval mode it "
            "normalises by batch statistics, which is not a fixed linear map to fold"
        )
    if bn.num_features != weight.shape[0]:
        raise SVDWidgetsError(
            f"{bn} has {bn.num_features} features but the conv has {weight.shape[0]} outputs"
        )
    scale = torch.rsqrt(bn.running_var.detach().double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    folded = weight.detach().double() * scale.to(weight.device)[:, None, None, None]
    return folded.to(weight.dtype)
