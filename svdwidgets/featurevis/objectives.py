"""Lucent objectives for singular vectors of a layer, vectorised over a batch of indices.

Feature visualization (Olah, Mordvintsev & Schubert 2017, "Feature Visualization", Distill)
optimises an input image to maximise a function of one activation; Lucent (greentfrapp/lucent)
writes those functions as ``Objective`` values that add and scale. Here the functions are
projections onto singular vectors of a layer's linear operator ``A`` (Praggastis et al. 2022,
"The SVD of Convolutional Weights: A CNN Interpretability Framework"): the right singular vector
``v_i`` lives in the space of the layer's *input* ``x`` (captured with a forward pre-hook, i.e.
the output of whatever runs before the layer), the left singular vector ``u_i`` in the space of
the linear part of its *output* ``y = A x`` (the captured output minus the layer's bias, times
the BatchNorm scale when the profile folded one in, as in :mod:`svdwidgets.model.projection`).

One objective covers a batch: image ``b`` of the batch is scored against the direction of
``indices[b]`` (a single index scores every image against the same direction); ``scores(T)``
returns the ``(B,)`` maximised quantities and the objective itself (Lucent's sign convention: a
loss to minimise) is ``-scores(T).sum()``. Definitions, with ``a``
the activation of image ``b`` on the chosen side (``x`` or ``y``):

``kind="vector"``
    ``score = <w, a>``, ``w`` the full real unit singular vector from ``spectrum.vector(i)``
    (``v_i`` of shape ``(c_in, H, W)`` or ``u_i`` of shape ``(c_out, H', W')``). For an ``fft``
    spectrum this is the real plane wave (real or imaginary part, as ``vector(i)`` says) times
    the channel direction. Since ``A v = σ u``, the left score is ``σ_i`` times the right score
    for the same image when the spectrum is exact. Needs inputs of the profiled size.
``kind="channel"`` (default)
    the channel direction ``P`` (unit, real) averaged over positions:
    ``score = mean_(j,l) cos(2π (f_h j / N_h + f_w l / N_w)) <P, a_block(j, l)>`` where, for
    the right vector of a layer with stride ``(s_h, s_w)``, ``P`` has shape ``(c_in, s_h, s_w)``
    and ``a_block(j, l)`` is the ``s_h x s_w`` block of input pixels at coarse position
    ``(j, l)`` (the polyphase grid of Sedghi et al. 2019 / Senderovich et al. 2022; for stride 1
    a single pixel's channel vector); for the left vector ``P`` has shape ``(c_out,)``.
    ``frequency=None`` means ``(0, 0)``: the plain spatial mean ``mean_(h,w) <P, a[:, h, w]>``.
    ``P`` is, for an ``fft`` spectrum, the real part of the complex channel direction
    (``direction(i).right`` or ``.left``) under the spectrum's phase convention (the largest
    entry of the right direction real and positive), renormalised: the value of the real plane
    wave ``vector(i)`` at the origin, so ``kind="vector"`` and ``kind="channel"`` agree on which
    real direction is meant. For other spectra (``exact``) ``P`` is the polyphase spatial sum of
    ``vector(i)``, renormalised (an error if that sum vanishes).
``kind="cosine"``
    Lucent's ``direction`` objective on the same blocks: ``mean_(j,l) cos∠(P, a_block(j, l))``
    (cosine similarity as ``torch.nn.CosineSimilarity``: each norm clamped at eps 1e-8);
    scale-free, bounded by 1.

For a Linear layer the vector is the singular vector itself (``(in,)`` or ``(out,)``), the
activation is the layer's input or output features (extra leading dimensions are averaged as
positions), and ``vector`` and ``channel`` coincide; ``frequency`` is an error there. Singular
vectors have an arbitrary sign: the objective maximises along the sign the spectrum returned
(scale it by ``-1`` for the opposite pole).
"""

from __future__ import annotations

import hashlib
import math
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from svdwidgets.core.spectrum import FFTSpectrum, Spectrum
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.featurevis._lucent import Objective

if TYPE_CHECKING:
    from svdwidgets.model.profile import LayerProfile, Profile

__all__ = ["KINDS", "SIDES", "SingularObjective", "singular_objective"]

KINDS = ("channel", "vector", "cosine")
SIDES = ("right", "left")
_EPS = 1e-8


