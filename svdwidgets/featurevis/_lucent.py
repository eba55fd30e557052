"""The pieces of Lucent (greentfrapp/lucent, ``torch-lucent``) this package builds on.

Only modules that import without torchvision are used: ``lucent.optvis.objectives`` (the
``Objective`` algebra) and ``lucent.optvis.param`` (the Fourier image parameterisation and the
colour-decorrelation matrix of Olah et al. 2017). ``lucent.optvis.transform`` and
``lucent.optvis.render`` import ``torchvision.transforms`` at module level, which does not import
beside the CPU torch on our machines, so the transforms and the optimisation loop are our own
(:mod:`svdwidgets.featurevis.transforms`, :mod:`svdwidgets.featurevis.render`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import torch

from svdwidgets.errors import SVDWidgetsError

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

_DEVICE_LOCK = threading.Lock()


@contextlib.contextmanager
def _lucent_device(device: torch.device) -> Iterator[None]:
    """Point Lucent's module-level ``device`` at ``device`` while a parameterisation is made.

    ``lucent.optvis.param.spatial`` picks ``cuda:0`` whenever CUDA exists; a CPU render on a
    CUDA machine (or a ``cuda:1`` one) needs its tensors elsewhere.
    """
    with _DEVICE_LOCK:
        saved = _spatial.device
        _spatial.device = device
        try:
            yield
        finally:
            _spatial.device = saved


def fft_image(
    shape: tuple[int, int, int, int], device: torch.device, sd: float = 0.01
) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
    """Lucent's ``fft_image``: an image batch parameterised by its scaled Fourier spectrum.

    Returns the spectrum parameter ``(B, C, H, W//2+1(+1), 2)`` and the function computing the
    (unbounded, pre-sigmoid) image ``(B, C, H, W)`` from it (Olah et al. 2017, "Feature
    Visualization", Distill: the 1/f scaling decorrelates the pixels).
    """
    with _lucent_device(device):
        params, image_f = _spatial.fft_image(list(shape), sd=sd)
    (spectrum,) = params
    if not isinstance(spectrum, torch.Tensor):  # pragma: no cover - a different Lucent
        raise SVDWidgetsError(f"unexpected Lucent fft_image parameter {type(spectrum).__name__}")
    return spectrum, image_f
