"""Boundary checks shared by the engine's public functions (one error type, the value named)."""

from __future__ import annotations

import torch

from svdwidgets.errors import SVDWidgetsError

__all__ = ["check_memory_budget", "resolve_device"]


def resolve_device(device: torch.device | str | None, weight: torch.Tensor) -> torch.device:
    """``device`` as a ``torch.device`` (default: the weight's); CUDA only when available."""
    if device is None:
        return weight.device
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise SVDWidgetsError(f"unknown device {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SVDWidgetsError(f"device {device!r} was asked for, but CUDA is not available")
    return dev


def check_memory_budget(memory_budget: object) -> int:
    """A positive number of bytes."""
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, int) or memory_budget < 1:
        raise SVDWidgetsError(
            f"memory_budget must be a positive number of bytes, got {memory_budget!r}"
        )
    return memory_budget
