"""The one error type of svdwidgets."""

from __future__ import annotations

__all__ = ["SVDWidgetsError", "SVDWidgetsWarning"]


class SVDWidgetsError(ValueError):
    """Bad input to a public svdwidgets function.

    The message always names the offending value or shape, so that a user can see what to
    change without reading a traceback from inside torch.
    """


class SVDWidgetsWarning(UserWarning):
    """A result that is not what the user may assume: an approximation, a skipped step.

    The message says what was approximated, the expected error, and how to get the exact
    answer.
    """
