"""VectorGallery: singular vectors rendered as images, beside the dataset images that excite them.

For each shown singular direction ``i`` of a layer the gallery shows a card: the feature
visualization of the direction (Olah et al. 2017, "Feature Visualization", Distill; rendered by
:func:`svdwidgets.featurevis.render_singular_vectors` through Lucent's parameterisation), its
``σ_i``, the objective on the random start and on the result, and the ``n_examples`` dataset
inputs whose score on the same direction is largest (:func:`svdwidgets.featurevis.top_activating`)
— the paper's reading of a layer (Praggastis et al. 2022, "The SVD of Convolutional Weights: A
CNN Interpretability Framework").

Rendering runs in a background thread, one job at a time: the kernel stays free, cards fill in
as images arrive, ``progress`` and ``status`` say how far it is, and the front end's *cancel*
button (or :meth:`VectorGallery.cancel`) stops the job at the next optimisation step. The
thread renders on a private copy of the model, so the notebook can use the model meanwhile.
Images already rendered (by this gallery, or in the shared
:class:`~svdwidgets.featurevis.ImageCache`) are shown at once. A failure inside a job shows in
the gallery (``error``) and leaves the widget working.

For an ``fft`` spectrum the two members of a conjugate pair of frequencies have the same ``σ``
and the same channel direction (Sedghi et al. 2019): the gallery shows one card per pair and
lists the twin among the card's ``aliases``, so selecting either highlights the same card.

The gallery follows a :class:`~svdwidgets.widgets.selection.Selection`: a click on a card selects
its direction, and selecting a direction elsewhere highlights its card, in the browser; the
kernel adds a card (and renders it) for a selected direction the gallery does not show yet.

The front end is ``VectorGalleryModel`` / ``VectorGalleryView`` in
``labextension/src/vector_gallery.ts``.
"""

from __future__ import annotations

import atexit
import copy
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import traitlets
from ipywidgets import DOMWidget, widget_serialization

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._frontend import MODULE_NAME, MODULE_VERSION
from svdwidgets.widgets._inputs import check_images, check_labels, check_render_options
from svdwidgets.widgets.images import png_bytes
from svdwidgets.widgets.selection import Selection

__all__ = ["VectorGallery", "distinct_directions", "twins"]

#: The most cards a gallery holds; selecting more directions adds only the first ones.
MAX_CARDS = 32
#: Seconds between progress messages to the browser while a job renders.
PROGRESS_INTERVAL = 0.1


def twins(spectrum: Any, i: int) -> list[int]:
    """Indices whose channel direction is that of ``i``: its conjugate twin, if any.

    See :meth:`svdwidgets.FFTSpectrum.twin`: for an ``fft`` spectrum the two real vectors of a
    conjugate pair share ``σ`` and the channel direction a ``kind="channel"`` feature
    visualization optimises, so one image stands for both. Other spectra have no twins.
    """
    twin = getattr(spectrum, "twin", None)
    j = twin(int(i)) if callable(twin) else None
    return [] if j is None else [int(j)]


def distinct_directions(spectrum: Any, k: int) -> list[tuple[int, list[int]]]:
    """The top ``k`` directions, each once: ``(index, twins)`` in decreasing ``σ``.

    A conjugate twin (see :func:`twins`) of an index already taken is skipped.
    """
    taken: set[int] = set()
    out: list[tuple[int, list[int]]] = []
    for i in range(len(spectrum.values)):
        if len(out) >= k:
            break
        if i in taken:
            continue
        tw = twins(spectrum, i)
        taken.update(tw)
        out.append((i, tw))
    return out


WORKER_IDLE_S = 2.0
"""A gallery's render thread exits after this many idle seconds (the next render starts one)."""

_GALLERIES: weakref.WeakSet[VectorGallery] = weakref.WeakSet()


@atexit.register
def _stop_workers() -> None:
    """Stop every worker before the interpreter tears torch down under a running render."""
    for gallery in list(_GALLERIES):
        gallery._shutdown(timeout=10.0)


@dataclass
class _Job:
    """Render (and fetch examples of) ``indices`` of ``layer``, unless ``cancel`` is set."""

    layer: str
    indices: list[int]
    cancel: threading.Event


