"""The private copy of a model that a render optimises through, batch norms folded in.

A feature-visualization render runs the network up to one layer a few hundred times, in eval
mode, without weight gradients. In eval mode a ``BatchNorm2d`` applied to a convolution's
output is a fixed per-channel affine map, ``γ (y - μ) / sqrt(σ² + ε) + β``, so it folds into
the convolution: weight ``W[o] * s[o]`` and bias ``(b[o] - μ[o]) s[o] + β[o]`` with
``s = γ / sqrt(σ² + ε)`` (Ioffe & Szegedy 2015; the folding that ``torch.ao`` and TensorRT do for
inference). Every activation the render reads is unchanged up to float rounding, and each step
saves a normalisation and its backward per folded pair (5-9% of a CPU render of the bundled
model, 5% of a ResNet-18 one).

:func:`render_copy` deep-copies the model (the caller's model is never hooked, switched or
changed), finds the pairs by tensor identity in one forward pass (a ``BatchNorm2d`` whose input
*is* a ``Conv2d``'s output, each module called once), never folds the batch norm of the layer
whose output is read, and then checks the result: the tapped activation of the folded copy must
match the unfolded one on a random input, or the unfolded copy is used. So a convolution
output that something else also reads (which folding would change) is caught, not trusted.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.featurevis.hooks import run_to, tap

__all__ = ["RenderCopy", "fold_pairs", "render_copy"]


@dataclass(frozen=True)
class RenderCopy:
    """The private model and the ``(conv, batchnorm)`` names folded into it."""

    model: nn.Module
    folded: tuple[tuple[str, str], ...]


def fold_pairs(
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    side: str,
) -> list[tuple[str, str]]:
    """``(conv, batchnorm)`` names that can fold, seen in one pass of ``x`` up to ``layer``.

    ``model`` must be in eval mode. A pair qualifies when the batch norm's input is the
    convolution's output tensor, both ran exactly once, the batch norm keeps running
    statistics, and the convolution is not ``layer`` read on its ``"output"`` side.
    """
    convs: dict[nn.Module, str] = {m: n for n, m in model.named_modules() if type(m) is nn.Conv2d}
    norms: dict[nn.Module, str] = {
        m: n for n, m in model.named_modules() if type(m) is nn.BatchNorm2d
    }
    calls: dict[str, int] = {}
    outputs: dict[int, tuple[str, torch.Tensor]] = {}
    pairs: dict[str, str] = {}

    def count(name: str) -> None:
        calls[name] = calls.get(name, 0) + 1

    def conv_out(module: nn.Module, args: tuple[object, ...], out: object) -> None:
        count(convs[module])
        if isinstance(out, torch.Tensor):
            outputs[id(out)] = (convs[module], out)  # the tensor is kept: its id stays unique

    def norm_in(module: nn.Module, args: tuple[object, ...]) -> None:
        count(norms[module])
        producer = outputs.get(id(args[0])) if args else None
        if producer is not None and producer[1] is args[0]:
            pairs[norms[module]] = producer[0]

    handles = [m.register_forward_hook(conv_out) for m in convs]
    handles += [m.register_forward_pre_hook(norm_in) for m in norms]
    try:
        with torch.no_grad(), tap(model, layer, "input" if side == "right" else "output") as t:
            run_to(model, x, t)
    finally:
        for h in handles:
            h.remove()
    found = []
    for bn_name, conv_name in pairs.items():
        bn = model.get_submodule(bn_name)
        assert isinstance(bn, nn.BatchNorm2d)
        if calls.get(bn_name) != 1 or calls.get(conv_name) != 1:
            continue
        if bn.running_mean is None or bn.running_var is None:
            continue
        if conv_name == layer and side == "left":
            continue
        found.append((conv_name, bn_name))
    return found


def _fold(model: nn.Module, conv_name: str, bn_name: str) -> None:
    conv = model.get_submodule(conv_name)
    bn = model.get_submodule(bn_name)
    assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
    assert bn.running_mean is not None and bn.running_var is not None
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var.double() + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight.double()
        shift = -bn.running_mean.double() * scale
        if bn.bias is not None:
            shift = shift + bn.bias.double()
        if conv.bias is not None:
            shift = shift + conv.bias.double() * scale
        dtype = conv.weight.dtype
        weight = conv.weight.double() * scale.view(-1, 1, 1, 1)
    conv.weight = nn.Parameter(weight.to(dtype), requires_grad=False)
    conv.bias = nn.Parameter(shift.to(dtype), requires_grad=False)
    parent_name, _, child = bn_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, nn.Identity())


def render_copy(
    model: nn.Module,
    device: torch.device,
    layer: str,
    side: str,
    example: Callable[[], torch.Tensor],
    *,
    fold: bool = True,
) -> RenderCopy:
    """An eval-mode deep copy of ``model`` on ``device`` (no parameter requiring a gradient),
    with batch norms folded when they can.

    ``example()`` makes a model input (on ``device``) for finding the pairs and checking the
    folded copy: the activation of ``layer`` (its input for ``side="right"``, its output for
    ``"left"``) must agree with the unfolded copy's to 1e-4 of its largest entry, or the
    unfolded copy is returned.
    """
    try:
        plain = copy.deepcopy(model)
    except (TypeError, AttributeError, RuntimeError, copy.Error) as err:
        raise SVDWidgetsError(
            f"could not deep-copy the {type(model).__name__} model for the render ({err}); "
            "pass copy_model=False to render through the model itself, on its own device"
        ) from err
    plain = plain.to(device).eval()
    for p in plain.parameters():  # the copy's weights never take a gradient
        p.requires_grad_(False)
    if not fold:
        return RenderCopy(plain, ())
    x = example()
    where = "input" if side == "right" else "output"
    try:
        pairs = fold_pairs(plain, x, layer, side)
        if not pairs:
            return RenderCopy(plain, ())
        with torch.no_grad(), tap(plain, layer, where) as t:
            want = run_to(plain, x, t).clone()
        folded = copy.deepcopy(plain)
        for conv_name, bn_name in pairs:
            _fold(folded, conv_name, bn_name)
        with torch.no_grad(), tap(folded, layer, where) as t:
            got = run_to(folded, x, t)
    except (RuntimeError, AttributeError, TypeError, ValueError):
        return RenderCopy(plain, ())  # an unusual model: render through it as it is
    tolerance = 1e-4 * max(float(want.abs().max()), 1e-12)
    if got.shape != want.shape or float((got - want).abs().max()) > tolerance:
        return RenderCopy(plain, ())
    return RenderCopy(folded, tuple(pairs))
