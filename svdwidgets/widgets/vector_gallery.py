"""VectorGallery: singular vectors rendered as images, beside the dataset images that excite them.

For each shown singular direction ``i`` of a layer the gallery shows a card: the feature
visualization of the direction (Olah et al. 2017, "Feature Visualization", Distill; rendered by
:func:`svdwidgets.featurevis.render_singular_vectors` through Lucent's parameterisation), its
``σ_i``, the objective on the random start and on the result, and the ``n_examples`` dataset
inputs whose score on the same direction is largest (:func:`svdwidgets.featurevis.top_activating`)
— the paper's reading of a layer (Praggastis et al. 2022, "The SVD of Convolutional Weights: A
CNN Interpretability Framework").

Rendering runs in a :class:`~svdwidgets.featurevis.jobs.RenderQueue` that the composer (the
Explorer) owns and hands to the gallery: one background thread, one job at a time, on a
private copy of the model, so the kernel and the notebook's model stay free. The gallery only
draws what the queue reports: cards fill in as images arrive, each finished card reaching the
browser as one message of its own (never every PNG again), ``progress`` and ``status`` say how
far it is, and the front end's *cancel* button (or :meth:`VectorGallery.cancel`) stops the job
at the next optimisation step. Images already rendered (by this gallery, or in the queue's
:class:`~svdwidgets.featurevis.ImageCache`) are shown at once. A failure inside a job shows in
the gallery (``error``) and leaves the widget working. After :meth:`VectorGallery.close` no
selection or call starts a job.

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

import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import numpy as np
import traitlets
from ipywidgets import DOMWidget, widget_serialization
from ipywidgets.widgets.widget import _remove_buffers

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._frontend import MODULE_NAME, MODULE_VERSION
from svdwidgets.widgets._inputs import check_images, check_labels
from svdwidgets.widgets.images import png_bytes
from svdwidgets.widgets.selection import Selection, SelectionObserver

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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


class _CardMessage(TypedDict):
    """The custom message carrying one updated card (its PNGs as binary buffers)."""

    event: Literal["card"]
    position: int
    card: dict[str, Any]
    buffer_paths: list[list[str | int]]


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
        a shared :class:`~svdwidgets.featurevis.ImageCache` for the gallery's own queue.
    render_options:
        keywords for :func:`svdwidgets.featurevis.render_singular_vectors` (``steps``, ``kind``,
        ``side``, ``size``, ``seed``, ...).
    autostart:
        start rendering the first layer's cards at once (in the background).
    jobs:
        the :class:`~svdwidgets.featurevis.jobs.RenderQueue` that renders the cards, owned by
        the caller (who closes it); by default the gallery makes one of ``prof``, ``data``,
        ``cache`` and ``render_options`` and closes it with itself.
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
        jobs: Any = None,
        **kwargs: Any,
    ) -> None:
        # a Profile, by what the gallery reads of it (widgets/ import no model internals)
        if not all(hasattr(prof, a) for a in ("layers", "entry", "skipped", "__getitem__")):
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
        from svdwidgets.featurevis.render import check_render_options

        self._options = check_render_options(render_options)
        self._owns_jobs = jobs is None
        if jobs is None:
            from svdwidgets.featurevis.jobs import RenderQueue

            jobs = RenderQueue(
                prof,
                data=self._data,
                cache=cache,
                options=self._options,
                progress_interval=PROGRESS_INTERVAL,
            )
        self._render_queue = jobs
        self._closed = False
        self._rendered: dict[tuple[str, int], dict[str, Any]] = {}
        self._examples: dict[tuple[str, int], dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._mine: list[Any] = []  # this gallery's jobs, queued or running, under _lock
        self._idle = threading.Event()
        self._idle.set()
        self._quiet_items = False  # set while a card goes out as a message of its own
        self.last_error: BaseException | None = None
        super().__init__(selection=selection if selection is not None else Selection(), **kwargs)
        self.add_class("svdw-vector-gallery-box")
        self.on_msg(self._on_frontend_msg)
        self._follow = SelectionObserver(self.selection, self._on_selection)
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

    def figure(self, **kwargs: Any) -> Figure:
        """:func:`svdwidgets.plots.plot_gallery` of the rendered cards (index and σ as titles)."""
        from svdwidgets.plots.gallery import plot_cards

        return plot_cards(
            self.items, layer=self.layer, title=self.title, status=self.status, **kwargs
        )

    def save(self, path: str | Path, **kwargs: Any) -> Path:
        """Save the rendered cards as a static figure (.png, .svg or .pdf, by the suffix)."""
        from svdwidgets.plots.save import save_view

        return save_view(self, path, **kwargs)

    @property
    def jobs(self) -> Any:
        """The :class:`~svdwidgets.featurevis.jobs.RenderQueue` rendering the cards."""
        return self._render_queue

    def render(self) -> None:
        """Render the shown cards that have no image yet, in the background."""
        with self._lock:
            if self._closed:  # a closed gallery starts no job
                return
            todo = [int(c["index"]) for c in self.items if c["state"] != "done"]
            if not todo:
                return
            job = self._render_queue.submit(
                self.layer,
                todo,
                kind=self.kind(self.layer),
                n_examples=self._n_examples,
                listener=self._on_event,
            )
            if job is not None:
                self._mine.append(job)
                self._idle.clear()

    def cancel(self) -> None:
        """Stop the running job at its next step and drop the queued ones."""
        with self._lock:
            self._stop_jobs()
            self.items = [
                {**c, "state": "cancelled"} if c["state"] in ("pending", "rendering") else c
                for c in self.items
            ]

    def _stop_jobs(self) -> None:
        for job in self._mine:
            job.cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running; False if ``timeout`` seconds passed first."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Stop this gallery's jobs (and its own queue), stop following the selection, close.

        Afterwards nothing starts a job: neither a selection nor :meth:`render`.
        """
        if hasattr(self, "_lock"):
            with self._lock:
                self._closed = True
                self._stop_jobs()
            if self._owns_jobs:
                self._render_queue.close()
            else:  # the owner's queue lives on: wait for this gallery's jobs to stop
                self._idle.wait(30)
            self._follow.unlink()
        super().close()

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
        """Merge ``updates`` (by index) into the shown cards of ``layer``: one message a card.

        The ``items`` trait is updated in the kernel without being synced (so a later view,
        an export or a reconnecting front end gets every card); each changed card goes to the
        browser as a ``card`` message with its PNGs as binary buffers.
        """
        with self._lock:
            if self.layer != layer or self._closed:
                return
            items = list(self.items)
            changed = []
            for k, c in enumerate(items):
                update = updates.get(int(c["index"]))
                if update is not None:
                    items[k] = {**c, **update}
                    changed.append(k)
            if not changed:
                return
            self._quiet_items = True
            try:
                self.items = items
            finally:
                self._quiet_items = False
            for k in changed:
                state, paths, buffers = _remove_buffers({"card": items[k]})
                message: _CardMessage = {
                    "event": "card",
                    "position": k,
                    "card": state["card"],
                    "buffer_paths": paths,
                }
                self.send(dict(message), buffers)

    def _should_send_property(self, key: str, value: Any) -> bool:
        if key == "items" and self._quiet_items:
            return False
        return bool(super()._should_send_property(key, value))

    # ----------------------------------------------------------------------------------------
    # What the render queue reports (on its worker thread)
    # ----------------------------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        kind, job = event.kind, event.job
        if kind == "idle" or job is None:
            return
        layer = job.layer
        if kind == "started":
            todo = [i for i in event.indices if (layer, i) not in self._rendered]
            with self._lock, self.hold_sync():
                if self._closed:
                    return
                self.error = ""
                self.busy = True
                self.progress = 0.0
                self.status = f"rendering {len(todo)} direction(s) of {layer} …"
            self._update_cards(layer, {i: {"state": "rendering"} for i in todo})
        elif kind == "progress":
            with self._lock, self.hold_sync():
                if self._closed:
                    return
                self.progress = event.step / max(event.total, 1)
                self.status = (
                    f"rendering {len(job.indices)} direction(s) of {layer}: "
                    f"step {event.step} of {event.total}"
                )
        elif kind == "image":
            card = {
                "image": png_bytes(event.image),
                "before": event.before,
                "after": event.after,
                "state": event.state,
                "message": event.message,
            }
            if event.state == "done":
                self._rendered[(layer, event.index)] = card
            self._update_cards(layer, {event.index: card})
        elif kind == "examples":
            ids = [int(x) for x in event.ids]
            examples = {
                "examples": [png_bytes(img) for img in event.images],
                "example_ids": ids,
                "example_labels": [self._label(x) for x in ids],
                "example_scores": [float(v) for v in event.scores],
            }
            self._examples[(layer, event.index)] = examples
            self._update_cards(layer, {event.index: examples})
        elif kind == "failed":
            self.last_error = event.error
            self._failed(job, event.error)
            self._finish(job)
        elif kind in ("done", "cancelled"):
            if kind == "done":
                self._say(f"{layer}: {len(job.indices)} direction(s) in {event.seconds:.2g} s")
            else:
                self._say(f"cancelled after {event.step} steps")
            self._finish(job)

    def _finish(self, job: Any) -> None:
        with self._lock:
            if job in self._mine:
                self._mine.remove(job)
            if self._mine:
                return
            if not self._closed:
                with self.hold_sync():
                    self.busy = False
                    self.progress = 0.0 if self.error else 1.0
        self._idle.set()

    def _say(self, status: str) -> None:
        with self._lock:
            if not self._closed:
                self.status = status

    def _label(self, index: int) -> str:
        if self._labels is None:
            return f"#{index}"
        y = int(self._labels[index])
        names = self._class_names
        return names[y] if names is not None and 0 <= y < len(names) else str(y)

    def _failed(self, job: Any, err: BaseException | None) -> None:
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
            if self._closed:
                return
            self.error = f"rendering {job.layer} failed: {message}"
            self.status = "failed"

    # ----------------------------------------------------------------------------------------
    # Links
    # ----------------------------------------------------------------------------------------

    def _on_selection(self, change: traitlets.Bunch) -> None:
        if self._closed:
            return
        sel = self.selection
        if sel.layer == self.layer and sel.indices:
            n = len(self._prof[self.layer].values)
            self.add([i for i in sel.indices if i < n][:MAX_CARDS])

    def _on_frontend_msg(self, _widget: Any, content: Mapping[str, Any], _buffers: Any) -> None:
        if content.get("event") == "cancel":
            self.cancel()


def _signed(k: int, n: int) -> int:
    return k - n if k > n // 2 else k
