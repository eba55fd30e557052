"""``Analysis``: everything svdwidgets computes about one model and its data, in one place.

The Explorer, ``svdwidgets report`` and ``python -m svdwidgets`` compose their output from an
:class:`Analysis`, so they show one layer table, one class hypergraph (on *operator* singular
directions: node ``layer:i`` is the ``i``-th singular direction of the layer's operator, the
same index space as its spectrum) and one BatchNorm-folding default
(:data:`~svdwidgets.model.folding.FOLD_BN_DEFAULT`).

Nothing is computed when an ``Analysis`` is made. Each product is computed on first use and
kept, keyed by the *content* it was computed from: the model's parameters and buffers and the
data (a SHA-256 digest, recomputed only when a tensor changed in place or was replaced — torch's
version counters tell), together with the options. Change the weights (an optimiser step,
``load_state_dict``) and the next call recomputes; the spectra themselves are also kept in
:func:`svdwidgets.profile`'s content-addressed disk cache.

Products (each a method; see its docstring):

* :meth:`profile` — every layer's spectrum (:func:`svdwidgets.profile`);
* :meth:`table` — the layer table (:func:`svdwidgets.analysis.layer_table`);
* :meth:`directions` — a layer's top operator singular directions ``(σ_i, v_i, u_i)``;
* :meth:`projections` — the data projected on each layer's top directions;
* :meth:`hypergraph` — the class hypergraph of the labelled data;
* :meth:`comparison` / :meth:`compare_methods` — a layer's spectrum under other methods, as
  arrays (what a spectrum view's "compare methods" overlays).

Long work runs off the caller's thread through :meth:`start` (a :class:`JobRunner` the analysis
owns or is handed), with progress (``progress(stage, done, total)``, and the job's own) and
cancel; :meth:`close` cancels every job and starts none. No widget is imported here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from svdwidgets.analysis.jobs import Job, JobContext, JobRunner
from svdwidgets.analysis.table import folding_caption, layer_table
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.model.compare import COMPARE_METHODS, MethodCurve, method_comparison
from svdwidgets.model.folding import FOLD_BN_DEFAULT

if TYPE_CHECKING:
    import pandas as pd

    from svdwidgets.hypergraph.classes import ClassHypergraph
    from svdwidgets.model.profile import Profile
    from svdwidgets.model.projection import Projections

__all__ = [
    "COMPARE_METHODS",
    "DEFAULT_HYPERGRAPH_K",
    "DEFAULT_THRESHOLD",
    "Analysis",
    "Directions",
    "MethodCurve",
]

DEFAULT_COMPARE_K = 8
"""The top values ``exact`` computes for a comparison unless told (a matrix-free Lanczos)."""
DEFAULT_HYPERGRAPH_K = 16
"""Each layer's top operator directions that are candidate nodes of the class hypergraph."""
DEFAULT_THRESHOLD = 0.5
"""The class hypergraph's influence threshold (:func:`svdwidgets.class_hypergraph`)."""

Progress = Callable[[str, int, int], object]
"""``progress(stage, done, total)``: ``stage`` is ``"profile"`` (``done`` layers of ``total``),
``"projections"``, ``"hypergraph"``, ``"directions"`` or ``"comparison"`` (0 of 1, then 1 of 1)."""


@dataclass(frozen=True)
class Directions:
    """A layer's top operator singular directions: ``A v_i = σ_i u_i``.

    ``indices`` are singular indices (the spectrum's), ``sigma`` their values; ``v`` is
    ``(k, c_in, H, W)`` (input space), ``u`` ``(k, c_out, H', W')`` (output space; ``(k, out)``
    and ``(k, in)`` for a Linear layer). Float64 arrays, unit norm per direction.
    """

    layer: str
    indices: np.ndarray
    sigma: np.ndarray
    v: np.ndarray
    u: np.ndarray
    method: str
    exact: bool


