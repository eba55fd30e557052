"""Render many singular vectors of a layer in one batched feature-visualization optimisation.

The method is Olah, Mordvintsev & Schubert 2017 ("Feature Visualization", Distill) as Lucent
(greentfrapp/lucent) implements it: each image is parameterised by its 1/f-scaled Fourier
spectrum (Lucent's ``fft_image``), colour-decorrelated with Lucent's matrix when it has three
channels, squashed into [0, 1] by a sigmoid, randomly jittered / scaled / rotated at every step
(:mod:`svdwidgets.featurevis.transforms`) and optimised with Adam (lr 0.05, Lucent's default)
to maximise a singular-vector objective (:mod:`svdwidgets.featurevis.objectives`).

What differs from Lucent's ``render_vis``, and why it is faster:

* one image per index in a single batch and one vectorised objective for the whole batch;
* the forward pass stops at the layer (a hook raises once the activation is captured), and the
  backward pass computes the image's gradient only, never the weights';
* no hook on every module: one hook, removed after every render, even when it fails;
* by default the render runs through a private copy of the model with its batch norms folded
  into the convolutions before them (:mod:`svdwidgets.featurevis.fusion`);
* every step's random transform is drawn before the optimisation and applied by one
  precomputed ``grid_sample`` (:class:`svdwidgets.featurevis.transforms.Schedule`), Adam is
  written out on the one tensor (:mod:`svdwidgets.featurevis.adam`: no ``torch.optim``
  wrappers, no 1.3 s import on the first render), and the cosine objective has its gradient
  written out (:mod:`svdwidgets.featurevis.objectives`);
* no upsampling: images are rendered at the size the layer was profiled on (28 px for the
  bundled MNIST model), and Lucent's ImageNet normalisation is not applied (the bundled model
  normalises inside; pass ``preprocess=`` for one that does not);
* channels-last memory (on CUDA, and on CPU through the private copy) and, on CUDA, mixed
  precision (``autocast``, float16) by default.

Every image is seeded from ``(seed, direction)`` alone (its initial spectrum and its transforms;
the direction's fingerprint, not its index), so a batched render and one-image renders agree up
to floating-point summation order, and the cache (:mod:`svdwidgets.featurevis.cache`, keyed by
the same fingerprint) can serve any subset of indices.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.featurevis import transforms
from svdwidgets.featurevis._lucent import COLOR_CORRELATION, fft_image
from svdwidgets.featurevis.adam import Adam
from svdwidgets.featurevis.cache import CachedImage, ImageCache, model_hash, render_key
from svdwidgets.featurevis.fusion import render_copy
from svdwidgets.featurevis.hooks import run_to, tap
from svdwidgets.featurevis.objectives import SingularObjective, singular_objective

__all__ = [
    "MAX_SIZE",
    "MAX_STEPS",
    "RenderCancelled",
    "Rendering",
    "check_limits",
    "check_render_options",
    "render_singular_vectors",
    "resolve_profile",
]

Progress = Callable[[int, int], object]


@dataclass(frozen=True)
class Rendering:
    """What :func:`render_singular_vectors` returns.

    ``images``: uint8 ``(N, H, W, C)``, one per index; ``before`` / ``after``: float64 ``(N,)``,
    each image's objective score (see :mod:`svdwidgets.featurevis.objectives`) on its random
    start and on the result, both measured without transforms; ``cached``: which images came
    from the cache; ``steps``: optimisation steps completed; ``settings``: what determined them.
    """

    layer: str
    indices: tuple[int, ...]
    images: np.ndarray
    before: np.ndarray
    after: np.ndarray
    cached: np.ndarray
    steps: int
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.indices)


class RenderCancelled(Exception):
    """The render's ``cancel`` event was set; ``partial`` holds the images at that step.

    Only images that were being optimised when the event was seen are partial (their ``after``
    is their score at that step, ``steps`` how many steps they had); images served by the cache
    are complete. Partial images are never cached.
    """

    def __init__(self, partial: Rendering) -> None:
        super().__init__(f"render of layer {partial.layer!r} cancelled after {partial.steps} steps")
        self.partial = partial


def resolve_profile(model_or_profile: object, input_shape: Sequence[int] | None = None) -> Any:
    """A Profile as given, or one made of ``model`` (``input_shape`` needed then)."""
    from svdwidgets.model.profile import Profile, profile

    if isinstance(model_or_profile, Profile):
        return model_or_profile
    if isinstance(model_or_profile, nn.Module):
        if input_shape is None:
            raise SVDWidgetsError(
                "pass input_shape=(C, H, W) with a model, or a Profile (svdwidgets.profile)"
            )
        return profile(model_or_profile, input_shape, progress=False)
    raise SVDWidgetsError(
        f"expected a torch.nn.Module or a Profile, got {type(model_or_profile).__name__}"
    )


def render_singular_vectors(
    model_or_profile: nn.Module | Any,
    layer: str,
    indices: int | Sequence[int],
    *,
    side: str = "right",
    kind: str = "channel",
    frequency: tuple[int, int] | None = None,
    size: int | tuple[int, int] | None = None,
    steps: int | None = None,
    lr: float = 0.05,
    batch: bool = True,
    device: torch.device | str | None = None,
    seed: int = 0,
    input_shape: Sequence[int] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    decorrelate: bool = True,
    jitter: transforms.Jitter | None = None,
    cache: ImageCache | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    amp: bool | None = None,
    channels_last: bool | None = None,
    copy_model: bool = True,
) -> Rendering:
    """Feature visualizations of singular vectors ``indices`` of ``layer``, one image each.

    Olah et al. 2017 ("Feature Visualization", Distill) through Lucent's parameterisation; see
    the module docstring for the method and :mod:`svdwidgets.featurevis.objectives` for exactly
    what ``side``, ``kind`` and ``frequency`` maximise.

    Parameters
    ----------
    model_or_profile:
        a Profile (``svdwidgets.profile(model, input_shape)``; its model is used), or a model
        with ``input_shape=(C, H, W)``. The model takes images in [0, 1] (after ``preprocess``).
    layer, indices:
        a profiled Conv2d or Linear layer and its singular vector indices.
    size:
        the image size (default: the profiled input size, e.g. 28 for the bundled model; never
        upsampled). It must reach the layer through the model; ``kind="vector"`` needs the
        profiled size.
    steps:
        Adam steps (default 128 up to 64 px, 256 above).
    batch:
        all indices in one batched optimisation (True) or one after another (False: same
        images up to float summation order, slower).
    device:
        where to render (default: the model's device); a different device renders on a copy.
    seed:
        each image is seeded from ``(seed, direction)``: deterministic, independent of batching.
    preprocess:
        applied to the image before the model (e.g. a normalisation the model lacks).
    decorrelate:
        Lucent's colour decorrelation (three-channel images only).
    jitter:
        the transform family (default :meth:`Jitter.for_size`; none for ``kind="vector"``,
        whose objective is the whole singular vector at fixed positions: a random shift,
        scale or rotation of the image misaligns it, and the render then fails to raise it).
    cache:
        an :class:`~svdwidgets.featurevis.cache.ImageCache`: images already rendered with the
        same weights, direction (basis vector) and settings are returned without optimising.
    progress:
        called as ``progress(step, total)`` after every optimisation step.
    cancel:
        a ``threading.Event`` checked before every step; once set, the render raises
        :class:`RenderCancelled` whose ``partial`` holds the images so far.
    amp, channels_last:
        float16 autocast (default: on CUDA only) and channels-last memory (default: on CUDA,
        and on CPU through the private copy) for the forward pass.
    copy_model:
        render through a private eval-mode deep copy of the model (made only when something
        is left to render after the cache), with every Conv2d -> BatchNorm2d pair before the
        layer folded into one convolution, checked against the unfolded copy
        (:mod:`svdwidgets.featurevis.fusion`): the caller's model is never hooked, switched
        or changed, so another thread may use it, even train it, meanwhile. ``False``
        renders through the model itself (no copy's memory, no folding): the render then
        hooks one module (the hook ignores forward passes of other threads), turns training
        mode off for its duration where it was on and, with ``channels_last``, converts the
        parameters and back; it never changes ``requires_grad`` (the backward pass asks for
        the image's gradient only). That is safe beside eval-mode inference in another
        thread, not beside training.

    Returns
    -------
    Rendering
        uint8 images ``(N, H, W, C)`` and the objective before and after, per index.
    """
    if not isinstance(copy_model, bool):
        raise SVDWidgetsError(f"copy_model must be a bool, got {copy_model!r}")
    prof = resolve_profile(model_or_profile, input_shape)
    model = prof.model
    objective = singular_objective(prof, layer, indices, side=side, kind=kind, frequency=frequency)
    idx = objective.indices
    shape = prof.options.get("input_shape")
    if not isinstance(shape, tuple) or len(shape) != 3:
        raise SVDWidgetsError(
            f"feature visualization optimises an image (C, H, W), but the model was profiled "
            f"on inputs of shape {shape!r}"
        )
    channels = int(shape[0])
    hw = _size(size, (int(shape[1]), int(shape[2])))
    if kind == "vector" and hw != (shape[1], shape[2]):
        raise SVDWidgetsError(
            f"kind='vector' needs images of the profiled size {tuple(shape[1:])}, got size {hw}"
        )
    if steps is None:
        steps = 128 if max(hw) <= 64 else 256
    check_limits(steps=steps, size=hw)
    if not lr > 0:
        raise SVDWidgetsError(f"lr must be positive, got {lr!r}")
    if jitter is None:
        jitter = (
            transforms.Jitter(shift=0, scale=False, rotate=False)
            if kind == "vector"
            else transforms.Jitter.for_size(min(hw))
        )
    dev = _device(model, device)
    cuda = dev.type == "cuda"
    amp = cuda if amp is None else amp
    private = copy_model or dev != _model_device(model)
    # channels-last: on CUDA, and through the private copy on CPU too (measured 5-12% faster
    # there, bundled model and ResNet-18); never by default on a caller's CPU model
    channels_last = (cuda or private) if channels_last is None else channels_last
    settings: dict[str, Any] = {
        "side": side,
        "kind": kind,
        "frequency": frequency,
        "size": hw,
        "channels": channels,
        "steps": steps,
        "lr": lr,
        "seed": seed,
        "decorrelate": decorrelate and channels == 3,
        "jitter": jitter.describe(),
        "preprocess": None if preprocess is None else repr(preprocess),
        "amp": amp,
        "device": dev.type,
    }
    weights = model_hash(model) if cache is not None else ""
    keys = [render_key(weights, objective.fingerprint(b), settings) for b in range(len(idx))]
    found = [cache.get(k) if cache is not None else None for k in keys]
    todo = [b for b, item in enumerate(found) if item is None]
    chunks = [todo] if batch else [[b] for b in todo]
    chunks = [c for c in chunks if c]
    total = steps * len(chunks)
    done = 0
    results: dict[int, CachedImage] = {b: item for b, item in enumerate(found) if item is not None}
    run_model = model
    if todo and private:

        def example() -> torch.Tensor:
            g = torch.Generator().manual_seed(seed)
            x = torch.rand(2, channels, *hw, generator=g).to(dev)
            return x if preprocess is None else preprocess(x)

        run_model = render_copy(model, dev, layer, objective.side, example).model
        if channels_last:  # the copy is ours: converted once, never converted back
            run_model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def assemble(extra: dict[int, CachedImage], steps_done: int) -> Rendering:
        items = {**results, **extra}
        order = sorted(items)
        return Rendering(
            layer=layer,
            indices=tuple(idx[b] for b in order),
            images=np.stack([items[b].image for b in order]),
            before=np.array([items[b].before for b in order], dtype=np.float64),
            after=np.array([items[b].after for b in order], dtype=np.float64),
            cached=np.array([b not in todo for b in order]),
            steps=steps_done,
            settings=settings,
        )

    for chunk in chunks:
        sub = objective.subset(chunk)

        def report(step: int, offset: int = done) -> None:
            if progress is not None:
                progress(offset + step, total)

        def cancelled(partial: dict[int, CachedImage], step: int, c: list[int] = chunk) -> None:
            raise RenderCancelled(assemble(partial, step))

        out = _optimise(
            run_model,
            sub,
            chunk,
            channels=channels,
            size=hw,
            steps=steps,
            lr=lr,
            seed=seed,
            device=dev,
            preprocess=preprocess,
            decorrelate=settings["decorrelate"],
            jitter=jitter,
            amp=amp,
            channels_last=channels_last,
            convert=channels_last and not private,
            report=report,
            cancel=cancel,
            on_cancel=cancelled,
        )
        for b, item in out.items():
            results[b] = item
            if cache is not None:
                cache.put(keys[b], item)
        done += steps
    return assemble({}, steps)


MAX_STEPS = 10_000
"""The most optimisation steps one render may take (each step holds its images and graph)."""
MAX_SIZE = 1024
"""The largest image side a render may optimise."""


def check_limits(*, steps: object = None, size: object = None) -> None:
    """Check ``steps`` and ``size`` (as ``render_singular_vectors`` takes them) and their bounds.

    Called by the render and, before any thread starts, by the gallery for its
    ``render_options``.
    """
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise SVDWidgetsError(f"steps must be a positive int, got {steps!r}")
        if steps > MAX_STEPS:
            raise SVDWidgetsError(
                f"steps={steps} exceeds the limit of {MAX_STEPS} steps per render "
                "(svdwidgets.featurevis.render.MAX_STEPS)"
            )
    if size is not None:
        hw = _size(size, (1, 1))  # type: ignore[arg-type]
        if max(hw) > MAX_SIZE:
            raise SVDWidgetsError(
                f"size={size!r} exceeds the limit of {MAX_SIZE} pixels per side "
                "(svdwidgets.featurevis.render.MAX_SIZE); pass a smaller size"
            )


def check_render_options(render_options: object) -> dict[str, Any]:
    """``render_options`` as a dict, its ``steps`` and ``size`` within the render's limits."""
    if render_options is None:
        return {}
    if not isinstance(render_options, Mapping):
        raise SVDWidgetsError(
            "render_options must be a dict of render_singular_vectors keywords, got "
            f"{render_options!r}"
        )
    check_limits(steps=render_options.get("steps"), size=render_options.get("size"))
    return dict(render_options)


def _size(size: int | tuple[int, int] | None, profiled: tuple[int, int]) -> tuple[int, int]:
    if size is None:
        return profiled
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    ok = (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    )
    if not ok or not isinstance(size, (tuple, list)):
        raise SVDWidgetsError(f"size must be a positive int or (H, W), got {size!r}")
    return int(size[0]), int(size[1])


def _model_device(model: nn.Module) -> torch.device:
    for t in [*model.parameters(), *model.buffers()]:
        return t.device
    return torch.device("cpu")


def _device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    if device is None:
        return _model_device(model)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise SVDWidgetsError(f"unknown device {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SVDWidgetsError(f"device {device!r} asked for, but CUDA is not available")
    return dev


def _image_seed(seed: int, direction: str) -> int:
    """The seed of the image maximising ``direction`` (a fingerprint): what the cache keys."""
    return (int(seed) * 1_000_003 + int(direction[:15], 16) * 7_919 + 12_345) % (2**63)


@contextlib.contextmanager
def _render_mode(model: nn.Module, channels_last: bool) -> Iterator[None]:
    """Eval mode (set only if some module trains), optional channels-last; restored on exit.

    ``requires_grad`` is left alone: the optimisation asks autograd for the image's gradient
    only (``backward(inputs=...)``), so no weight gradient is computed or stored.
    """
    modes = {m: m.training for m in model.modules()}
    try:
        if any(modes.values()):
            model.eval()
        if channels_last:
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        yield
    finally:
        if channels_last:
            model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        for m, mode in modes.items():
            if m.training != mode:
                m.training = mode


def _optimise(
    model: nn.Module,
    objective: SingularObjective,
    chunk: list[int],
    *,
    channels: int,
    size: tuple[int, int],
    steps: int,
    lr: float,
    seed: int,
    device: torch.device,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None,
    decorrelate: bool,
    jitter: transforms.Jitter,
    amp: bool,
    channels_last: bool,
    convert: bool,
    report: Callable[[int], None],
    cancel: threading.Event | None,
    on_cancel: Callable[[dict[int, CachedImage], int], None],
) -> dict[int, CachedImage]:
    h, w = size
    batch = len(chunk)
    spectrum, raw = fft_image((batch, channels, h, w), device)
    gens = [
        torch.Generator().manual_seed(_image_seed(seed, objective.fingerprint(j)))
        for j in range(batch)
    ]
    init = torch.stack([torch.randn(spectrum.shape[1:], generator=g) * 0.01 for g in gens])
    draws = torch.stack([transforms.draw(jitter, steps, g) for g in gens])
    schedule = transforms.Schedule(draws, size, jitter.fill, device)
    with torch.no_grad():
        spectrum.copy_(init.to(device))
    colour = COLOR_CORRELATION.to(device) if decorrelate else None

    def image() -> torch.Tensor:
        x = raw()
        if colour is not None:  # x[b, d] = sum_c x[b, c] colour[c, d]; a matmul, not einsum's bmm
            x = torch.matmul(colour.T, x.flatten(2)).view_as(x)
        return torch.sigmoid(x)

    def forward(x: torch.Tensor, t: Any) -> torch.Tensor:
        if preprocess is not None:
            x = preprocess(x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if not amp:
            return run_to(model, x, t)
        with torch.autocast(device.type, dtype=torch.float16):
            a = run_to(model, x, t)
        return a.float()

    def scores(t: Any) -> np.ndarray:
        with torch.inference_mode():
            return objective.scores(forward(image(), t)).double().cpu().numpy()

    def items(before: np.ndarray, after: np.ndarray) -> dict[int, CachedImage]:
        with torch.inference_mode():
            pixels = (image().clamp(0, 1) * 255).round().to(torch.uint8)
        arr = pixels.permute(0, 2, 3, 1).cpu().numpy()
        return {
            b: CachedImage(image=arr[j], before=float(before[j]), after=float(after[j]))
            for j, b in enumerate(chunk)
        }

    optimizer = Adam(spectrum, lr)
    with _render_mode(model, convert), tap(model, objective.layer, _tap_side(objective)) as t:
        _probe(model, objective, image, forward, t, size, amp)
        before = scores(t)
        for step in range(steps):
            if cancel is not None and cancel.is_set():
                on_cancel(items(before, scores(t)), step)
            optimizer.zero_grad()
            x = schedule(image(), step)
            acts = forward(x, t)
            loss = objective(lambda name, a=acts: _lookup(name, objective.key, a))
            loss.backward(inputs=[spectrum])
            optimizer.step()
            report(step + 1)
        return items(before, scores(t))


def _probe(
    model: nn.Module,
    objective: SingularObjective,
    image: Callable[[], torch.Tensor],
    forward: Callable[[torch.Tensor, Any], torch.Tensor],
    t: Any,
    size: tuple[int, int],
    amp: bool,
) -> None:
    """Check that images of ``size`` reach the layer and that the layer accepts its input."""
    try:
        with torch.no_grad():
            a = forward(image(), t)  # float32, also under amp
            if objective.side == "right":  # the pass stopped before the layer: run it once
                with torch.autocast(a.device.type, dtype=torch.float16, enabled=amp):
                    model.get_submodule(objective.layer)(a)
    except RuntimeError as err:
        raise SVDWidgetsError(
            f"images of size {size} are too small for layer {objective.layer!r} of the model: {err}"
        ) from err


def _tap_side(objective: SingularObjective) -> str:
    return "input" if objective.side == "right" else "output"


def _lookup(name: str, key: str, acts: torch.Tensor) -> torch.Tensor:
    if name != key:
        raise SVDWidgetsError(f"this render captures {key!r} only, not {name!r}")
    return acts
