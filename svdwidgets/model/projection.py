"""Activations on singular vectors: how strongly each input drives a layer's singular directions.

For every selected layer, the data are run through the model batch by batch and the layer's
output is projected onto its top-``k`` left singular directions. Two definitions of the
directions are offered, and the result says which one ran.

``directions="unfolded"`` (the default; DeepDataProfiler's, Praggastis et al. 2022)
    ``u_i`` is the ``i``-th left singular vector, shape ``(c_out,)``, of the weight ``W``
    reshaped to ``c_out x (c_in/groups * kh * kw)``; ``σ_i`` its singular value. At each output
    position the projection is ``p_i(n, h, w) = <u_i, y_n[:, h, w]>``; it is aggregated over the
    positions by the mean (``mean``) and the maximum (``max``). Since ``y_n[:, h, w] = W x_patch``
    (bias excluded), ``p_i(n, h, w) = σ_i <v_i, x_patch(h, w)>`` for the right singular vector
    ``v_i`` (a kernel-sized patch): the layer's gain along ``u_i`` times the input patch's
    component along ``v_i``.

``directions="operator"``
    ``u_i`` is the ``i``-th left singular vector of the layer's linear operator
    ``A: R^(c_in*H*W) -> R^(c_out*H'*W')`` from the profile (``prof[name].vector(i)``), a whole
    output-shaped vector ``(c_out, H', W')``; ``p_i(n) = <u_i, y_n> = σ_i <v_i, x_n>``, one number
    per input (``mean`` and ``max`` both hold it). It needs a spectrum with vectors (methods
    ``fft`` and ``exact``) and inputs of the size the layer was profiled on. For a zero-padded
    layer whose spectrum was computed with the approximate ``fft`` method (``exact=False``),
    ``u_i`` is a singular vector of the *circular* convolution on the same grid, not of the
    layer: ``p_i(n)`` is still the projection of the output onto ``u_i``, but
    ``p_i(n) = σ_i <v_i, x_n>`` then holds only approximately (the result's ``exact`` is False).

For a Linear layer both reduce to ``p_i(n) = <u_i, y_n>`` with ``u_i`` the left singular
vectors of the ``out x in`` weight (their signs may differ between the two definitions; a
Linear layer applied to inputs with extra dimensions ``(N, ..., in)`` treats those as
positions).

In both, ``y_n`` is the *linear part* of the layer's pre-activation output: the captured output
minus the layer's bias (as DeepDataProfiler does), times the BatchNorm scale
``γ / sqrt(var + ε)`` when the profile folded a BatchNorm into the layer (``fold_bn=True``), so
that it is exactly the analysed operator applied to the layer's input.

The projections are computed inside a forward hook on each layer, from the output tensor before
any later module runs, so in-place operations that follow (``ReLU(inplace=True)``, ``x += y``)
cannot change them; only the ``(N, k)`` results are kept, never the activations, and the hooks
are removed afterwards even when the forward pass fails. The model runs under ``no_grad`` in
eval mode (BatchNorm running statistics are used and not updated); every module's training
flag is restored afterwards.

Devices: the computation runs where the model is. CPU batches (what a ``DataLoader`` yields) are
moved to the model's device one batch at a time, so data larger than the device's memory stream
through; a batch on any other device than the model's (CUDA data for a CPU model, ``cuda:1``
data for a ``cuda:0`` model) is an error. The results come back on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from svdwidgets.core.comparison import unfolded_spectrum
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.model.profile import LayerProfile, Profile

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DIRECTIONS", "LayerProjection", "Projections", "project"]

DIRECTIONS = ("unfolded", "operator")
DEFAULT_BATCH_SIZE = 256


@dataclass(frozen=True)
class LayerProjection:
    """One layer's projections onto its top ``k`` singular directions.

    ``values`` (``(k,)``) are the singular values ``σ_i`` of the directions and ``vectors`` the
    directions ``u_i`` themselves, ``(k, c_out)`` (unfolded, Linear) or ``(k, c_out, H', W')``
    (operator); ``mean`` and ``max`` (``(N, k)``, CPU, float32) the projections aggregated over
    output positions (equal for the operator directions and for Linear layers without extra
    dimensions). ``maps`` holds the
    per-position projections ``(N, k, H', W')`` when ``keep_maps=True`` was asked for (unfolded
    directions only). ``exact`` is False when the operator directions come from an approximate
    spectrum (see the module docstring); ``note`` says why.
    """

    name: str
    kind: str
    directions: str
    values: torch.Tensor
    vectors: torch.Tensor
    mean: torch.Tensor
    max: torch.Tensor
    maps: torch.Tensor | None = None
    exact: bool = True
    note: str | None = None

    @property
    def k(self) -> int:
        return int(self.values.shape[0])

    def __repr__(self) -> str:
        return (
            f"LayerProjection({self.name!r}, directions={self.directions!r}, "
            f"n={self.mean.shape[0]}, k={self.k})"
        )


@dataclass(frozen=True)
class Projections:
    """What :func:`project` returns: per layer, the projections of every input.

    ``layers`` are the projected layers in forward order; ``projections[name]`` (or
    ``self[name]``) a :class:`LayerProjection`. ``labels`` are the labels that came with the
    data (``(images, labels)`` batches), else None. ``skipped`` lists selected layers that could
    not be projected, with the reason.
    """

    directions: str
    projections: dict[str, LayerProjection]
    n: int
    labels: torch.Tensor | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def layers(self) -> list[str]:
        return list(self.projections)

    def __getitem__(self, name: str) -> LayerProjection:
        if name not in self.projections:
            raise SVDWidgetsError(
                f"no projections for layer {name!r}; the projected layers are {self.layers}"
            )
        return self.projections[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.projections)

    def __len__(self) -> int:
        return len(self.projections)

    def __repr__(self) -> str:
        ks = {name: p.k for name, p in self.projections.items()}
        return f"Projections(directions={self.directions!r}, n={self.n}, k={ks})"

    def to_dataframe(self, aggregate: str = "mean") -> pd.DataFrame:
        """One row per input, one column per ``(layer, index)`` (a two-level column index)."""
        import pandas as pd

        if aggregate not in ("mean", "max"):
            raise SVDWidgetsError(f"aggregate must be 'mean' or 'max', got {aggregate!r}")
        frames = {
            name: pd.DataFrame(getattr(p, aggregate).numpy(), columns=range(p.k))
            for name, p in self.projections.items()
        }
        df = pd.concat(frames, axis=1, names=["layer", "index"])
        df.index.name = "input"
        return df


def project(
    prof: Profile,
    data: object,
    *,
    model: nn.Module | None = None,
    layers: Sequence[str] | str | None = None,
    k: int | None = None,
    directions: str = "unfolded",
    batch_size: int = DEFAULT_BATCH_SIZE,
    keep_maps: bool = False,
) -> Projections:
    """Project every input's layer outputs onto the layers' top ``k`` singular directions.

    Parameters
    ----------
    prof:
        the :class:`~svdwidgets.model.profile.Profile` of ``model``.
    data:
        a tensor ``(N, C, H, W)`` (or ``(N, features)``), split into batches of ``batch_size``;
        or an iterable of batches (a ``DataLoader``, a list), each a tensor or an
        ``(inputs, labels, ...)`` tuple. Any batch size; labels are collected when present.
    model:
        the profiled model (its modules must be the profile's layers); defaults to
        ``prof.model`` where the profile keeps one.
    layers:
        dotted layer names (default: every analysed layer); an unknown name is an error.
    k:
        the top ``k`` directions of each layer (default: all of them for ``unfolded``; required
        for ``operator``, whose vectors are whole output-shaped tensors). Capped at each
        layer's number of directions; ``k`` below 1, or above every selected layer's number
        of directions, is an error.
    directions:
        ``"unfolded"`` or ``"operator"``: see the module docstring for the definitions.
    keep_maps:
        also keep the per-position projections ``(N, k, H', W')`` (unfolded directions; large).

    Returns
    -------
    Projections
        per layer ``(N, k)`` tensors ``mean`` and ``max``, the singular values, the labels.
    """
    if not isinstance(prof, Profile):
        raise SVDWidgetsError(f"expected a Profile (svdwidgets.profile), got {type(prof).__name__}")
    if model is None:
        model = prof.model
    if not isinstance(model, nn.Module):
        raise SVDWidgetsError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if directions not in DIRECTIONS:
        raise SVDWidgetsError(f"unknown directions {directions!r}; expected one of {DIRECTIONS}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SVDWidgetsError(f"batch_size must be a positive int, got {batch_size!r}")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise SVDWidgetsError(f"k must be a positive int or None, got {k!r}")
    if directions == "operator" and k is None:
        raise SVDWidgetsError(
            "directions='operator' needs k=...: each direction is a whole output-shaped vector "
            "(c_out, H', W'), so asking for all of them would not fit in memory"
        )
    names = _selected(prof, layers)
    device = _model_device(model)
    owned = {id(m) for m in model.modules()}
    plans: list[_Plan] = []
    skipped: dict[str, str] = {}
    for name in names:
        entry = prof.entry(name)
        if id(entry.record.module) not in owned:
            raise SVDWidgetsError(
                f"layer {name!r} of the profile is not a module of the given "
                f"{type(model).__name__}: pass the model the profile was made from"
            )
        try:
            plans.append(_plan(entry, model, directions, k, device, keep_maps))
        except _Skip as why:
            skipped[name] = str(why)
    if not plans:
        raise SVDWidgetsError(f"none of the layers {names} can be projected: {skipped}")
    counts = {p.name: p.available for p in plans}
    if k is not None and k > max(counts.values()):
        raise SVDWidgetsError(
            f"k={k} is out of range: the selected layers have at most {max(counts.values())} "
            f"{directions} directions ({counts})"
        )
    labels = _run(model, plans, data, batch_size, device)
    n = plans[0].rows
    return Projections(
        directions=directions,
        projections={p.name: p.result() for p in plans},
        n=n,
        labels=labels,
        skipped=skipped,
    )


class _Skip(Exception):
    """A selected layer that this direction type cannot project (listed, not dropped)."""


def _selected(prof: Profile, layers: Sequence[str] | str | None) -> list[str]:
    if layers is None:
        if not prof.layers:
            raise SVDWidgetsError(f"the profile has no analysed layer: {prof.skipped}")
        return prof.layers
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, Sequence) or not layers:
        raise SVDWidgetsError(f"layers must be a non-empty list of layer names, got {layers!r}")
    known = prof.layers + list(prof.skipped)
    unknown = [n for n in layers if n not in known]
    if unknown:
        raise SVDWidgetsError(f"unknown layer(s) {unknown}; the profiled layers are {known}")
    wanted = set(layers)
    return [n for n in known if n in wanted]


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _bn_scale(entry: LayerProfile, model: nn.Module) -> torch.Tensor | None:
    """The eval-mode BatchNorm scale ``γ / sqrt(var + ε)`` folded into the profiled weight."""
    if not entry.folded or entry.record.batchnorm is None:
        return None
    bn = model.get_submodule(entry.record.batchnorm)
    assert isinstance(bn, nn.BatchNorm2d) and bn.running_var is not None
    scale = torch.rsqrt(bn.running_var.detach().double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    return scale


@dataclass
class _Plan:
    """One layer's directions and the hook that projects its outputs, batch by batch."""

    name: str
    kind: str
    directions: str
    module: nn.Module
    basis: torch.Tensor  # (c_out, k) channel directions, or (c_out*H'*W', k) operator ones
    values: torch.Tensor
    vector_shape: tuple[int, ...]
    per_position: bool
    out_shape: tuple[int, ...] | None
    bias: torch.Tensor | None
    scale: torch.Tensor | None
    available: int
    keep_maps: bool
    exact: bool = True
    note: str | None = None
    rows: int = 0
    _means: list[torch.Tensor] = field(default_factory=list)
    _maxes: list[torch.Tensor] = field(default_factory=list)
    _maps: list[torch.Tensor] = field(default_factory=list)
    _seen: bool = False
    _reused: bool = False
    _folds: dict[tuple[torch.dtype, bool], tuple[torch.Tensor, torch.Tensor]] = field(
        default_factory=dict
    )

    def begin_batch(self) -> None:
        self._seen = False

    def end_batch(self, index: int, size: int) -> None:
        if not self._seen:
            raise SVDWidgetsError(
                f"layer {self.name!r} did not run in the forward pass of batch {index}"
            )
        self.rows += size

    def hook(self, module: nn.Module, args: tuple[object, ...], out: object) -> None:
        if self._seen:  # a module run twice in one pass: its first call counts
            self._reused = True
            return
        self._seen = True
        if not isinstance(out, torch.Tensor):
            raise SVDWidgetsError(
                f"layer {self.name!r} returned {type(out).__name__}, not a tensor"
            )
        # Read the output now, before any later (possibly in-place) module changes it.
        z = out.detach()
        batch = z.shape[0]
        # channels-last activations (the CPU pass runs on such batches) are read as they lie
        nhwc = z.ndim == 4 and not z.is_contiguous()
        nhwc = nhwc and z.is_contiguous(memory_format=torch.channels_last)
        basis, offset = self._folded(z.dtype, nhwc)
        if not self.per_position:
            if tuple(z.shape[1:]) != self.out_shape:
                raise SVDWidgetsError(
                    f"layer {self.name!r} produced outputs of shape {tuple(z.shape[1:])}, but "
                    f"its operator directions are vectors of shape {self.out_shape} (the input "
                    "size it was profiled on): operator directions need inputs of that size"
                )
            rows = z.permute(0, 2, 3, 1) if nhwc else z  # a view either way: no copy
            p = rows.reshape(batch, -1) @ basis - offset  # (B, k)
            self._means.append(p.cpu())
            self._maxes.append(p.cpu())
            return
        if self.kind == "linear":  # (B, ..., c_out): the extra dimensions are positions
            flat = (z.reshape(batch, -1, z.shape[-1]) @ basis - offset).transpose(1, 2)
            spatial = tuple(z.shape[1:-1])
        else:  # (B, c_out, H', W')
            flat = basis.T @ z.flatten(2) - offset[:, None]
            spatial = tuple(z.shape[2:])
        # flat: (B, k, positions)
        self._means.append(flat.mean(dim=2).cpu())
        self._maxes.append(flat.amax(dim=2).cpu())
        if self.keep_maps:
            self._maps.append(flat.reshape(batch, -1, *spatial).cpu())

    def _folded(self, dtype: torch.dtype, nhwc: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The directions with the BatchNorm scale folded in, and what the bias adds to each
        projection: ``<w, s (z - b)> = <s w, z> - <s w, b>``, so the hook reads the activation
        once instead of writing two shifted and scaled copies of it. Rows in the activation's
        memory order (``nhwc``: an operator direction's positions before its channels).
        Computed in float64, once per dtype and layout."""
        key = (dtype, nhwc)
        found = self._folds.get(key)
        if found is not None:
            return found
        basis = self.basis.double()
        rows, k = basis.shape
        channels = rows if self.per_position else self.out_shape[0]  # type: ignore[index]
        per_channel = basis.reshape(channels, -1, k)  # (c_out, positions, k)
        if self.scale is not None:
            per_channel = per_channel * self.scale.double().reshape(-1, 1, 1)
        offset = (
            torch.zeros(k, dtype=torch.float64, device=basis.device)
            if self.bias is None
            else self.bias.double() @ per_channel.sum(dim=1)
        )
        if nhwc and not self.per_position:
            c, h, w = self.out_shape  # type: ignore[misc]
            per_channel = per_channel.reshape(c, h, w, k).permute(1, 2, 0, 3)
        found = (per_channel.reshape(rows, k).to(dtype), offset.to(dtype))
        self._folds[key] = found
        return found

    def result(self) -> LayerProjection:
        note = self.note
        if self._reused:
            reuse = "the module runs more than once per forward pass; its first call is projected"
            note = "; ".join(n for n in (note, reuse) if n)
        return LayerProjection(
            name=self.name,
            kind=self.kind,
            directions=self.directions,
            values=self.values,
            vectors=self.basis.T.reshape(-1, *self.vector_shape).cpu(),
            mean=torch.cat(self._means).float(),
            max=torch.cat(self._maxes).float(),
            maps=torch.cat(self._maps).float() if self._maps else None,
            exact=self.exact,
            note=note,
        )


def _plan(
    entry: LayerProfile,
    model: nn.Module,
    directions: str,
    k: int | None,
    device: torch.device,
    keep_maps: bool,
) -> _Plan:
    record, spectrum, weight, geometry = entry.record, entry.spectrum, entry.weight, entry.geometry
    if spectrum is None or weight is None or geometry is None:
        raise _Skip(f"the layer was not analysed: {entry.reason}")
    kind = record.kind
    bias = getattr(record.module, "bias", None)
    bias = bias.detach() if isinstance(bias, torch.Tensor) else None
    scale = _bn_scale(entry, model)
    exact, note = True, None
    if directions == "unfolded":
        if kind == "conv_transpose":
            raise _Skip(
                "unfolded directions are channel directions of a Conv2d or Linear layer's "
                "output; use directions='operator' for a ConvTranspose2d"
            )
        unfolded = unfolded_spectrum(weight.double(), geometry, k=None)
        available = len(unfolded)
        count = available if k is None else min(k, available)
        basis = torch.stack([unfolded.vector(i)[1] for i in range(count)], dim=1)
        values = unfolded.values[:count]
        per_position, out_shape = True, None
        vector_shape: tuple[int, ...] = (geometry.c_out,)
    else:
        available = len(spectrum)
        count = min(k or available, available)
        try:
            pairs = spectrum.vectors(range(count))  # one SVD per frequency block
        except SVDWidgetsError as err:
            raise _Skip(f"its spectrum (method {spectrum.method!r}) has no vectors: {err}") from err
        out_shape = vector_shape = tuple(pairs[0][1].shape)
        basis = torch.stack([u.reshape(-1) for _, u in pairs], dim=1)
        values = spectrum.values[:count]
        per_position = kind == "linear"
        if not spectrum.exact:
            exact = False
            note = (
                f"the spectrum (method {spectrum.method!r}) is not the layer's exact operator "
                f"({geometry.padding_mode} padding {geometry.padding}): these are singular "
                "vectors of the circular convolution on the same grid"
            )
    return _Plan(
        name=record.name,
        kind=kind,
        directions=directions,
        module=record.module,
        basis=basis.to(device=device, dtype=torch.float32),
        values=values.float().cpu(),
        vector_shape=vector_shape,
        per_position=per_position,
        out_shape=out_shape,
        bias=None if bias is None else bias.to(device),
        scale=None if scale is None else scale.to(device),
        available=available,
        keep_maps=keep_maps and per_position,
        exact=exact,
        note=note,
    )


def _run(
    model: nn.Module,
    plans: list[_Plan],
    data: object,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor | None:
    first = next((m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    first_name = next((n for n, m in model.named_modules() if m is first), "")
    modes = {m: m.training for m in model.modules()}
    handles = [p.module.register_forward_hook(p.hook) for p in plans]
    labels: list[torch.Tensor] | None = []
    count = 0
    try:
        model.eval()
        with torch.no_grad():
            for index, (x, y) in enumerate(_batches(data, batch_size)):
                x = _channels_last(_on_device(x, device, index))
                if isinstance(first, nn.Conv2d) and x.ndim == 4 and x.shape[1] != first.in_channels:
                    raise SVDWidgetsError(
                        f"batch {index} has {x.shape[1]} channels (shape {tuple(x.shape)}) but "
                        f"the first layer {first_name!r} expects in_channels={first.in_channels}"
                    )
                for p in plans:
                    p.begin_batch()
                try:
                    model(x)
                except SVDWidgetsError:
                    raise
                except Exception as err:  # the user's model failed: say on which batch
                    raise SVDWidgetsError(
                        f"the forward pass of {type(model).__name__} failed on batch {index} "
                        f"of shape {tuple(x.shape)}: {err}"
                    ) from err
                for p in plans:
                    p.end_batch(index, x.shape[0])
                count += x.shape[0]
                if labels is not None and isinstance(y, torch.Tensor) and len(y) == len(x):
                    labels.append(y.detach().cpu())
                else:
                    labels = None
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training
    if count == 0:
        raise SVDWidgetsError("the data yielded no samples")
    return torch.cat(labels) if labels else None


def _batches(data: object, batch_size: int) -> Iterator[tuple[torch.Tensor, object]]:
    """``(inputs, labels or None)`` for every batch of ``data``."""
    if isinstance(data, torch.Tensor):
        if data.ndim < 2 or data.shape[0] == 0:
            raise SVDWidgetsError(
                f"data must be a batch tensor (N, C, H, W) with N >= 1, got shape "
                f"{tuple(data.shape)}"
            )
        for start in range(0, data.shape[0], batch_size):
            yield data[start : start + batch_size], None
        return
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise SVDWidgetsError(
            f"data must be a tensor (N, C, H, W) or an iterable of batches (a DataLoader), "
            f"got {type(data).__name__}"
        )
    for index, batch in enumerate(data):
        x: Any = batch
        y: object = None
        if isinstance(batch, (tuple, list)) and batch:
            x = batch[0]
            y = batch[1] if len(batch) > 1 else None
        if not isinstance(x, torch.Tensor) or x.ndim < 2:
            raise SVDWidgetsError(
                f"batch {index} must be a tensor (B, C, H, W) or an (inputs, labels) pair, got "
                f"{getattr(x, 'shape', type(x).__name__)}"
            )
        if x.shape[0] == 0:
            continue
        yield x, y


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """A 4-D CPU batch in channels-last memory, anything else as it is.

    oneDNN's CPU convolutions run faster on it, and every later activation inherits the layout
    (ResNet-50 at 224 on 2 cores: 6.0 -> 4.5 s per 64 images); the model is left as it is. The
    numbers change by float rounding only (the same sums in another order).
    """
    if x.ndim == 4 and x.device.type == "cpu":
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _on_device(x: torch.Tensor, device: torch.device, index: int) -> torch.Tensor:
    if x.device == device:
        return x
    if x.device.type == "cpu":
        return x.to(device, non_blocking=True)
    raise SVDWidgetsError(
        f"batch {index} is on device {x.device} but the model is on {device}: move the data "
        f"to {device} (or keep it on the CPU, from where batches are moved one at a time)"
    )
