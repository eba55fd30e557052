"""Checks of the data a view is given: images (N, C, H, W) and their labels.

Read through the tensor's own methods (``ndim``, ``is_floating_point``, ``isfinite``): the
widgets import no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from svdwidgets.errors import SVDWidgetsError

__all__ = ["check_images", "check_labels"]


def check_images(data: Any) -> Any:
    """``data`` itself: a non-empty, finite, floating-point ``(N, C, H, W)`` tensor (or None)."""
    if data is None:
        return None
    if not all(hasattr(data, a) for a in ("ndim", "shape", "is_floating_point", "isfinite")):
        raise SVDWidgetsError(
            f"data must be a tensor of images (N, C, H, W), got {type(data).__name__}"
        )
    if data.ndim != 4 or data.shape[0] == 0:
        raise SVDWidgetsError(
            f"data must be a non-empty (N, C, H, W) tensor, got shape {tuple(data.shape)}"
        )
    if not data.is_floating_point():
        raise SVDWidgetsError(f"data must be floating point images, got dtype {data.dtype}")
    if not bool(data.isfinite().all()):
        raise SVDWidgetsError("data contains NaN or infinite values")
    return data


def check_labels(
    labels: Any, data: Any, class_names: Sequence[str] | None = None
) -> np.ndarray | None:
    """The labels as an int array, one non-negative class index per input (or None)."""
    if class_names is not None and (
        isinstance(class_names, (str, bytes)) or not isinstance(class_names, (Sequence, np.ndarray))
    ):
        raise SVDWidgetsError(
            f"class_names must be a sequence of names (one per class), got {class_names!r}"
        )
    if labels is None:
        if class_names is not None:
            raise SVDWidgetsError("class_names were given without labels")
        return None
    if data is None:
        raise SVDWidgetsError("labels were given without data")
    a = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if a.shape != (data.shape[0],) or not np.issubdtype(a.dtype, np.integer):
        raise SVDWidgetsError(
            f"labels must be {data.shape[0]} integers (one per input), got shape "
            f"{a.shape} of {a.dtype}"
        )
    if a.min() < 0:
        raise SVDWidgetsError(f"labels must be non-negative class indices, got {a.min()}")
    if class_names is not None and int(a.max()) >= len(class_names):
        raise SVDWidgetsError(
            f"label {int(a.max())} has no name: class_names has {len(class_names)} entries"
        )
    return a
