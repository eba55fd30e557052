"""Find every Conv2d, ConvTranspose2d and Linear layer of a model and the input it sees.

One shape-probing forward pass on an example input records, for each layer, the shape of its
input (the input size that :func:`svdwidgets.conv_svd` needs). The hooks are removed afterwards,
even when the forward pass fails, and every submodule's training flag is restored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from svdwidgets.errors import SVDWidgetsError

__all__ = ["ANALYSABLE", "LayerRecord", "find_layers", "foreign_forward"]

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
    foreign: str | None = None
    """Why the module's ``forward`` is not the operator its weight and attributes describe (a
    subclass that standardises its weight, pads by itself, ...), or None."""

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
    foreign: dict[str, str] = {}
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
        if calls == 0 and isinstance(x, torch.Tensor):
            why = foreign_forward(module, x)
            if why is not None:
                foreign[name] = why

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
        LayerRecord(
            name, module, seen[name][0], seen[name][1], followers.get(name), foreign.get(name)
        )
        for module, name in sorted(
            ((m, n) for m, n in names.items() if n in seen), key=lambda mn: order[mn[1]]
        )
    ]


_BASES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def foreign_forward(module: nn.Module, x: torch.Tensor) -> str | None:
    """Why ``module`` does not compute the operator of its ``weight`` and attributes, or None.

    ``profile`` analyses ``conv2d`` (``linear``) with the module's weight, stride, padding,
    dilation and groups. A subclass may compute something else: timm's ``StdConv2d`` /
    ``ScaledStdConv2d`` standardise the weight in ``forward``, ``Conv2dSame`` pads by itself
    ("same" padding, possibly asymmetric). A subclass that overrides ``forward`` (or
    ``_conv_forward``) is run on a random input of ``x``'s shape and compared with the plain
    operator; plain ``Conv2d``/``ConvTranspose2d``/``Linear`` modules are trusted as they are.
    """
    base = next(b for b in _BASES if isinstance(module, b))
    if type(module).forward is base.forward and getattr(
        type(module), "_conv_forward", None
    ) is getattr(base, "_conv_forward", None):
        return None
    what = f"{type(module).__module__}.{type(module).__qualname__} overrides forward"
    if base is nn.ConvTranspose2d:
        return f"{what}: not the conv_transpose2d of its weight (not checked), not analysed"
    gen = torch.Generator(device=x.device).manual_seed(0)
    probe = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    with torch.no_grad():
        try:
            got = type(module).forward(module, probe)
        except Exception as err:  # a forward that needs more arguments: not comparable
            return f"{what} and fails on its input alone ({type(err).__name__}: {err})"
        try:
            want = _plain(module, probe)
        except RuntimeError as err:  # e.g. a kernel larger than the unpadded input
            return (
                f"{what}: the operator its weight and attributes describe does not apply to its "
                f"input {tuple(x.shape[1:])} ({' '.join(str(err).split())[:200]}): it pads or "
                "reshapes by itself, not analysed"
            )
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        shape = tuple(got.shape[1:]) if isinstance(got, torch.Tensor) else type(got).__name__
        return (
            f"{what}: its output {shape} is not the {tuple(want.shape[1:])} of the operator its "
            "weight and attributes describe (it pads or reshapes by itself), not analysed"
        )
    scale = float(want.abs().max()) + 1e-30
    deviation = float((got - want).abs().max()) / scale
    if deviation > 1e-4:
        return (
            f"{what}: its output differs from the operator its weight and attributes describe "
            f"by {deviation:.2g} relative on a random input (it transforms its weight or input), "
            "not analysed"
        )
    return None


def _plain(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The operator ``profile`` analyses, with the module's bias: conv2d or linear."""
    weight: torch.Tensor = module.weight  # type: ignore[assignment]
    bias: torch.Tensor | None = module.bias  # type: ignore[assignment]
    if isinstance(module, nn.Linear):
        return F.linear(x, weight, bias)
    assert isinstance(module, nn.Conv2d)
    stride, dilation, groups = module.stride, module.dilation, module.groups
    if module.padding_mode != "zeros":
        x = F.pad(x, module._reversed_padding_repeated_twice, mode=module.padding_mode)
        return F.conv2d(x, weight, bias, stride, 0, dilation, groups)
    padding: str | tuple[int, ...] = module.padding
    return F.conv2d(x, weight, bias, stride, padding, dilation, groups)
