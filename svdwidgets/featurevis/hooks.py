"""Capture one layer's input or output and stop the forward pass there.

Feature visualization of a layer needs the network only up to that layer. :func:`tap` registers
a forward pre-hook (the layer's input, the activation its right singular vectors live in) or a
forward hook (its output, the left singular vectors' space) that stores the tensor and raises a
private exception, so the rest of the network never runs; :func:`run_to` calls the model and
swallows exactly that exception. The hook lives in a context manager and is removed on exit,
even when the forward pass, the objective or the optimiser fails. It acts only on forward
passes made by the thread that registered it: a model that another thread runs at the same
time (a notebook's main thread while a widget renders in the background) is not stopped or
read by it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError

__all__ = ["SIDES", "Tap", "run_to", "tap"]

SIDES = ("input", "output")


class _Reached(Exception):
    """Raised from a hook once the tapped activation is stored: the rest is not needed."""


@dataclass
class Tap:
    """The activation captured by :func:`tap` in the latest forward pass (None before one).

    ``thread`` is the ident of the only thread whose forward passes it reads.
    """

    name: str
    side: str
    stop: bool
    value: torch.Tensor | None = field(default=None, repr=False)
    thread: int = field(default_factory=threading.get_ident)

    def pre_hook(self, module: nn.Module, args: tuple[object, ...]) -> None:
        x = args[0] if args else None
        self._store(x)

    def hook(self, module: nn.Module, args: tuple[object, ...], out: object) -> None:
        self._store(out)

    def _store(self, x: object) -> None:
        if threading.get_ident() != self.thread:  # another thread's pass: not ours
            return
        if self.value is not None:  # a module reused in one pass: its first call counts
            return
        if not isinstance(x, torch.Tensor):
            raise SVDWidgetsError(
                f"the {self.side} of layer {self.name!r} is a {type(x).__name__}, not a tensor"
            )
        # a clone: a later in-place module (ReLU(inplace=True)) must not change it
        self.value = x if self.stop else x.clone()
        if self.stop:
            raise _Reached


@contextlib.contextmanager
def tap(model: nn.Module, name: str, side: str, *, stop: bool = True) -> Iterator[Tap]:
    """Capture the ``side`` (``"input"`` or ``"output"``) of ``model.get_submodule(name)``.

    With ``stop=True`` the forward pass ends right after the capture (see :func:`run_to`).
    """
    if side not in SIDES:
        raise SVDWidgetsError(f"side must be one of {SIDES}, got {side!r}")
    try:
        module = model.get_submodule(name)
    except AttributeError as err:
        raise SVDWidgetsError(f"the model has no submodule {name!r}") from err
    t = Tap(name, side, stop)
    if side == "input":
        handle = module.register_forward_pre_hook(t.pre_hook)
    else:
        handle = module.register_forward_hook(t.hook)
    try:
        yield t
    finally:
        handle.remove()


def run_to(model: nn.Module, x: torch.Tensor, t: Tap) -> torch.Tensor:
    """Run ``model(x)`` until ``t``'s layer and return the captured activation."""
    t.value = None
    try:
        model(x)
    except _Reached:
        pass
    if t.value is None:
        raise SVDWidgetsError(f"layer {t.name!r} did not run in the model's forward pass")
    return t.value
