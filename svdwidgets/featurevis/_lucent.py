"""The pieces of Lucent (greentfrapp/lucent, ``torch-lucent``) this package builds on.

Only modules that import without torchvision are used: ``lucent.optvis.objectives`` (the
``Objective`` algebra) and ``lucent.optvis.param`` (the Fourier image parameterisation and the
colour-decorrelation matrix of Olah et al. 2017). ``lucent.optvis.transform`` and
``lucent.optvis.render`` import ``torchvision.transforms`` at module level, which does not import
beside the CPU torch on our machines, so the transforms and the optimisation loop are our own
(:mod:`svdwidgets.featurevis.transforms`, :mod:`svdwidgets.featurevis.render`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

try:
    from lucent.optvis import objectives as _objectives
    from lucent.optvis.param import color as _color
    from lucent.optvis.param import spatial as _spatial
except ImportError as err:  # pragma: no cover - exercised only without lucent
    raise ImportError(
        "svdwidgets.featurevis needs Lucent without its torchvision requirement: "
        "pip install --no-deps torch-lucent==0.1.8 && pip install 'svdwidgets[featurevis]'"
    ) from err

__all__ = ["COLOR_CORRELATION", "Objective", "fft_image"]

Objective = _objectives.Objective
"""Lucent's objective: a callable on the activation lookup ``T(name)``, returning the loss to
minimise; objectives add, subtract and scale by numbers."""

COLOR_CORRELATION = torch.tensor(_color.color_correlation_normalized.T)
"""Lucent's (Lucid's) square root of the ImageNet colour correlation, normalised (3 x 3)."""

_MAGIC = 4.0  # Lucid's constant dividing the image ("seems to reduce saturation")


def fft_image(
    shape: tuple[int, int, int, int], device: torch.device, sd: float = 0.01
) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
    """Lucent's ``fft_image``: an image batch parameterised by its scaled Fourier spectrum.

    Returns the spectrum parameter ``(B, C, H, W//2+1(+1), 2)`` and the function computing the
    (unbounded, pre-sigmoid) image ``(B, C, H, W)`` from it (Olah et al. 2017, "Feature
    Visualization", Distill: the 1/f scaling decorrelates the pixels). The same arithmetic as
    ``lucent.optvis.param.spatial.fft_image`` (with Lucent's ``rfft2d_freqs``), written out so
    that the tensors are made on ``device`` directly: Lucent's version puts them on its
    module-level ``device`` (``cuda:0`` whenever CUDA exists), which this package never patches.
    """
    batch, channels, h, w = shape
    freqs = _spatial.rfft2d_freqs(h, w)
    spectrum = (torch.randn(batch, channels, *freqs.shape, 2) * sd).to(device)
    spectrum.requires_grad_(True)
    scale_np = 1.0 / np.maximum(freqs, 1.0 / max(w, h))
    scale = torch.tensor(scale_np).float()[None, None, ..., None].to(device)

    def image() -> torch.Tensor:
        scaled = torch.view_as_complex(scale * spectrum)
        x = torch.fft.irfftn(scaled, s=(h, w), norm="ortho")
        return x[:batch, :channels, :h, :w] / _MAGIC

    return spectrum, image