class Analysis:
    """What svdwidgets computes about ``model`` and its data, lazily and once per content.

    Parameters
    ----------
    model:
        a ``torch.nn.Module`` taking inputs ``(N, C, H, W)``.
    data, labels, class_names:
        inputs ``(N, C, H, W)`` (for projections), an integer label per input and the names
        of the classes ``0..C-1`` (for the class hypergraph); all optional.
    input_shape:
        ``(C, H, W)`` of one input (default: ``data``'s).
    method, fold_bn, k, cache:
        passed to :func:`svdwidgets.profile`. ``fold_bn`` defaults to
        :data:`~svdwidgets.model.folding.FOLD_BN_DEFAULT` (not folded).
    profile:
        a :class:`~svdwidgets.Profile` of ``model`` computed before: used as long as the
        weights do not change (its ``method`` and ``fold_bn`` become the analysis's).
    progress:
        ``progress(stage, done, total)``, called as work proceeds (on the thread doing it).
    runner:
        a :class:`~svdwidgets.analysis.JobRunner` to run :meth:`start`'s jobs on (default: one
        of its own, closed by :meth:`close`; a runner handed in is left open).
    """

    def __init__(
        self,
        model: nn.Module,
        data: torch.Tensor | None = None,
        labels: Any = None,
        class_names: Sequence[str] | None = None,
        input_shape: Sequence[int] | None = None,
        *,
        method: str = "auto",
        fold_bn: bool = FOLD_BN_DEFAULT,
        k: int | None = None,
        cache: bool | str | Path = True,
        profile: Profile | None = None,
        progress: Progress | None = None,
        runner: JobRunner | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise SVDWidgetsError(
                f"the model must be a torch.nn.Module, got {type(model).__name__}"
            )
        if data is not None and not isinstance(data, torch.Tensor):
            raise SVDWidgetsError(
                f"data must be a tensor of inputs (N, C, H, W), got {type(data).__name__}"
            )
        if progress is not None and not callable(progress):
            raise SVDWidgetsError(f"progress must be a callable, got {progress!r}")
        self.model = model
        self.data = data
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels)).long()
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        if profile is not None:
            from svdwidgets.model.profile import Profile

            if not isinstance(profile, Profile) or profile.model is not model:
                raise SVDWidgetsError(
                    "profile= must be the svdwidgets.Profile of this model "
                    "(svdwidgets.profile(model, input_shape))"
                )
            method = str(profile.options["method"])
            fold_bn = bool(profile.options["fold_bn"])
            k = profile.options.get("k")  # type: ignore[assignment]
            shape = tuple(cast("Sequence[int]", profile.options["input_shape"]))
            if input_shape is not None and tuple(input_shape) != shape:
                raise SVDWidgetsError(
                    f"input_shape {tuple(input_shape)} differs from the profile's {shape}"
                )
            input_shape = shape
        self.input_shape = check_input_shape(data, input_shape)
        self.method = method
        self.fold_bn = bool(fold_bn)
        self.k = k
        self.cache = cache
        self.progress = progress
        self.timings: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        """How many times each product was computed (a cache hit counts nothing)."""
        self._own_runner = runner is None
        self._runner = runner
        self._closed = False
        self._lock = threading.RLock()  # held while a product is computed: each is made once
        self._state = threading.Lock()  # the runner and the closed flag (never held long)
        self._local = threading.local()
        self._results: dict[tuple[Any, ...], Any] = {}
        self._content: tuple[tuple[Any, ...], str] | None = None
        self._given = None if profile is None else (self._token(), profile)

    def __repr__(self) -> str:
        done = ", ".join(sorted(self.counts)) or "nothing computed yet"
        return (
            f"Analysis({type(self.model).__name__}, input {self.input_shape}, method "
            f"{self.method!r}, {self.caption}; {done})"
        )

    @property
    def caption(self) -> str:
        """``"BatchNorm: not folded"`` (or ``folded``): what every table and page says."""
        return folding_caption(self.fold_bn)

    # ----------------------------------------------------------------------------------------
    # Products
    # ----------------------------------------------------------------------------------------

    def profile(self) -> Profile:
        """Every layer's spectrum: :func:`svdwidgets.profile` with the analysis's options."""
        return self._cached(("profile",), "profile", self._compute_profile)

    def table(self) -> pd.DataFrame:
        """The layer table (:func:`~svdwidgets.analysis.layer_table` of :meth:`profile`)."""
        return self._cached(("table",), "table", lambda: layer_table(self.profile()))

    @property
    def layers(self) -> list[str]:
        """The analysed layers, in forward order (computes the profile)."""
        return list(self.profile().layers)

    def directions(self, layer: str, k: int = DEFAULT_COMPARE_K) -> Directions:
        """``layer``'s top ``k`` operator singular directions (fewer when it has fewer)."""
        _check_k(k, "k")
        return self._cached(
            ("directions", layer, k), "directions", lambda: self._compute_directions(layer, k)
        )

    def projections(self, k: int = DEFAULT_HYPERGRAPH_K) -> Projections:
        """The data projected on every layer's top ``k`` operator directions
        (:func:`svdwidgets.model.projection.project`, ``directions="operator"``)."""
        _check_k(k, "k")
        if self.data is None:
            raise SVDWidgetsError("projections need data: Analysis(model, data, ...)")
        return self._cached(("projections", k), "projections", lambda: self._compute_projections(k))

    def hypergraph(
        self, top_k: int = DEFAULT_HYPERGRAPH_K, threshold: float = DEFAULT_THRESHOLD
    ) -> ClassHypergraph:
        """The class hypergraph of the labelled data over each layer's top ``top_k`` operator
        directions (:func:`svdwidgets.class_hypergraph`); another ``threshold`` reuses the
        scores (:meth:`ClassHypergraph.at`)."""
        if self.data is None or self.labels is None:
            raise SVDWidgetsError(
                "the class hypergraph needs labelled data: Analysis(model, data, labels, ...)"
            )
        from svdwidgets.hypergraph.influence import check_threshold

        threshold = check_threshold(threshold)
        base = self._cached(
            ("hypergraph", top_k), "hypergraph", lambda: self._compute_hypergraph(top_k)
        )
        if threshold == base.threshold:
            return base
        return self._cached(
            ("hypergraph", top_k, threshold), "threshold", lambda: base.at(threshold)
        )

    def has_hypergraph(self) -> bool:
        """Whether there are labelled data for a class hypergraph."""
        return self.data is not None and self.labels is not None

    def comparison(self, layer: str, method: str, k: int | None = None) -> MethodCurve:
        """``layer``'s spectrum under ``method`` (one of :data:`COMPARE_METHODS`), as arrays.

        ``exact`` computes the top ``k`` values (default :data:`DEFAULT_COMPARE_K`, clamped to
        the layer's count; a matrix-free Lanczos), ``fft`` and ``unfolded`` all of them (``k``
        keeps the top ``k``). On the BN-folded weight when the profile folded it. This is the
        callable a spectrum view is handed for its "compare methods" overlays.
        """
        if method not in COMPARE_METHODS:
            raise SVDWidgetsError(f"unknown method {method!r}; compare one of {COMPARE_METHODS}")
        if k is not None:
            _check_k(k, "k")
        return self._cached(
            ("comparison", layer, method, k),
            "comparison",
            lambda: self._compute_comparison(layer, method, k),
        )

    def compare_methods(
        self, layer: str, methods: Iterable[str] = COMPARE_METHODS, k: int | None = None
    ) -> dict[str, MethodCurve]:
        """``{method: curve}`` of :meth:`comparison` for each of ``methods``."""
        return {m: self.comparison(layer, m, k) for m in methods}

    # ----------------------------------------------------------------------------------------
    # Background work
    # ----------------------------------------------------------------------------------------

    @property
    def runner(self) -> JobRunner:
        """The job runner :meth:`start` submits to (made on first use)."""
        with self._state:
            if self._closed:
                raise SVDWidgetsError("this Analysis is closed: it starts no job")
            if self._runner is None:
                self._runner = JobRunner(name="svdwidgets-analysis")
            return self._runner

    def start(
        self,
        what: str,
        *args: Any,
        on_progress: Callable[[Job], None] | None = None,
        on_done: Callable[[Job], None] | None = None,
        **kwargs: Any,
    ) -> Job:
        """Compute ``what`` (a product's name: ``"hypergraph"``, ``"comparison"``, ...) with
        ``args`` on the job runner; returns the :class:`Job` at once (``job.result()`` is the
        product). Progress reaches the job; ``job.cancel()`` stops it at the next layer."""
        if what not in _PRODUCTS:
            raise SVDWidgetsError(f"unknown product {what!r}; start one of {_PRODUCTS}")
        method = getattr(self, what)

        def run(ctx: JobContext) -> Any:
            self._local.ctx = ctx
            try:
                return method(*args, **kwargs)
            finally:
                self._local.ctx = None

        return self.runner.submit(run, name=what, on_progress=on_progress, on_done=on_done)

    def close(self) -> None:
        """Cancel every job and stop the runner this analysis made (a runner handed in is only
        cancelled); afterwards :meth:`start` refuses. Results computed so far stay readable."""
        with self._state:
            self._closed = True
            runner = self._runner
        if runner is not None:
            if self._own_runner:
                runner.close()
            else:
                runner.cancel_all()

    def __enter__(self) -> Analysis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------
    # Content keys and the cache
    # ----------------------------------------------------------------------------------------

    def content_key(self) -> str:
        """SHA-256 of the model's parameters and buffers, the data and the labels.

        Recomputed only when a tensor was changed in place or replaced (torch's version
        counters and the tensors' identities say so), else remembered.
        """
        token = self._token()
        with self._lock:
            if self._content is None or self._content[0] != token:
                self._content = (token, self._digest())
            return self._content[1]

    def _tensors(self) -> list[tuple[str, torch.Tensor]]:
        named = [*self.model.named_parameters(), *self.model.named_buffers()]
        named += [
            (f"data:{n}", t) for n, t in (("x", self.data), ("y", self.labels)) if t is not None
        ]
        return named

    def _token(self) -> tuple[Any, ...]:
        return tuple(
            (name, id(t), t.data_ptr(), t._version, tuple(t.shape), t.dtype)
            for name, t in self._tensors()
        )

    def _digest(self) -> str:
        h = hashlib.sha256()
        for name, t in self._tensors():
            flat = t.detach().to("cpu").contiguous().reshape(-1)
            h.update(f"{name}|{flat.dtype}|{tuple(flat.shape)}|".encode())
            h.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        return h.hexdigest()

    def _cached(self, key: tuple[Any, ...], stage: str, compute: Callable[[], Any]) -> Any:
        content = self.content_key()
        full = (*key, content)
        with self._lock:
            if full in self._results:
                return self._results[full]
            stale = [k for k in self._results if k[-1] != content]
            for old in stale:  # the weights or data changed: what they gave is dropped
                del self._results[old]
            start = time.perf_counter()
            self._report(stage, 0, 1)
            value = compute()
            self._results[full] = value
            self.counts[stage] = self.counts.get(stage, 0) + 1
            self.timings[stage] = time.perf_counter() - start
            self._report(stage, 1, 1)
            return value

    def _report(self, stage: str, done: int, total: int, detail: str = "") -> None:
        ctx: JobContext | None = getattr(self._local, "ctx", None)
        if ctx is not None:
            ctx.progress(done, total, stage, detail)  # raises JobCancelled once cancelled
        if self.progress is not None:
            self.progress(stage, done, total)

    # ----------------------------------------------------------------------------------------
    # Computing
    # ----------------------------------------------------------------------------------------

    def _compute_profile(self) -> Profile:
        if self._given is not None and self._given[0] == self._token():
            return self._given[1]
        from svdwidgets.model.profile import profile

        def layer_done(name: str, done: int, total: int) -> None:
            self._report("profile", done, total, name)

        return profile(
            self.model,
            self.input_shape,
            method=self.method,
            fold_bn=self.fold_bn,
            k=self.k,
            cache=self.cache,
            progress=layer_done,
        )

    def _entry(self, layer: str) -> Any:
        prof = self.profile()
        if layer not in prof.layers:
            raise SVDWidgetsError(f"unknown layer {layer!r}; the analysed layers are {prof.layers}")
        return prof.entry(layer)

    def _compute_directions(self, layer: str, k: int) -> Directions:
        entry = self._entry(layer)
        spec = entry.spectrum
        n = min(k, len(spec.values))
        pairs = spec.vectors(range(n))
        return Directions(
            layer=layer,
            indices=np.arange(n),
            sigma=spec.values[:n].double().numpy(),
            v=torch.stack([p[0] for p in pairs]).double().numpy(),
            u=torch.stack([p[1] for p in pairs]).double().numpy(),
            method=spec.method,
            exact=bool(spec.exact),
        )

    def _compute_projections(self, k: int) -> Projections:
        from svdwidgets.model.projection import project

        return project(self.profile(), self.data, model=self.model, k=k, directions="operator")

    def _compute_hypergraph(self, top_k: int) -> ClassHypergraph:
        from svdwidgets.hypergraph.classes import class_hypergraph

        return class_hypergraph(
            None,
            self.projections(top_k),
            self.labels,
            threshold=DEFAULT_THRESHOLD,
            class_names=self.class_names,
        )

    def _compute_comparison(self, layer: str, method: str, k: int | None) -> MethodCurve:
        # the one comparison (model/compare.py, as Profile.method_comparison and plot_layer);
        # here exact defaults to the top DEFAULT_COMPARE_K and every curve keeps its top k
        e = self._entry(layer)
        n = int(e.geometry.n_values)
        top = min(k if k is not None else DEFAULT_COMPARE_K, n) if method == "exact" else None
        curve = method_comparison(self.profile())(layer, method, top)
        if k is None:
            return curve
        return dataclasses.replace(curve, values=curve.values[:k])


_PRODUCTS = (
    "profile",
    "table",
    "directions",
    "projections",
    "hypergraph",
    "comparison",
    "compare_methods",
)


def _check_k(k: object, name: str) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SVDWidgetsError(f"{name} must be a positive int, got {k!r}")


def check_input_shape(
    data: torch.Tensor | None, input_shape: Sequence[int] | None
) -> tuple[int, ...]:
    """One input's shape: ``input_shape`` (positive ints, matching ``data``'s) or ``data``'s."""
    if input_shape is None:
        if data is None:
            raise SVDWidgetsError("pass input_shape=(C, H, W), or data to take it from")
        return tuple(int(s) for s in data.shape[1:])
    shape = tuple(input_shape)
    if not shape or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise SVDWidgetsError(f"input_shape must be positive ints like (C, H, W), got {shape!r}")
    if data is not None and tuple(data.shape[1:]) != shape:
        raise SVDWidgetsError(
            f"data has inputs of shape {tuple(data.shape[1:])} but input_shape is {shape}"
        )
    return shape
