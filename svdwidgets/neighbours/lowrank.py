"""Low-rank layers: keep a layer's top-``r`` singular components and run the result.

Yang, Tang, Wen, Liu, Wang & Li, "Learning Low-rank Deep Neural Networks via Singular Vector
Orthogonality Regularization and Singular Value Sparsification", CVPR Workshops 2020 ("SVD
training"): a layer is stored as ``U diag(s) V^T`` and compressed by dropping small singular
values. Two definitions of "the layer's top-``r`` components" are offered, each rebuilt as
runnable layers:

``unfolded`` (the SVD-training paper's channel-wise decomposition)
    ``W`` reshaped to ``c_out x (c_in kh kw)`` is ``Σ σ_i u_i v_i^T``. Its rank-``r``
    truncation ``W_r`` (Eckart–Young: the best rank-``r`` approximation in Frobenius norm,
    error ``sqrt(Σ_{i>r} σ_i²)``) is run *exactly* by two layers: a ``c_in -> r`` convolution
    with the layer's kernel size, stride, padding and dilation (weight
    ``sqrt(σ_i) v_i`` reshaped to ``(r, c_in, kh, kw)``), then an ``r -> c_out`` 1x1
    convolution (weight ``sqrt(σ_i) u_i``) carrying the bias. A Linear layer becomes two
    Linear layers. Parameters ``r (c_in kh kw + c_out)`` instead of ``c_out c_in kh kw``, and
    multiply-adds in the same ratio.

``fft`` (per frequency, Sedghi et al. 2019's decomposition)
    A stride-1 convolution taken as a *circular* convolution on an ``H x W`` grid has symbols
    ``M(f)`` (:mod:`svdwidgets.core.fft`); each is truncated to rank ``r`` and the full-size
    periodic kernel is rebuilt by the inverse FFT, giving a runnable circular ``Conv2d`` of
    kernel size ``2*(N//2)+1``. The operator's Frobenius error is ``sqrt(Σ dropped σ²)`` over
    all frequencies, the least among operators of rank ``<= r`` per frequency. The rebuilt
    layer is circular whatever the original padding was, and it is not smaller: the
    saving lies in the per-frequency factors, not in the kernel.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning
from svdwidgets.neighbours._circular import (
    check_grid,
    conv2d_from_kernel,
    half_plane_symbols,
    periodic_from_symbols,
    periodic_to_kernel,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CURVE_COLUMNS",
    "TRUNCATIONS",
    "RankEvaluation",
    "RankEvaluator",
    "accuracy",
    "layer_cost",
    "output_positions",
    "rank_curve",
    "truncate_fft",
    "truncate_model",
    "truncate_unfolded",
    "unfolded_rank",
]

TRUNCATIONS = ("unfolded", "fft")


def _check_rank(rank: object, full: int, name: str) -> int:
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= full:
        raise SVDWidgetsError(f"rank for {name} must be an int in [1, {full}], got {rank!r}")
    return rank


def _check_layer(layer: object) -> nn.Conv2d | nn.Linear:
    if isinstance(layer, nn.ConvTranspose2d) or not isinstance(layer, (nn.Conv2d, nn.Linear)):
        raise SVDWidgetsError(f"expected an nn.Conv2d or nn.Linear, got {type(layer).__name__}")
    if isinstance(layer, nn.Conv2d) and layer.groups != 1:
        raise SVDWidgetsError(f"only groups=1 convolutions can be truncated, got {layer}")
    return layer


def unfolded_rank(layer: nn.Conv2d | nn.Linear) -> int:
    """The number of singular values of the unfolded weight, ``min(c_out, c_in kh kw)``."""
    w = layer.weight
    return min(int(w.shape[0]), int(w[0].numel()))


@torch.no_grad()
def truncate_unfolded(layer: nn.Conv2d | nn.Linear, rank: int) -> nn.Sequential:
    """The layer's rank-``rank`` truncation of its unfolded weight, as two runnable layers.

    Returns ``nn.Sequential(first, second)``: for a Conv2d, a ``c_in -> r`` convolution with
    the layer's geometry and an ``r -> c_out`` 1x1 convolution with its bias; for a Linear
    layer, ``in -> r`` and ``r -> out`` Linear layers. ``second.weight`` flattened times
    ``first.weight`` flattened is the best rank-``r`` approximation of the unfolded weight
    (module docstring). At full rank the pair computes the layer exactly (up to rounding).
    """
    layer = _check_layer(layer)
    rank = _check_rank(rank, unfolded_rank(layer), type(layer).__name__)
    w = layer.weight.detach()
    c_out = int(w.shape[0])
    u, s, vh = torch.linalg.svd(w.reshape(c_out, -1).double(), full_matrices=False)
    root = s[:rank].sqrt()
    left = (u[:, :rank] * root).to(w.dtype)  # (c_out, r)
    right = (root[:, None] * vh[:rank]).to(w.dtype)  # (r, c_in kh kw)
    bias = layer.bias
    where: dict[str, Any] = {"device": w.device, "dtype": w.dtype}
    first: nn.Module
    second: nn.Module
    if isinstance(layer, nn.Linear):
        first = nn.Linear(layer.in_features, rank, bias=False, **where)
        second = nn.Linear(rank, c_out, bias=bias is not None, **where)
        first.weight.copy_(right)
        second.weight.copy_(left)
    else:
        pad = layer.padding
        first = nn.Conv2d(
            layer.in_channels,
            rank,
            (layer.kernel_size[0], layer.kernel_size[1]),
            stride=(layer.stride[0], layer.stride[1]),
            padding=pad if isinstance(pad, str) else (pad[0], pad[1]),
            dilation=(layer.dilation[0], layer.dilation[1]),
            bias=False,
            padding_mode=layer.padding_mode,
            **where,
        )
        second = nn.Conv2d(rank, c_out, 1, bias=bias is not None, **where)
        first.weight.copy_(right.reshape(rank, *w.shape[1:]))
        second.weight.copy_(left[:, :, None, None])
    if bias is not None:
        second.bias.copy_(bias.detach())  # type: ignore[union-attr]
    return nn.Sequential(first, second)


@torch.no_grad()
def truncate_fft(conv: nn.Conv2d, input_size: object, rank: int) -> nn.Conv2d:
    """The circular convolution whose symbol at every frequency is ``conv``'s truncated to
    rank ``rank``, on the ``(H, W)`` grid, as a runnable ``nn.Conv2d`` (module docstring).

    ``conv`` must have stride 1, dilation 1 and groups 1 (a strided layer raises, naming its
    stride). Its tap ``a`` is read at offset ``a - padding``. A layer whose padding is not
    circular is rebuilt as a circular one, with a :class:`SVDWidgetsWarning`.
    """
    if not isinstance(conv, nn.Conv2d) or isinstance(conv, nn.ConvTranspose2d):
        raise SVDWidgetsError(f"expected an nn.Conv2d, got {type(conv).__name__}")
    _check_layer(conv)
    if tuple(conv.stride) != (1, 1):
        raise SVDWidgetsError(
            f"the fft truncation needs stride 1, got stride={tuple(conv.stride)}: {conv}"
        )
    if tuple(conv.dilation) != (1, 1) or isinstance(conv.padding, str):
        raise SVDWidgetsError(f"the fft truncation needs dilation 1 and int padding: {conv}")
    grid = check_grid(input_size)
    rank = _check_rank(rank, min(conv.out_channels, conv.in_channels), "the fft truncation")
    if conv.padding_mode != "circular":
        warnings.warn(
            f"truncate_fft rebuilds {conv} as a circular convolution on {grid}; its "
            f"padding_mode {conv.padding_mode!r} is replaced by 'circular'",
            SVDWidgetsWarning,
            stacklevel=2,
        )
    w = conv.weight.detach()
    padding = (int(conv.padding[0]), int(conv.padding[1]))
    blocks = half_plane_symbols(w.double(), grid, padding)
    u, s, vh = torch.linalg.svd(blocks, full_matrices=False)
    kept = (u[..., :rank] * s[..., None, :rank].to(u.dtype)) @ vh[..., :rank, :]
    weight, pad = periodic_to_kernel(periodic_from_symbols(kept, grid))
    return conv2d_from_kernel(weight.to(w.dtype), pad, "circular", conv.bias)


def truncate_model(
    model: nn.Module,
    ranks: Mapping[str, int],
    *,
    method: str = "unfolded",
    input_shape: Sequence[int] | None = None,
) -> nn.Module:
    """A deep copy of ``model`` with the named layers truncated; ``model`` is left untouched.

    Parameters
    ----------
    ranks:
        ``{dotted layer name: rank}``; Conv2d and Linear layers (``fft``: stride-1 Conv2d).
    method:
        ``"unfolded"`` (:func:`truncate_unfolded`) or ``"fft"`` (:func:`truncate_fft`).
    input_shape:
        ``(C, H, W)`` of one model input; ``fft`` needs it to find each layer's grid.
    """
    if not isinstance(model, nn.Module):
        raise SVDWidgetsError(f"expected an nn.Module, got {type(model).__name__}")
    if method not in TRUNCATIONS:
        raise SVDWidgetsError(f"method must be one of {TRUNCATIONS}, got {method!r}")
    if not isinstance(ranks, Mapping) or not ranks:
        raise SVDWidgetsError(f"ranks must be a non-empty dict {{layer: rank}}, got {ranks!r}")
    modules = dict(model.named_modules())
    unknown = [name for name in ranks if name not in modules or name == ""]
    if unknown:
        raise SVDWidgetsError(
            f"unknown layer(s) {unknown}; the model's layers are "
            f"{[n for n, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Linear))]}"
        )
    sizes: dict[str, tuple[int, int]] = {}
    if method == "fft":
        sizes = _input_sizes(model, input_shape, list(ranks))
    new = copy.deepcopy(model)
    for name, rank in ranks.items():
        layer = new.get_submodule(name)
        if method == "unfolded":
            replacement: nn.Module = truncate_unfolded(_check_layer(layer), rank)
        else:
            if not isinstance(layer, nn.Conv2d):
                raise SVDWidgetsError(f"fft truncation needs a Conv2d; {name!r} is {layer}")
            replacement = truncate_fft(layer, sizes[name], rank)
        parent_name, _, child = name.rpartition(".")
        setattr(new.get_submodule(parent_name), child, replacement)
    return new


def _input_sizes(
    model: nn.Module, input_shape: Sequence[int] | None, names: list[str]
) -> dict[str, tuple[int, int]]:
    from svdwidgets.model.discover import find_layers

    if input_shape is None or len(input_shape) != 3:
        raise SVDWidgetsError(f"method='fft' needs input_shape=(C, H, W), got {input_shape!r}")
    param = next(model.parameters(), None)
    example = torch.zeros(
        (1, *[int(v) for v in input_shape]),
        dtype=param.dtype if param is not None else torch.float32,
        device=param.device if param is not None else None,
    )
    records = {r.name: r for r in find_layers(model, example)}
    out = {}
    for name in names:
        size = records[name].input_size if name in records else None
        if size is None:
            raise SVDWidgetsError(f"layer {name!r} is not a convolution the model runs")
        out[name] = size
    return out


@torch.no_grad()
def accuracy(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 500
) -> float:
    """Top-1 accuracy of ``model`` (eval mode, restored afterwards) on ``images``."""
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise SVDWidgetsError("images and labels must be tensors")
    if images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise SVDWidgetsError(
            f"need as many labels as images (> 0): {tuple(images.shape)} vs {tuple(labels.shape)}"
        )
    was_training = model.training
    model.eval()
    try:
        correct = 0
        for start in range(0, images.shape[0], batch_size):
            logits = model(images[start : start + batch_size])
            correct += int((logits.argmax(dim=1) == labels[start : start + batch_size]).sum())
    finally:
        model.train(was_training)
    return correct / int(images.shape[0])


def layer_cost(layer: nn.Module, out_positions: int) -> tuple[int, int]:
    """``(parameters, multiply-adds per input)`` of a Conv2d / Linear layer or of a
    ``Sequential`` of them, each conv producing ``out_positions`` output pixels (the
    factorised pair's 1x1 conv runs at the same positions as the first conv)."""
    params, macs = 0, 0
    for m in layer.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            n = int(m.weight.numel())
            bias = int(m.bias.numel()) if m.bias is not None else 0
            params += n + bias
            macs += n * (out_positions if isinstance(m, nn.Conv2d) else 1)
    return params, macs


def rank_curve(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    layers: Sequence[str] | None = None,
    ranks: Sequence[int] | None = None,
    batch_size: int = 500,
) -> pd.DataFrame:
    """Accuracy of ``model`` with one layer at a time truncated (``unfolded``) to each rank.

    One row per ``(layer, rank)``; every other layer is left intact. Columns: ``layer``,
    ``rank``, ``full_rank``, ``accuracy``, ``params`` and ``macs`` (the layer's parameters and
    multiply-adds per input after truncation), ``compression`` (original parameters / new),
    ``macs_ratio`` (new / original), ``frobenius_error`` (relative: ``‖W - W_r‖_F / ‖W‖_F``),
    ``seconds``. A first row per layer with ``rank = full_rank`` and the original layer
    (``truncated = False``) gives the baseline. ``ranks`` defaults to 1, 2, 4, ... and the
    full rank; ranks above a layer's full rank are skipped.
    """
    import pandas as pd

    convs = {
        n: m
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and not isinstance(m, nn.ConvTranspose2d)
    }
    names = list(convs) if layers is None else list(layers)
    unknown = [n for n in names if n not in convs]
    if unknown:
        raise SVDWidgetsError(f"unknown layer(s) {unknown}; truncatable layers: {list(convs)}")
    positions = output_positions(model, images[:1], names)
    base = accuracy(model, images, labels, batch_size=batch_size)
    rows = []
    for name in names:
        layer = _check_layer(convs[name])
        full = unfolded_rank(layer)
        p0, m0 = layer_cost(layer, positions[name])
        rows.append(
            dict(
                layer=name,
                rank=full,
                full_rank=full,
                truncated=False,
                accuracy=base,
                params=p0,
                macs=m0,
                compression=1.0,
                macs_ratio=1.0,
                frobenius_error=0.0,
                seconds=0.0,
            )
        )
        chosen = sorted({r for r in (ranks or _default_ranks(full)) if 1 <= r <= full})
        s = torch.linalg.svdvals(layer.weight.detach().reshape(layer.weight.shape[0], -1).double())
        for r in chosen:
            start = time.perf_counter()
            new = truncate_model(model, {name: r})
            acc = accuracy(new, images, labels, batch_size=batch_size)
            p, m = layer_cost(new.get_submodule(name), positions[name])
            rows.append(
                dict(
                    layer=name,
                    rank=r,
                    full_rank=full,
                    truncated=True,
                    accuracy=acc,
                    params=p,
                    macs=m,
                    compression=p0 / p,
                    macs_ratio=m / m0,
                    frobenius_error=float(s[r:].square().sum().sqrt() / s.square().sum().sqrt()),
                    seconds=time.perf_counter() - start,
                )
            )
    return pd.DataFrame(rows)


def _default_ranks(full: int) -> list[int]:
    out, r = [], 1
    while r < full:
        out.append(r)
        r *= 2
    return [*out, full]


@torch.no_grad()
def output_positions(
    model: nn.Module, example: torch.Tensor, names: Sequence[str]
) -> dict[str, int]:
    """Output pixels per input of every named layer (1 for Linear), from one forward pass of
    ``example`` (one input is enough): the ``out_positions`` of :func:`layer_cost`."""
    found: dict[str, int] = {}
    handles = []
    for name in names:
        module = model.get_submodule(name)

        def hook(m: nn.Module, args: object, out: torch.Tensor, name: str = name) -> None:
            found.setdefault(name, int(out[0, 0].numel()) if isinstance(m, nn.Conv2d) else 1)

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(example)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    missing = [n for n in names if n not in found]
    if missing:
        raise SVDWidgetsError(f"layer(s) {missing} did not run in the model's forward pass")
    return found


CURVE_COLUMNS = ("layer", "rank", "full_rank", "truncated", "accuracy")
"""The columns of a :func:`rank_curve` table a :class:`RankEvaluator` reads."""


@dataclass(frozen=True)
class RankEvaluation:
    """The model with ``ranks`` applied, evaluated once.

    ``params`` and ``macs`` (multiply-adds per input) count the view's layers only, as
    truncated (a factorised pair counts both of its layers); ``base_params`` and ``base_macs``
    are the same layers intact. ``seconds`` is the time the evaluation took.
    """

    ranks: dict[str, int]
    accuracy: float
    params: int
    macs: int
    base_params: int
    base_macs: int
    layer_params: dict[str, int]
    layer_macs: dict[str, int]
    seconds: float

    @property
    def compression(self) -> float:
        """Parameters of the layers, original / truncated (below 1: the pairs are larger)."""
        return self.base_params / self.params

    @property
    def macs_ratio(self) -> float:
        """Multiply-adds per input of the layers, truncated / original."""
        return self.macs / self.base_macs


def _check_images(images: object, labels: object) -> None:
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise SVDWidgetsError(
            f"images and labels must be tensors, got {type(images).__name__} and "
            f"{type(labels).__name__}"
        )
    if images.ndim < 2 or labels.ndim != 1 or images.shape[0] != labels.shape[0] or not len(labels):
        raise SVDWidgetsError(
            f"need a batch of images and one label each: {tuple(images.shape)} vs "
            f"{tuple(labels.shape)}"
        )


def _check_curve(curve: object, full: Mapping[str, int]) -> pd.DataFrame:
    """The rows of ``curve`` (a :func:`rank_curve` table) for the layers of ``full``."""
    import pandas as pd

    if not isinstance(curve, pd.DataFrame):
        raise SVDWidgetsError(
            f"curve must be the DataFrame of rank_curve(...), got {type(curve).__name__}"
        )
    missing = [c for c in CURVE_COLUMNS if c not in curve.columns]
    if missing:
        raise SVDWidgetsError(
            f"curve lacks column(s) {missing}; rank_curve's table has {list(CURVE_COLUMNS)}"
        )
    absent = [name for name in full if name not in set(curve["layer"])]
    if absent:
        raise SVDWidgetsError(
            f"curve has no rows for layer(s) {absent}; its layers are "
            f"{list(dict.fromkeys(curve['layer']))}"
        )
    rows = curve[curve["layer"].isin(list(full))]
    for name, n in full.items():
        got = set(int(v) for v in rows.loc[rows["layer"] == name, "full_rank"])
        if got != {n}:
            raise SVDWidgetsError(
                f"curve says layer {name!r} has full rank {sorted(got)}, the model's has {n}: "
                "was it computed on another model?"
            )
    return rows


class RankEvaluator:
    """A model's accuracy and cost with chosen ranks: the numbers the RankView draws.

    Parameters
    ----------
    model:
        the network (left untouched: every evaluation truncates a deep copy).
    images, labels:
        the data the accuracy is measured on (one forward pass of all of it per evaluation).
    layers:
        the Conv2d / Linear layers to offer (default: the ``curve``'s layers, or every
        truncatable layer of the model).
    curve:
        a :func:`rank_curve` table; computed on ``images`` (each layer at ranks 1, 2, 4, …
        and full) when not given.
    batch_size:
        images per forward pass.
    """

    def __init__(
        self,
        model: nn.Module,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        layers: Sequence[str] | str | None = None,
        curve: pd.DataFrame | None = None,
        batch_size: int = 500,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise SVDWidgetsError(f"model must be an nn.Module, got {type(model).__name__}")
        _check_images(images, labels)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise SVDWidgetsError(f"batch_size must be a positive int, got {batch_size!r}")
        truncatable = {
            n: m
            for n, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))
            and not isinstance(m, nn.ConvTranspose2d)
            and getattr(m, "groups", 1) == 1
        }
        if layers is None:
            names = (
                list(truncatable)
                if curve is None
                else [n for n in dict.fromkeys(curve["layer"]) if n in truncatable]
            )
        else:
            names = [layers] if isinstance(layers, str) else list(layers)
        unknown = [n for n in names if n not in truncatable]
        if unknown or not names:
            raise SVDWidgetsError(
                f"unknown layer(s) {unknown or names}; the model's truncatable layers are "
                f"{list(truncatable)}"
            )
        self._model, self._images, self._labels = model, images, labels
        self._batch_size = batch_size
        self.full_ranks = {n: unfolded_rank(truncatable[n]) for n in names}
        """Each layer's full (unfolded) rank, ``min(c_out, c_in·kh·kw)``, in network order."""
        if curve is None:
            curve = rank_curve(model, images, labels, layers=names, batch_size=batch_size)
        self.curve = _check_curve(curve, self.full_ranks)
        """The rank-curve rows of the layers."""
        self._positions = output_positions(model, images[:1], names)
        self.base_cost = {n: layer_cost(truncatable[n], self._positions[n]) for n in names}
        """``{layer: (parameters, multiply-adds per input)}`` of the intact layers."""

    @property
    def n_images(self) -> int:
        """How many images each evaluation runs."""
        return len(self._labels)

    def curve_points(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """``(r / full rank, accuracy)`` of ``layer`` truncated alone, ascending in ``r``; the
        intact layer's row stands at ``1`` when the curve has no truncation at full rank."""
        import pandas as pd

        if layer not in self.full_ranks:
            raise SVDWidgetsError(
                f"unknown layer {layer!r}; the layers are {list(self.full_ranks)}"
            )
        rows = self.curve[self.curve["layer"] == layer]
        cut = rows["truncated"].astype(bool)
        points = rows[cut]
        if not (points["rank"] == self.full_ranks[layer]).any():
            points = pd.concat([points, rows[~cut].iloc[:1]])
        points = points.sort_values("rank", kind="stable")
        x = points["rank"].to_numpy(dtype=np.float64) / self.full_ranks[layer]
        return x, points["accuracy"].to_numpy(dtype=np.float64)

    def truncated_model(self, ranks: Mapping[str, int]) -> nn.Module:
        """A copy of the model with ``ranks`` (the model itself when none is below full)."""
        cut = {n: int(r) for n, r in ranks.items() if r < self.full_ranks[n]}
        return truncate_model(self._model, cut) if cut else self._model

    def evaluate(self, ranks: Mapping[str, int]) -> RankEvaluation:
        """The model with ``ranks`` (every layer's) evaluated: accuracy, parameters, MACs."""
        missing = [n for n in self.full_ranks if n not in ranks]
        if missing:
            raise SVDWidgetsError(f"ranks has no rank for layer(s) {missing}")
        full = {n: int(ranks[n]) for n in self.full_ranks}
        start = time.perf_counter()
        model = self.truncated_model(full)
        acc = accuracy(model, self._images, self._labels, batch_size=self._batch_size)
        costs = {n: layer_cost(model.get_submodule(n), self._positions[n]) for n in self.full_ranks}
        return RankEvaluation(
            ranks=full,
            accuracy=acc,
            params=sum(p for p, _ in costs.values()),
            macs=sum(m for _, m in costs.values()),
            base_params=sum(p for p, _ in self.base_cost.values()),
            base_macs=sum(m for _, m in self.base_cost.values()),
            layer_params={n: c[0] for n, c in costs.items()},
            layer_macs={n: c[1] for n, c in costs.items()},
            seconds=time.perf_counter() - start,
        )