class VectorGallery(DOMWidget):
    """Singular vectors of a layer as feature-visualization images, with dataset examples.

    Parameters
    ----------
    prof:
        the :class:`~svdwidgets.Profile` of the model (``svdwidgets.profile(model, shape)``).
    layer:
        the layer shown first (default: the first profiled layer).
    k:
        how many top directions a layer's gallery shows (conjugate twins counted once).
    data, labels, class_names:
        inputs ``(N, C, H, W)`` in the model's range, for the dataset examples (optional), and
        their integer labels and the class names, for the examples' captions.
    n_examples:
        dataset examples per direction.
    selection:
        a shared :class:`~svdwidgets.widgets.selection.Selection` (default: the gallery's own).
    cache:
        a shared :class:`~svdwidgets.featurevis.ImageCache` (default: a new in-memory one).
    render_options:
        keywords for :func:`svdwidgets.featurevis.render_singular_vectors` (``steps``, ``kind``,
        ``side``, ``size``, ``seed``, ...).
    autostart:
        start rendering the first layer's cards at once (in the background).
    """

    _model_name = traitlets.Unicode("VectorGalleryModel").tag(sync=True)
    _model_module = traitlets.Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = traitlets.Unicode("VectorGalleryView").tag(sync=True)
    _view_module = traitlets.Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)

    title = traitlets.Unicode("", help="Heading above the cards.").tag(sync=True)
    layer = traitlets.Unicode("", help="The layer whose directions are shown.").tag(sync=True)
    items = traitlets.List(
        traitlets.Dict(),
        help="The cards: layer, index, aliases, sigma, label, image (PNG bytes or None), "
        "before, after, state, examples (PNG bytes), example_ids, example_labels, "
        "example_scores.",
    ).tag(sync=True)
    selection = traitlets.Instance(Selection, help="The shared selection.").tag(
        sync=True, **widget_serialization
    )
    image_px = traitlets.Int(112, help="Displayed size of a rendered image, in CSS px.").tag(
        sync=True
    )
    busy = traitlets.Bool(False, help="A job is rendering.").tag(sync=True)
    progress = traitlets.Float(0.0, help="Progress of the running job, 0 to 1.").tag(sync=True)
    status = traitlets.Unicode("", help="What the gallery is doing, in words.").tag(sync=True)
    error = traitlets.Unicode("", help="The last job's error message, or empty.").tag(sync=True)

    def __init__(
        self,
        prof: Any,
        layer: str | None = None,
        *,
        k: int = 8,
        data: Any = None,
        labels: Any = None,
        class_names: Sequence[str] | None = None,
        n_examples: int = 6,
        selection: Selection | None = None,
        cache: Any = None,
        render_options: Mapping[str, Any] | None = None,
        autostart: bool = True,
        **kwargs: Any,
    ) -> None:
        from svdwidgets.featurevis import ImageCache
        from svdwidgets.model.profile import Profile

        if not isinstance(prof, Profile):
            raise SVDWidgetsError(
                "VectorGallery needs a Profile (svdwidgets.profile(model, input_shape)), "
                f"got {type(prof).__name__}"
            )
        if not prof.layers:
            raise SVDWidgetsError(f"the profile has no analysed layers; skipped: {prof.skipped}")
        if selection is not None and not isinstance(selection, Selection):
            raise SVDWidgetsError(
                f"selection must be a svdwidgets.widgets.Selection, got {type(selection).__name__}"
            )
        for name, value, low in (("k", k, 1), ("n_examples", n_examples, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SVDWidgetsError(f"{name} must be an int >= {low}, got {value!r}")
        self._prof = prof
        self._k = k
        self._data = check_images(data)
        self._labels = check_labels(labels, self._data, class_names)
        self._class_names = None if class_names is None else [str(c) for c in class_names]
        self._n_examples = n_examples if self._data is not None else 0
        self._cache = cache if cache is not None else ImageCache()
        self._options = check_render_options(render_options)
        self._closed = False
        self._rendered: dict[tuple[str, int], dict[str, Any]] = {}
        self._examples: dict[tuple[str, int], dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._outstanding: list[_Job] = []  # queued or running, under _lock
        self._idle = threading.Event()
        self._idle.set()
        self._worker: threading.Thread | None = None
        self._worker_prof: Any = None
        self._last_progress = 0.0
        self.last_error: BaseException | None = None
        super().__init__(selection=selection if selection is not None else Selection(), **kwargs)
        _GALLERIES.add(self)
        self.add_class("svdw-vector-gallery-box")
        self.on_msg(self._on_frontend_msg)
        self.selection.observe(self._on_selection, names=["layer", "indices"])
        self.show(prof.layers[0] if layer is None else layer, render=autostart)

    # ----------------------------------------------------------------------------------------
    # Public API
    # ----------------------------------------------------------------------------------------

    @property
    def profile(self) -> Any:
        """The profile the gallery renders from."""
        return self._prof

    @property
    def indices(self) -> list[int]:
        """The singular indices of the shown cards, in card order."""
        return [int(item["index"]) for item in self.items]

    def show(
        self, layer: str, indices: Iterable[int] | None = None, *, render: bool = True
    ) -> None:
        """Show ``indices`` of ``layer`` (default: its top ``k`` distinct directions).

        Cards already rendered appear at once; the others are rendered in the background
        (unless ``render=False``: then :meth:`render` starts them).
        """
        spec = self._spectrum(layer)
        if indices is None:
            chosen = (
                distinct_directions(spec, self._k)
                if self._merges(layer)
                else [(i, []) for i in range(min(self._k, len(spec.values)))]
            )
        else:
            chosen = [
                (self._check_index(layer, spec, i), self._twins(layer, spec, i)) for i in indices
            ]
        with self._lock:
            self._stop_jobs()  # a new layer or set of cards: older jobs are stale
            cards = [self._card(layer, spec, i, tw) for i, tw in chosen[:MAX_CARDS]]
            with self.hold_sync():
                self.layer = layer
                self.items = cards
                self.error = ""
                self.status = f"{layer}: {len(cards)} direction(s)"
        if render:
            self.render()

    def add(self, indices: Iterable[int], *, render: bool = True) -> list[int]:
        """Add cards for ``indices`` of the shown layer not shown yet; returns the added ones.

        A twin of a shown card is not added (its card already stands for it).
        """
        spec = self._spectrum(self.layer)
        with self._lock:
            shown = {int(i) for item in self.items for i in [item["index"], *item["aliases"]]}
            new: list[dict[str, Any]] = []
            for i in indices:
                i = self._check_index(self.layer, spec, i)
                if i in shown or len(self.items) + len(new) >= MAX_CARDS:
                    continue
                tw = self._twins(self.layer, spec, i)
                shown.update([i, *tw])
                new.append(self._card(self.layer, spec, i, tw))
            if new:
                self.items = [*self.items, *new]
        if new and render:
            self.render()
        return [int(c["index"]) for c in new]

    def save(self, path: str | Path, **kwargs: Any) -> Path:
        """Save the rendered cards as a static figure (.png, .svg or .pdf, by the suffix)."""
        from svdwidgets.plots import save_view

        return save_view(self, path, **kwargs)

    def render(self) -> None:
        """Render the shown cards that have no image yet, in the background."""
        with self._lock:
            if self._closed:  # a closed gallery starts no thread
                return
            todo = [int(c["index"]) for c in self.items if c["state"] != "done"]
            if not todo:
                return
            job = _Job(self.layer, todo, threading.Event())
            self._outstanding.append(job)
            self._idle.clear()
            self._jobs.put(job)
            self._ensure_worker()

    def cancel(self) -> None:
        """Stop the running job at its next step and drop the queued ones."""
        with self._lock:
            self._stop_jobs()
            self.items = [
                {**c, "state": "cancelled"} if c["state"] in ("pending", "rendering") else c
                for c in self.items
            ]

    def _stop_jobs(self) -> None:
        for job in self._outstanding:
            job.cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running; False if ``timeout`` seconds passed first."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Stop the worker thread, stop following the selection and close the widget."""
        if hasattr(self, "_lock"):
            with self._lock:
                self._closed = True
        self._shutdown(timeout=None)
        try:  # plain try: close() also runs from __del__ while the interpreter shuts down
            if "selection" in self._trait_values:
                self.selection.unobserve(self._on_selection, names=["layer", "indices"])
        except ValueError:  # already removed by an earlier close
            pass
        self._worker_prof = None  # the model's deep copy
        super().close()

    def _shutdown(self, timeout: float | None) -> None:
        if not hasattr(self, "_jobs"):  # the constructor failed before the worker existed
            return
        with self._lock:
            self._stop_jobs()
        self._jobs.put(None)
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    # ----------------------------------------------------------------------------------------
    # Cards
    # ----------------------------------------------------------------------------------------

    def _spectrum(self, layer: object) -> Any:
        if not isinstance(layer, str) or layer not in self._prof.layers:
            raise SVDWidgetsError(
                f"unknown layer {layer!r}; the profiled layers are {self._prof.layers}"
            )
        return self._prof[layer]

    def _twins(self, layer: str, spec: Any, i: int) -> list[int]:
        return twins(spec, int(i)) if self._merges(layer) else []

    def kind(self, layer: str) -> str:
        """The objective the cards of ``layer`` render (``render_options["kind"]`` if given).

        By default ``"channel"`` (the channel direction, averaged over positions: the paper's
        reading), except where the channel space is that of a few colour channels (the first
        layer: ``c_in·s_h·s_w <= 3``): there the channel direction is a single grey level or
        colour, so the image would be flat, and ``"vector"`` (the whole right singular vector)
        is rendered instead.
        """
        if "kind" in self._options:
            return str(self._options["kind"])
        g = self._prof.entry(layer).geometry
        if g is not None and (g.c_in // g.groups) * g.stride[0] * g.stride[1] <= 3:
            return "vector"
        return "channel"

    def _merges(self, layer: str) -> bool:
        # kind="vector" optimises the real plane wave itself: conjugate twins then differ
        return self.kind(layer) != "vector"

    @staticmethod
    def _check_index(layer: str, spec: Any, i: object) -> int:
        n = len(spec.values)
        if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= int(i) < n:
            raise SVDWidgetsError(
                f"singular index {i!r} is out of range: layer {layer!r} has {n} values"
            )
        return int(i)

    def _card(self, layer: str, spec: Any, i: int, aliases: list[int]) -> dict[str, Any]:
        sigma = float(spec.values[i])
        label = ""
        if hasattr(spec, "frequency_of"):
            fh, fw = spec.frequency_of(i)
            nh, nw = spec.grid
            label = f"frequency ({_signed(fh, nh)}, {_signed(fw, nw)})"
        card: dict[str, Any] = {
            "layer": layer,
            "index": i,
            "aliases": [int(a) for a in aliases],
            "sigma": sigma,
            "label": label,
            "image": None,
            "before": None,
            "after": None,
            "state": "pending",
            "examples": [],
            "example_ids": [],
            "example_labels": [],
            "example_scores": [],
            "message": "",
        }
        done = self._rendered.get((layer, i))
        if done is not None:
            card.update(done)
        ex = self._examples.get((layer, i))
        if ex is not None:
            card.update(ex)
        return card

    def _update_cards(self, layer: str, updates: Mapping[int, Mapping[str, Any]]) -> None:
        """Merge ``updates`` (by index) into the shown cards of ``layer``: one message."""
        with self._lock:
            if self.layer != layer:
                return
            self.items = [
                {**c, **updates[int(c["index"])]} if int(c["index"]) in updates else c
                for c in self.items
            ]

    # ----------------------------------------------------------------------------------------
    # The background worker
    # ----------------------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            return
        self._worker = threading.Thread(
            target=self._run, name=f"svdwidgets-gallery-{self.model_id[:8]}", daemon=True
        )
        self._worker.start()

    def _private_profile(self) -> Any:
        """The profile with a deep copy of its model: renders never touch the user's model."""
        if self._worker_prof is None:
            from svdwidgets.model.profile import Profile

            prof = self._prof
            entries = list(prof._entries.values())
            self._worker_prof = Profile(entries, dict(prof.options), copy.deepcopy(prof.model))
        return self._worker_prof

    def _run(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=WORKER_IDLE_S)
            except queue.Empty:
                with self._lock:  # render() queues under the lock: nothing can slip in now
                    if self._jobs.empty():
                        self._worker = None
                        return
                continue
            if job is None:
                return
            try:
                if not job.cancel.is_set():
                    self._do(job)
            except Exception as err:  # shown in the widget; the worker lives on
                self.last_error = err
                self._failed(job, err)
            finally:
                with self._lock:
                    self._outstanding.remove(job)
                    if not self._outstanding:
                        with self.hold_sync():
                            self.busy = False
                            self.progress = 0.0 if self.error else 1.0
                        self._idle.set()

    def _do(self, job: _Job) -> None:
        from svdwidgets.featurevis import RenderCancelled, render_singular_vectors

        todo = [i for i in job.indices if (job.layer, i) not in self._rendered]
        with self._lock, self.hold_sync():
            self.error = ""
            self.busy = True
            self.progress = 0.0
            self.status = f"rendering {len(todo)} direction(s) of {job.layer} …"
        self._update_cards(job.layer, {i: {"state": "rendering"} for i in todo})
        started = time.perf_counter()
        if todo:
            try:
                result = render_singular_vectors(
                    self._private_profile(),
                    job.layer,
                    todo,
                    cache=self._cache,
                    progress=self._progress_reporter(job, len(todo)),
                    cancel=job.cancel,
                    **{**self._options, "kind": self.kind(job.layer)},
                )
            except RenderCancelled as stop:
                partial = stop.partial
                self._update_cards(
                    job.layer,
                    {
                        i: {
                            "image": png_bytes(partial.images[b]),
                            "before": float(partial.before[b]),
                            "after": float(partial.after[b]),
                            "state": "cancelled",
                            "message": f"cancelled after {partial.steps} steps",
                        }
                        for b, i in enumerate(partial.indices)
                    },
                )
                self._say(f"cancelled after {partial.steps} steps")
                return
            for b, i in enumerate(result.indices):
                self._rendered[(job.layer, int(i))] = {
                    "image": png_bytes(result.images[b]),
                    "before": float(result.before[b]),
                    "after": float(result.after[b]),
                    "state": "done",
                    "message": "",
                }
        self._update_cards(job.layer, {i: self._rendered[(job.layer, i)] for i in job.indices})
        seconds = time.perf_counter() - started
        if self._n_examples:
            self._say(f"dataset examples of {len(job.indices)} direction(s) …")
            self._fetch_examples(job)
        self._say(f"{job.layer}: {len(job.indices)} direction(s) in {seconds:.2g} s")

    def _say(self, status: str) -> None:
        with self._lock:
            self.status = status

    def _progress_reporter(self, job: _Job, count: int) -> Callable[[int, int], None]:
        def report(step: int, total: int) -> None:
            now = time.perf_counter()
            if step == total or now - self._last_progress >= PROGRESS_INTERVAL:
                self._last_progress = now
                with self._lock, self.hold_sync():
                    self.progress = step / max(total, 1)
                    self.status = (
                        f"rendering {count} direction(s) of {job.layer}: step {step} of {total}"
                    )

        return report

    def _fetch_examples(self, job: _Job) -> None:
        from svdwidgets.featurevis import top_activating

        options = {k: v for k, v in self._options.items() if k in ("side", "frequency")}
        options["kind"] = self.kind(job.layer)
        for i in job.indices:
            if job.cancel.is_set():
                return
            key = (job.layer, i)
            if key not in self._examples:
                top = top_activating(
                    self._private_profile(),
                    self._data,
                    job.layer,
                    i,
                    n=self._n_examples,
                    **options,
                )
                ids = [int(x) for x in top.top_indices]
                self._examples[key] = {
                    "examples": [png_bytes(img) for img in top.top_images],
                    "example_ids": ids,
                    "example_labels": [self._label(x) for x in ids],
                    "example_scores": [float(s) for s in top.top_scores],
                }
            self._update_cards(job.layer, {i: self._examples[key]})

    def _label(self, index: int) -> str:
        if self._labels is None:
            return f"#{index}"
        y = int(self._labels[index])
        names = self._class_names
        return names[y] if names is not None and 0 <= y < len(names) else str(y)

    def _failed(self, job: _Job, err: BaseException) -> None:
        message = f"{type(err).__name__}: {err}"
        self._update_cards(
            job.layer,
            {
                i: {"state": "error", "message": message}
                for i in job.indices
                if (job.layer, i) not in self._rendered
            },
        )
        with self._lock, self.hold_sync():
            self.error = f"rendering {job.layer} failed: {message}"
            self.status = "failed"

    # ----------------------------------------------------------------------------------------
    # Links
    # ----------------------------------------------------------------------------------------

    def _on_selection(self, change: traitlets.Bunch) -> None:
        sel = self.selection
        if sel.layer == self.layer and sel.indices:
            n = len(self._prof[self.layer].values)
            self.add([i for i in sel.indices if i < n][:MAX_CARDS])

    def _on_frontend_msg(self, _widget: Any, content: Mapping[str, Any], _buffers: Any) -> None:
        if content.get("event") == "cancel":
            self.cancel()
        elif content.get("event") == "render":
            self.render()


def _signed(k: int, n: int) -> int:
    return k - n if k > n // 2 else k
