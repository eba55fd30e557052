"""Boundary checks shared by the engine's public functions (one error type, the value named)."""

from __future__ import annotations

import torch

from svdwidgets.errors import SVDWidgetsError

__all__ = ["check_dtype", "check_memory_budget", "resolve_device"]


def resolve_device(device: object, default: torch.Tensor | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` (default: ``default``'s, a tensor's or a device);
    CUDA only when available."""
    if device is None:
        return default.device if isinstance(default, torch.Tensor) else default
    try:
        dev = torch.device(device)  # type: ignore[call-overload]
    except (RuntimeError, TypeError) as err:
        raise SVDWidgetsError(f"unknown device {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SVDWidgetsError(f"device {device!r} was asked for, but CUDA is not available")
    return dev


def check_dtype(dtype: object) -> torch.dtype:
    """float32 or float64, the precisions the engine computes in."""
    if dtype not in (torch.float32, torch.float64):
        raise SVDWidgetsError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    assert isinstance(dtype, torch.dtype)
    return dtype


def check_memory_budget(memory_budget: object) -> int:
    """A positive number of bytes."""
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, int) or memory_budget < 1:
        raise SVDWidgetsError(
            f"memory_budget must be a positive number of bytes, got {memory_budget!r}"
        )
    return memory_budget
