"""Find every Conv2d, ConvTranspose2d and Linear layer of a model and the input it sees.

One shape-probing forward pass on an example input records, for each layer, the shape of its
input (the input size that :func:`svdwidgets.conv_svd` needs). The hooks are removed afterwards,
even when the forward pass fails, and every submodule's training flag is restored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError

__all__ = ["ANALYSABLE", "LayerRecord", "find_layers"]

ANALYSABLE = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


@dataclass(frozen=True)
class LayerRecord:
    """One analysable layer: its dotted name, the module, and its input's shape.

    ``input_shape`` excludes the batch dimension: ``(c_in, H, W)`` for convolutions,
    ``(..., in_features)`` for Linear layers. ``calls`` counts how often the forward pass used
    the module (a module reused on inputs of different sizes is reported with its first).
    ``batchnorm`` names the BatchNorm2d that consumed this layer's output tensor directly
    (found by tensor identity during the probing pass), the one ``fold_bn`` folds in.
    """

    name: str
    module: nn.Module
    input_shape: tuple[int, ...]
    calls: int = 1
    batchnorm: str | None = None
    """The dotted name of a ``BatchNorm2d`` applied directly to this layer's output, if any."""

    @property
    def kind(self) -> str:
        if isinstance(self.module, nn.ConvTranspose2d):
            return "conv_transpose"
        if isinstance(self.module, nn.Conv2d):
            return "conv"
        return "linear"

    @property
    def input_size(self) -> tuple[int, int] | None:
        """``(H, W)`` for convolutions, None for Linear layers."""
        if self.kind == "linear":
            return None
        return (self.input_shape[-2], self.input_shape[-1])


def find_layers(model: nn.Module, example_input: torch.Tensor) -> list[LayerRecord]:
    """Every analysable layer of ``model``, in the order the forward pass first uses them.

    ``example_input`` is one batch (``(N, C, H, W)``); it is run once under ``no_grad`` in
    eval mode.
    """
    if not isinstance(model, nn.Module):
        raise SVDWidgetsError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(example_input, torch.Tensor):
        raise SVDWidgetsError(f"example_input must be a tensor, got {type(example_input).__name__}")
    names: dict[nn.Module, str] = {
        m: n for n, m in model.named_modules() if isinstance(m, ANALYSABLE)
    }
    if not names:
        raise SVDWidgetsError(
            f"{type(model).__name__} has no Conv2d, ConvTranspose2d or Linear layer"
        )
    norms: dict[nn.Module, str] = {
        m: n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)
    }
    seen: dict[str, tuple[tuple[int, ...], int]] = {}
    # id of a layer's output tensor -> (the layer's name, the tensor, kept alive so that its id
    # cannot be reused by another tensor during the pass)
    outputs: dict[int, tuple[str, torch.Tensor, int]] = {}
    followers: dict[str, str] = {}

    def record(module: nn.Module, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        name = names[module]
        # a layer called by keyword (self.conv(input=x)) has its input in kwargs
        x = args[0] if args else next(iter(kwargs.values()), None)
        shape = tuple(x.shape[1:]) if isinstance(x, torch.Tensor) else ()
        first, calls = seen.get(name, (shape, 0))
        seen[name] = (first, calls + 1)

    def remember_output(module: nn.Module, args: tuple[object, ...], out: object) -> None:
        if isinstance(out, torch.Tensor):
            outputs[id(out)] = (names[module], out, out._version)

    def match_norm(module: nn.Module, args: tuple[object, ...]) -> None:
        # the same tensor object, never written since the layer returned it: an in-place op in
        # between (ReLU(inplace=True), y.add_(x)) bumps its version counter and the BatchNorm
        # then reads something other than the conv's output, so nothing is folded
        producer = outputs.get(id(args[0]))
        if producer is not None and producer[1] is args[0] and args[0]._version == producer[2]:
            followers.setdefault(producer[0], norms[module])

    handles = [m.register_forward_pre_hook(record, with_kwargs=True) for m in names]
    handles += [m.register_forward_hook(remember_output) for m in names]
    handles += [m.register_forward_pre_hook(match_norm) for m in norms]
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            model(example_input)
    except Exception as err:  # the user's model failed on this input: say which input
        raise SVDWidgetsError(
            f"the shape-probing forward pass of {type(model).__name__} failed on an input of "
            f"shape {tuple(example_input.shape)}: {err}"
        ) from err
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training
    order = {name: i for i, name in enumerate(seen)}
    return [
        LayerRecord(name, module, seen[name][0], seen[name][1], followers.get(name))
        for module, name in sorted(
            ((m, n) for m, n in names.items() if n in seen), key=lambda mn: order[mn[1]]
        )
    ]
