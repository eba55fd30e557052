"""The one error type of svdwidgets."""

from __future__ import annotations

__all__ = ["SVDWidgetsError"]


class SVDWidgetsError(ValueError):
    """Bad input to a public svdwidgets function.

    The message always names the offending value or shape, so that a user can see what to
    change without reading a traceback from inside torch.
    """