class SingularObjective(Objective):
    """A Lucent ``Objective`` scoring image ``b`` against the singular direction ``indices[b]``.

    ``key`` is the activation it reads (``"<layer>:input"`` or ``"<layer>:output"``);
    ``scores(T)`` the ``(B,)`` maximised values (see the module docstring); calling it returns
    Lucent's loss ``-scores(T).sum()``.
    """

    def __init__(
        self,
        *,
        layer: str,
        side: str,
        kind: str,
        indices: tuple[int, ...],
        basis: torch.Tensor,
        linear: bool,
        stride: tuple[int, int],
        frequency: tuple[int, int] | None,
        bias: torch.Tensor | None,
        scale: torch.Tensor | None,
    ) -> None:
        self.layer, self.side, self.kind = layer, side, kind
        self.indices = indices
        self.basis = basis
        self.linear = linear
        self.stride = stride
        self.frequency = frequency
        self.bias, self.scale = bias, scale
        self.key = f"{layer}:{'input' if side == 'right' else 'output'}"
        self._on: dict[tuple[torch.device, torch.dtype], tuple[Any, ...]] = {}
        self._waves: dict[tuple[object, ...], torch.Tensor] = {}
        name = f"singular_{kind}"
        where = f"{layer} {side}"
        freq = "" if frequency is None else f" at frequency {frequency}"
        super().__init__(
            self._loss, name=name, description=f"Singular {kind} [{where}{freq}, {indices}]"
        )

    def subset(self, positions: Sequence[int]) -> SingularObjective:
        """The same objective for ``indices[p]``, ``p`` in ``positions`` (no recomputation)."""
        return SingularObjective(
            layer=self.layer,
            side=self.side,
            kind=self.kind,
            indices=tuple(self.indices[p] for p in positions),
            basis=self.basis[list(positions)],
            linear=self.linear,
            stride=self.stride,
            frequency=self.frequency,
            bias=self.bias,
            scale=self.scale,
        )

    def fingerprint(self, position: int) -> str:
        """SHA-256 of what image ``position`` maximises, and nothing else.

        Its direction (the basis vector's dtype, shape and bytes), where the direction is read
        (layer, side, kind, stride, frequency) and, for the left side, the bias and BatchNorm
        scale applied to the activation first. The index is not in it: the same index of a
        profile with and without BatchNorm folding names two directions, and two indices with
        the same direction (conjugate twins) one.
        """
        h = hashlib.sha256()
        where = (self.layer, self.side, self.kind, self.linear, self.stride, self.frequency)
        for part in (self.basis[position], self.bias, self.scale):
            if part is None:
                h.update(b"none|")
                continue
            t = part.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        h.update(repr(where).encode())
        return h.hexdigest()

    def _loss(self, T: Callable[[str], torch.Tensor]) -> torch.Tensor:
        return -self.scores(T).sum()

    def scores(self, T: Callable[[str], torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """The ``(B,)`` maximised values for the activation ``T(self.key)`` (or a tensor)."""
        a = T if isinstance(T, torch.Tensor) else T(self.key)
        if len(self.indices) not in (1, a.shape[0]):
            raise SVDWidgetsError(
                f"the objective scores {len(self.indices)} directions but the batch of "
                f"{self.key!r} has {a.shape[0]} images"
            )
        basis, bias, scale, norms = self._tensors(a)
        basis = basis.expand(a.shape[0], *basis.shape[1:])  # one direction: every image
        norms = norms.expand(a.shape[0])
        channel_dim = a.ndim - 1 if self.linear else 1
        view = [1] * a.ndim
        view[channel_dim] = -1
        if bias is not None:
            a = a - bias.view(view)
        if scale is not None:
            a = a * scale.view(view)
        if self.linear:
            feats = a.reshape(a.shape[0], -1, a.shape[-1])
            self._check(feats.shape[-1], basis.shape[-1])
            if self.kind == "cosine":
                return _MeanCosine.apply(feats.transpose(1, 2), basis[:, :, None], norms, (1,))
            return (feats.mean(dim=1) * basis).sum(dim=1)
        if self.kind == "vector":
            if tuple(a.shape[1:]) != tuple(basis.shape[1:]):
                raise SVDWidgetsError(
                    f"kind='vector' needs the {self.key!r} activation of the profiled shape "
                    f"{tuple(basis.shape[1:])}, got {tuple(a.shape[1:])}: render at the "
                    "profiled input size, or use kind='channel'"
                )
            return (a.flatten(1) * basis.flatten(1)).sum(dim=1)
        # the polyphase blocks as a view (B, c, N_h, s_h, N_w, s_w): no copy, any memory layout
        z = _block_view(a, self.stride)
        b, c, nh, sh, nw, sw = z.shape
        self._check(c * sh * sw, basis.shape[1])
        p = basis.view(b, c, 1, sh, 1, sw)
        if self.kind == "cosine":
            if (sh, sw) == (1, 1):  # plain pixels: the 4-D tensor reduces faster
                return _MeanCosine.apply(a, basis[:, :, None, None], norms, (1,))
            return _MeanCosine.apply(z, p, norms, (1, 3, 5))
        if self.frequency is None:  # the mean of <P, block> is <P, the mean block>
            return (z.mean(dim=(2, 4)) * p[:, :, 0, :, 0, :]).sum(dim=(1, 2, 3))
        wave = self._wave(nh, nw, a).view(1, 1, nh, 1, nw, 1)
        weighted = (z * wave).sum(dim=(2, 4))  # the cos-weighted mean block
        return (weighted * p[:, :, 0, :, 0, :]).sum(dim=(1, 2, 3))

    def _check(self, got: int, want: int) -> None:
        if got != want:
            raise SVDWidgetsError(
                f"the {self.key!r} activation has {got} (blocked) channels but the singular "
                f"directions have {want}"
            )

    def _tensors(self, a: torch.Tensor) -> tuple[Any, ...]:
        """basis, bias, scale and the basis norms on ``a``'s device and dtype, made once."""
        at = (a.device, a.dtype)
        if at not in self._on:
            # ordinary tensors even when first asked for inside inference_mode: the render's
            # optimisation saves them for backward
            with torch.inference_mode(False), torch.no_grad():
                self._on[at] = self._make(a)
        return self._on[at]

    def _make(self, a: torch.Tensor) -> tuple[Any, ...]:
        basis, bias, scale = (
            None if t is None else t.to(device=a.device, dtype=a.dtype).clone()
            for t in (self.basis, self.bias, self.scale)
        )
        assert basis is not None
        return basis, bias, scale, torch.linalg.vector_norm(basis.flatten(1), dim=1)

    def _wave(self, nh: int, nw: int, like: torch.Tensor) -> torch.Tensor:
        """``cos(2π (f_h j / N_h + f_w l / N_w)) / (N_h N_w)`` on the coarse grid, made once."""
        key = (nh, nw, like.device, like.dtype)
        if key not in self._waves:
            assert self.frequency is not None
            with torch.inference_mode(False), torch.no_grad():
                self._waves[key] = _wave(self.frequency, (nh, nw), like) / (nh * nw)
        return self._waves[key]


def _blocks(a: torch.Tensor, stride: tuple[int, int]) -> torch.Tensor:
    """``(B, c, H, W)`` -> ``(B, c*s_h*s_w, N_h, N_w)``: the polyphase blocks (crop to fit)."""
    sh, sw = stride
    if (sh, sw) == (1, 1):
        return a
    b, c, h, w = a.shape
    nh, nw = h // sh, w // sw
    a = a[:, :, : nh * sh, : nw * sw].reshape(b, c, nh, sh, nw, sw)
    return a.permute(0, 1, 3, 5, 2, 4).reshape(b, c * sh * sw, nh, nw)


def _block_view(a: torch.Tensor, stride: tuple[int, int]) -> torch.Tensor:
    """``(B, c, H, W)`` -> a view ``(B, c, N_h, s_h, N_w, s_w)`` of the polyphase blocks."""
    sh, sw = stride
    h, w = a.shape[-2:]
    nh, nw = h // sh, w // sw
    if (nh * sh, nw * sw) != (h, w):
        a = a[:, :, : nh * sh, : nw * sw]
    return a.unflatten(3, (nw, sw)).unflatten(2, (nh, sh))


class _MeanCosine(torch.autograd.Function):
    """``mean over positions of <z, p> / (max(|z|, eps) max(|p|, eps))``, per image.

    Lucent's ``direction`` objective, i.e. ``torch.nn.functional.cosine_similarity`` (each norm
    clamped at eps), with its gradient written out. ``z`` ``(B, ...)``, ``p`` broadcastable to
    it, ``q = |p|`` per image ``(B,)``; ``<z, p>`` and ``|z|`` sum over ``dims`` (a block), the
    mean runs over every other non-batch dimension (the positions). Autograd's version takes
    six passes over the activation backward where this takes three (a CPU render of the
    bundled model spent a sixth of its time in this objective), and ``sqrt``'s backward at an
    all-zero block is 0/0; here, as in torch, such a block has the constant denominator
    ``eps max(|p|, eps)`` and the gradient ``p`` over it.
    """

    @staticmethod
    def forward(
        ctx: Any, z: torch.Tensor, p: torch.Tensor, q: torch.Tensor, dims: tuple[int, ...]
    ) -> torch.Tensor:
        dots = (z * p).sum(dim=dims, keepdim=True)
        lengths = (z * z).sum(dim=dims, keepdim=True).sqrt_()
        qv = q.clamp_min(_EPS).view(-1, *([1] * (z.ndim - 1)))
        denom = lengths.clamp_min(_EPS) * qv
        cos = dots / denom
        # d cos / d z = (p - cos q z / |z|) / denom where |z| > eps, p / denom elsewhere
        w = torch.where(lengths > _EPS, cos * qv / lengths.clamp_min(_EPS), 0.0)
        ctx.save_for_backward(z, p, w, denom)
        ctx.positions = cos[0].numel()
        return cos.flatten(1).mean(dim=1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        z, p, w, denom = ctx.saved_tensors
        step = grad.view(-1, *([1] * (z.ndim - 1))) / (denom * ctx.positions)
        return (p - w * z) * step, None, None, None


def _wave(frequency: tuple[int, int], grid: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    nh, nw = int(grid[0]), int(grid[1])
    fh, fw = frequency
    jh = torch.arange(nh, device=like.device, dtype=like.dtype)
    jw = torch.arange(nw, device=like.device, dtype=like.dtype)
    return torch.cos(2 * math.pi * (fh * jh[:, None] / nh + fw * jw[None, :] / nw))


def singular_objective(
    prof: Profile,
    layer: str,
    indices: int | Sequence[int],
    *,
    side: str = "right",
    kind: str = "channel",
    frequency: tuple[int, int] | None = None,
) -> SingularObjective:
    """The objective for the singular directions ``indices`` of ``layer`` (one per image).

    Parameters
    ----------
    prof:
        a :class:`~svdwidgets.model.profile.Profile` (``svdwidgets.profile(model, ...)``).
    layer:
        a dotted layer name of the profile.
    indices:
        singular vector indices (``prof[layer].values[i]``), one per batch image.
    side:
        ``"right"`` (``v_i`` at the layer's input) or ``"left"`` (``u_i`` at its output).
    kind, frequency:
        ``"channel"`` (with ``frequency``), ``"vector"`` or ``"cosine"``: see the module
        docstring for exactly what each maximises.
    """
    from svdwidgets.model.profile import Profile

    if not isinstance(prof, Profile):
        raise SVDWidgetsError(f"expected a Profile (svdwidgets.profile), got {type(prof).__name__}")
    if side not in SIDES:
        raise SVDWidgetsError(f"side must be one of {SIDES}, got {side!r}")
    if kind not in KINDS:
        raise SVDWidgetsError(f"kind must be one of {KINDS}, got {kind!r}")
    entry = prof.entry(layer)
    spectrum = prof[layer]
    idx = _indices(indices, spectrum)
    record, geometry = entry.record, entry.geometry
    if geometry is None or record.kind == "conv_transpose":
        raise SVDWidgetsError(
            f"layer {layer!r} ({record.kind}) is not supported: singular-vector objectives are "
            "defined for Conv2d and Linear layers"
        )
    linear = record.kind == "linear"
    if frequency is not None:
        if linear or kind != "channel":
            raise SVDWidgetsError(
                f"frequency={frequency!r} applies to kind='channel' on a conv layer only; "
                f"{layer!r} is a {record.kind} layer and kind is {kind!r}"
            )
        frequency = _frequency(frequency, entry, side)
    stride = geometry.stride if side == "right" and not linear else (1, 1)
    whole = kind == "vector" or linear
    basis = torch.stack([_basis(spectrum, i, side, whole, stride, layer) for i in idx])
    bias = scale = None
    if side == "left":
        b = getattr(record.module, "bias", None)
        bias = b.detach().float() if isinstance(b, torch.Tensor) else None
        from svdwidgets.model.projection import _bn_scale

        s = _bn_scale(entry, prof.model)
        scale = None if s is None else s.float()
    return SingularObjective(
        layer=layer,
        side=side,
        kind=kind,
        indices=idx,
        basis=basis.float(),
        linear=linear,
        stride=(int(stride[0]), int(stride[1])),
        frequency=frequency,
        bias=bias,
        scale=scale,
    )


def _indices(indices: int | Sequence[int], spectrum: Spectrum) -> tuple[int, ...]:
    if isinstance(indices, int) and not isinstance(indices, bool):
        indices = [indices]
    if isinstance(indices, torch.Tensor):
        indices = [int(i) for i in indices.reshape(-1).tolist()]
    if not isinstance(indices, Sequence) or isinstance(indices, str) or not indices:
        raise SVDWidgetsError(
            f"indices must be an int or a non-empty list of ints, got {indices!r}"
        )
    return tuple(spectrum._check_index(i) for i in indices)


def _frequency(frequency: Any, entry: LayerProfile, side: str) -> tuple[int, int]:
    g = entry.geometry
    assert g is not None
    shape = g.in_shape if side == "right" else g.out_shape
    sh, sw = g.stride if side == "right" else (1, 1)
    grid = (shape[-2] // sh, shape[-1] // sw)
    ok = (
        isinstance(frequency, (tuple, list))
        and len(frequency) == 2
        and all(isinstance(f, int) and not isinstance(f, bool) for f in frequency)
    )
    if not ok or not all(0 <= f < n for f, n in zip(frequency, grid, strict=True)):
        raise SVDWidgetsError(
            f"frequency must be (f_h, f_w) with 0 <= f < {grid} (the {side} grid of layer "
            f"{entry.name!r}), got {frequency!r}"
        )
    return int(frequency[0]), int(frequency[1])


_BASES: weakref.WeakKeyDictionary[Spectrum, dict[tuple[object, ...], torch.Tensor]] = (
    weakref.WeakKeyDictionary()
)
_BASES_LOCK = threading.Lock()


def _basis(
    spectrum: Spectrum,
    i: int,
    side: str,
    whole: bool,
    stride: tuple[int, int],
    layer: str,
) -> torch.Tensor:
    """The singular vector (``whole``) or its channel pattern :func:`_pattern`, made once.

    An ``fft`` spectrum computes a direction by an SVD of its frequency's block (20 ms for a
    256-channel layer); a widget asks for the same directions again and again, so they are
    kept for as long as the spectrum lives.
    """
    key = (i, side, whole, tuple(stride))
    with _BASES_LOCK:
        found = _BASES.get(spectrum, {}).get(key)
    if found is not None:
        return found
    if whole:
        made = spectrum.vector(i)[0 if side == "right" else 1]
    else:
        made = _pattern(spectrum, i, side, stride, layer)
    with _BASES_LOCK:
        _BASES.setdefault(spectrum, {})[key] = made
    return made


def _pattern(
    spectrum: Spectrum,
    i: int,
    side: str,
    stride: tuple[int, int],
    layer: str,
) -> torch.Tensor:
    """The unit real channel pattern ``P`` (flattened ``(c*s_h*s_w,)``) of direction ``i``."""
    if isinstance(spectrum, FFTSpectrum):
        d = spectrum.direction(i)
        z = d.right if side == "right" else d.left
        p = z.real
        if float(torch.linalg.vector_norm(p)) < 1e-6 * float(torch.linalg.vector_norm(z)):
            p = z.imag
    else:
        w = spectrum.vector(i)[0 if side == "right" else 1]
        p = _blocks(w[None].double(), stride)[0].sum(dim=(1, 2))
    p = p.reshape(-1).double()
    norm = float(torch.linalg.vector_norm(p))
    if norm < 1e-9:
        raise SVDWidgetsError(
            f"singular vector {i} of layer {layer!r} has no spatial-mean channel component "
            f"(method {spectrum.method!r}); use kind='vector'"
        )
    return p / norm
