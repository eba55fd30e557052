"""Batching widget updates: one message per widget for a group of trait changes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["held"]


@contextlib.contextmanager
def held(*widgets: Any) -> Iterator[None]:
    """``hold_sync()`` on every widget at once: each sends its changes in one message on exit."""
    with contextlib.ExitStack() as stack:
        for w in widgets:
            stack.enter_context(w.hold_sync())
        yield
