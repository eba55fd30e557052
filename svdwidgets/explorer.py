"""Explorer: the linked dashboard over a model's SVD — the composition root of svdwidgets.

``Explorer(model, data, labels, class_names)`` returns at once with the dashboard's frame and
a progress bar; off the kernel's main thread (the :class:`~svdwidgets.Analysis`'s job runner)
it profiles every layer of the model (:func:`svdwidgets.profile`: the singular values of each
Conv2d / Linear layer as PyTorch runs it; the status line counts the layers), then fills in,
for the layer picked at the top (by default the layer most worth reading,
:func:`svdwidgets.analysis.first_layer`, and the status line says why):

* :class:`~svdwidgets.widgets.SpectrumView` — the sorted singular values and their ESD with the
  random-matrix fits; click a point or brush a range of ranks;
* :class:`~svdwidgets.widgets.FrequencyMap` — for an ``fft`` spectrum, σ by frequency
  (Sedghi et al. 2019); click a frequency;
* :class:`~svdwidgets.widgets.VectorGallery` — the top singular directions rendered by feature
  visualization (Olah et al. 2017, through Lucent), beside the dataset inputs that excite them;
  click a card;
* :class:`~svdwidgets.widgets.HypergraphView` — with labelled data, the class hypergraph
  (Praggastis et al. 2022): which singular directions carry each class; click a direction.

All views share one :class:`~svdwidgets.widgets.Selection` (``explorer.selection``): selecting
a singular direction in any of them selects it in all — in the browser, so an exported page
(:meth:`Explorer.export_html`) keeps its links; the kernel renders what is missing (a direction
the gallery has not drawn yet). The hypergraph's nodes are *operator* singular directions
(``directions="operator"`` of :func:`svdwidgets.class_hypergraph`), the same index space as the
spectrum, so a node and a point of the spectrum are the same direction. Selecting a direction of
another layer (a hypergraph node) switches every view to that layer.

Everything the views show is computed by an :class:`svdwidgets.Analysis` (``explorer.analysis``:
the profile, the layer table ``explorer.table``, the hypergraph), the same object
``svdwidgets report`` and ``python -m svdwidgets`` build from, with the same BatchNorm-folding
default (not folded, :data:`svdwidgets.model.folding.FOLD_BN_DEFAULT`); the summary line says
which. Pass ``analysis=`` to share one between dashboards and files.

Without data the Explorer shows the spectra and the renders only. ``explorer.wait()`` blocks
until everything is in (tests and the command line use it); ``close()`` cancels what still runs.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as ipw
import traitlets
from torch import nn

from svdwidgets.analysis import Analysis
from svdwidgets.analysis.analysis import check_input_shape
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.model.folding import FOLD_BN_DEFAULT
from svdwidgets.widgets._closing import descendants as _descendants
from svdwidgets.widgets._inputs import check_images, check_labels
from svdwidgets.widgets.selection import Selection

__all__ = ["Explorer"]


class Explorer(ipw.VBox):
    """The linked dashboard: spectrum, frequency map, vector gallery and class hypergraph.

    ``Explorer(...)`` returns at once with the frame of the dashboard (title, layer picker, a
    progress bar and status line); the work runs on the :class:`~svdwidgets.Analysis`'s job
    runner, off the kernel's main thread, and the views fill in as it proceeds: the profile
    (the status counts its layers), then the spectrum, frequency map and gallery of the first
    layer, then the projections and the class hypergraph; the gallery renders its cards on its
    own thread. :meth:`wait` blocks until all of it is done; the attributes ``profile``,
    ``spectrum``, ``frequency_map``, ``gallery``, ``hypergraph`` and ``hypergraph_view`` wait
    for what they need; :meth:`close` cancels what is still running.

    Parameters
    ----------
    model:
        a ``torch.nn.Module`` taking images ``(N, C, H, W)`` (in the range of ``data``).
    data:
        inputs ``(N, C, H, W)``, for the dataset examples and the class hypergraph (optional).
    labels, class_names:
        an integer label per input, and the names of the classes ``0..C-1`` (optional; the
        hypergraph needs labels).
    input_shape:
        ``(C, H, W)`` of one input (default: ``data``'s).
    layer:
        the layer shown first (default: the layer most worth reading,
        :func:`svdwidgets.analysis.first_layer`: the conv layer whose circular approximation is
        furthest off its exact σ_max; the status line says why).
    k:
        directions per layer in the gallery (conjugate twins counted once).
    hypergraph_k:
        each layer's top directions that are candidate hypergraph nodes.
    threshold:
        the hypergraph's influence threshold (see :func:`svdwidgets.class_hypergraph`).
    n_examples:
        dataset examples per gallery card.
    fold_bn, method:
        passed to :func:`svdwidgets.profile` (``fold_bn=True`` folds each BatchNorm that follows
        a conv into it: the operator the network applies between nonlinearities; default
        :data:`~svdwidgets.model.folding.FOLD_BN_DEFAULT`, not folded, as everywhere).
    profile:
        a :class:`~svdwidgets.Profile` of ``model`` computed before (then ``fold_bn``, ``method``
        are its own).
    analysis:
        an :class:`svdwidgets.Analysis` of ``model`` to build from (its data, labels, options
        and whatever it computed already); it stays open when the Explorer closes. Default:
        one of the Explorer's own, made from the arguments above.
    render_options:
        keywords for :func:`svdwidgets.featurevis.render_singular_vectors` (``steps``, ...).
    cache:
        an :class:`~svdwidgets.featurevis.ImageCache` shared between dashboards.
    autostart:
        start rendering the gallery as soon as it is shown (in the background).
    """

    layer = traitlets.Unicode(help="The layer every view shows.")

    def __init__(
        self,
        model: nn.Module,
        data: Any = None,
        labels: Any = None,
        class_names: Sequence[str] | None = None,
        input_shape: Sequence[int] | None = None,
        *,
        layer: str | None = None,
        k: int = 8,
        hypergraph_k: int = 16,
        threshold: float = 0.5,
        n_examples: int = 6,
        fold_bn: bool = FOLD_BN_DEFAULT,
        method: str = "auto",
        profile: Any = None,
        analysis: Analysis | None = None,
        render_options: Mapping[str, Any] | None = None,
        cache: Any = None,
        autostart: bool = True,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        started = time.perf_counter()
        self.timings: dict[str, float] = {}
        if analysis is not None:  # its model, data and options are the Explorer's
            data, labels, class_names, input_shape = _from_analysis(
                analysis, model, data, labels, class_names, profile, input_shape
            )
        shape = _check_inputs(model, data, labels, class_names, input_shape)
        from svdwidgets.featurevis.render import check_render_options

        check_render_options(render_options)
        for name, value in (("k", k), ("hypergraph_k", hypergraph_k)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SVDWidgetsError(f"{name} must be a positive int, got {value!r}")
        _check_layer(model, layer)
        from svdwidgets.hypergraph.influence import check_threshold

        threshold = check_threshold(threshold)
        self._own_analysis = analysis is None
        if analysis is None:
            analysis = Analysis(
                model, data, labels, class_names, shape, method=method, fold_bn=fold_bn,
                profile=profile,
            )  # fmt: skip
        self.analysis = analysis
        self.model = model
        self.data = self.analysis.data
        self.labels = self.analysis.labels if labels is None else labels
        self.class_names = self.analysis.class_names
        self._options: dict[str, Any] = {
            "k": k,
            "hypergraph_k": hypergraph_k,
            "threshold": threshold,
            "n_examples": n_examples,
            "render_options": render_options,
            "cache": cache,
            "autostart": autostart,
        }
        self._started = started
        self._asked_layer = layer
        self.why = ""
        """Why the first layer was chosen (the status line says it too)."""
        self.progress_log: list[tuple[str, int, int, str]] = []
        """Every progress report of the opening, in order: ``(stage, done, total, detail)``
        (``detail``: the layer the profile is at)."""
        self._profile: Any = None
        self._spectrum: Any = None
        self._frequency_map: Any = None
        self._gallery: Any = None
        self._hypergraph: Any = None
        self._hypergraph_view: Any = None
        self._error: BaseException | None = None
        self._closed = False
        self._build_lock = threading.RLock()
        self._views_ready = threading.Event()
        self._graph_ready = threading.Event()
        self._switching = False

        self.selection = Selection(layer=layer or "")
        self._picker = ipw.Dropdown(
            options=[] if layer is None else [layer],
            value=layer,
            description="layer",
            disabled=True,
            layout=ipw.Layout(width="260px"),
        )
        self._picker.add_class("svdw-ex-picker")
        self._summary = ipw.HTML(html.escape(self.analysis.caption))
        self._summary.add_class("svdw-ex-summary")
        heading = title if title is not None else f"svdwidgets Explorer · {type(model).__name__}"
        header = ipw.HBox(
            [ipw.HTML(f"<b>{html.escape(heading)}</b>"), self._picker, self._summary],
            layout=ipw.Layout(align_items="center", flex_flow="row wrap"),
        )
        header.add_class("svdw-ex-header")
        self._bar = ipw.FloatProgress(value=0.0, min=0.0, max=1.0, layout=ipw.Layout(width="220px"))
        self._status = ipw.HTML("<i>starting…</i>")
        self._status.add_class("svdw-ex-status")
        status = ipw.HBox([self._bar, self._status], layout=ipw.Layout(align_items="center"))
        status.add_class("svdw-ex-progress")
        self._placeholder = ipw.HTML("<i>the spectra appear once the layers are profiled…</i>")
        self._spectrum_slot = ipw.VBox([self._placeholder])  # closed with the Explorer
        self._middle = ipw.HBox(
            [], layout=ipw.Layout(flex_flow="row wrap", align_items="flex-start")
        )
        self._middle.add_class("svdw-ex-middle")
        self._graph_slot = ipw.VBox([])
        super().__init__(
            children=[header, status, self._spectrum_slot, self._middle, self._graph_slot],
            **kwargs,
        )
        self.add_class("svdw-explorer")
        self._jobs: list[Any] = []
        try:
            self._jobs.append(
                self.analysis.start(
                    "profile", on_progress=self._on_progress, on_done=self._on_profiled
                )
            )
            if self.analysis.has_hypergraph():
                self._jobs.append(
                    self.analysis.start(
                        "hypergraph",
                        top_k=hypergraph_k,
                        threshold=threshold,
                        on_progress=self._on_progress,
                        on_done=self._on_hypergraph,
                    )
                )
            else:
                self._graph_ready.set()
        except BaseException:  # a closed analysis starts no job: leave no widget behind
            self.close()
            raise
        self._mark("open", started)

    # ----------------------------------------------------------------------------------------
    # Public API
    # ----------------------------------------------------------------------------------------

    @property
    def profile(self) -> Any:
        """The :class:`~svdwidgets.Profile` (waits for it)."""
        self._await(self._views_ready)
        return self._profile

    @property
    def spectrum(self) -> Any:
        """The :class:`~svdwidgets.widgets.SpectrumView` (waits for the profile)."""
        self._await(self._views_ready)
        return self._spectrum

    @property
    def frequency_map(self) -> Any:
        """The :class:`~svdwidgets.widgets.FrequencyMap` (waits for the profile)."""
        self._await(self._views_ready)
        return self._frequency_map

    @property
    def gallery(self) -> Any:
        """The :class:`~svdwidgets.widgets.VectorGallery` (waits for the profile)."""
        self._await(self._views_ready)
        return self._gallery

    @property
    def hypergraph(self) -> Any:
        """The :class:`~svdwidgets.ClassHypergraph` (waits for it; None without labels)."""
        self._await(self._graph_ready)
        return self._hypergraph

    @property
    def hypergraph_view(self) -> Any:
        """The :class:`~svdwidgets.widgets.HypergraphView` (waits; None without labels)."""
        self._await(self._graph_ready)
        return self._hypergraph_view

    @property
    def filled(self) -> bool:
        """Whether the views and the hypergraph are in (the gallery may still render)."""
        return self._views_ready.is_set() and self._graph_ready.is_set()

    @property
    def layers(self) -> list[str]:
        """The analysed layers, in forward order."""
        return list(self.profile.layers)

    @property
    def table(self) -> Any:
        """The layer table (a DataFrame): the one ``svdwidgets report`` writes and
        ``python -m svdwidgets`` prints, from :meth:`svdwidgets.Analysis.table`."""
        return self.analysis.table()

    def select(self, layer: str, indices: int | Sequence[int]) -> None:
        """Select singular directions ``indices`` of ``layer`` in every view."""
        prof = self.profile
        if layer not in prof.layers:
            raise SVDWidgetsError(f"unknown layer {layer!r}; the analysed layers are {prof.layers}")
        chosen = [indices] if isinstance(indices, int) else list(indices)
        n = len(prof[layer].values)
        bad = [i for i in chosen if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n]
        if bad:
            raise SVDWidgetsError(
                f"singular indices {bad} are out of range: layer {layer!r} has {n} values"
            )
        self.selection.select(layer, chosen)

    def show_layer(self, layer: str) -> None:
        """Show ``layer`` in every view (what the layer picker does)."""
        prof = self.profile
        if layer not in prof.layers:
            raise SVDWidgetsError(f"unknown layer {layer!r}; the analysed layers are {prof.layers}")
        self._picker.value = layer

    def export_html(self, path: str | Path, *, title: str | None = None) -> Path:
        """Write the dashboard as a standalone page (no kernel, no network needed).

        Waits until the dashboard is filled. Every control the page shows works in the
        browser: the layer dropdown (every layer's spectrum, ESD and fits, frequency map and
        rendered cards travel with the page), clicks and brushes (the status lines follow),
        "compare methods" (the curves are computed now, within
        :data:`svdwidgets.explorer_page.COMPARE_BUDGET_S`), and a hypergraph node of another
        layer. Controls that need a kernel are hidden; a direction not rendered yet says so.
        Rendered cards travel at twice their displayed size, as WebP where that is smaller
        (:func:`svdwidgets.explorer_page.page_card`); the live gallery keeps its PNGs.
        Prints the page's size; returns its path.
        """
        from svdwidgets.explorer_page import page_card, page_controller
        from svdwidgets.widgets.export import export_html

        self._await(self._views_ready)
        self._await(self._graph_ready)
        controller = page_controller(self)
        gallery = self._gallery
        try:
            # the page's own copy of the shown cards is its compact one, as for every layer
            with gallery._lock, gallery.hold_sync():  # no card update from a render meanwhile
                shown = list(gallery.items)
                gallery.items = [
                    page_card(c, gallery.image_px) if c.get("image") is not None else c
                    for c in shown
                ]
                try:
                    out = export_html(
                        path,
                        [self, controller],
                        title=title or f"svdwidgets: {type(self.model).__name__}",
                    )
                finally:
                    gallery.items = shown
        finally:
            # only the page has one: the live dashboard needs none (its views stay open)
            controller.layout.close()
            controller.close()
        print(f"Explorer page: {out} ({out.stat().st_size / 1e6:.1f} MB)")
        return out

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the dashboard is filled (profile, views, hypergraph) and the gallery has
        rendered what it was asked; False on timeout. Raises what made the opening fail."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for event in (self._views_ready, self._graph_ready):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not event.wait(left):
                return False
        if self._error is not None:
            raise self._error
        if self._gallery is None:  # closed before the views were made
            return True
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return bool(self._gallery.wait(left))

    def close(self) -> None:
        """Cancel the opening's jobs, stop the gallery's renders and its thread, and close every
        widget the Explorer made.

        Afterwards nothing of the Explorer stays registered with the kernel
        (``ipywidgets.Widget.widgets``), no thread of its own runs, and a selection starts no
        render.
        """
        self._closed = True
        for job in getattr(self, "_jobs", []):
            job.cancel()
        # absent when the constructor failed, already removed on a second close
        try:
            self._picker.unobserve(self._on_picker, "value")
            self.selection.unobserve(self._on_selection, names=["layer", "indices"])
        except (AttributeError, ValueError):
            pass
        analysis = getattr(self, "analysis", None)
        if analysis is not None and getattr(self, "_own_analysis", False):
            analysis.close()  # cancels its jobs and joins its thread; one handed in stays open
        lock = getattr(self, "_build_lock", None)
        with lock if lock is not None else contextlib.nullcontext():
            queue = getattr(self, "render_queue", None)
            if queue is not None:
                queue.close()  # first: cancels and joins the worker before the views it updates
            gallery = getattr(self, "_gallery", None)
            if gallery is not None:
                gallery.close()
            for event in (getattr(self, "_views_ready", None), getattr(self, "_graph_ready", None)):
                if event is not None:
                    event.set()  # nothing will fill them now: waits return
            if _descendants is not None:  # None only while the interpreter tears modules down
                for widget in _descendants(self):
                    widget.close()
                    # views built on the analysis's worker can outlive their Explorer for a
                    # while: closed, they keep no observer either
                    widget.unobserve_all()
            super().close()
            self.unobserve_all()

    # ----------------------------------------------------------------------------------------
    # Filling in (these run on the analysis's worker thread)
    # ----------------------------------------------------------------------------------------

    def _on_progress(self, job: Any) -> None:
        stage, done, total, detail = job.what, job.done, job.total, job.detail
        self.progress_log.append((stage, done, total, detail))
        if self._closed:
            return
        if stage == "profile" and total > 1:
            now = f" · now {detail}" if detail else ""
            text = (
                f"profiling the layers (spectra, then exact σ_max): {done} of {total} steps{now} …"
            )
            self._bar.value = 0.6 * done / total
        elif stage == "profile":
            text = "profiling the layers …" if done == 0 else "profile done"
        elif stage == "projections":
            text = "projecting the data on every layer's top directions …"
            self._bar.value = max(self._bar.value, 0.7 if done == 0 else 0.85)
        elif stage == "hypergraph":
            text = "building the class hypergraph …" if done == 0 else "class hypergraph done"
            self._bar.value = max(self._bar.value, 0.85 if done == 0 else 1.0)
        else:
            text = f"{stage}: {done} of {total}"
        self._say(text)

    def _on_profiled(self, job: Any) -> None:
        try:
            if job.state != "done":
                self._fail(job)
                return
            t = time.perf_counter()
            with self._build_lock:
                if self._closed:
                    return
                self._build_views(job.result())
            self._mark("views", t)
            self.timings["profile"] = job.seconds
            self.timings["first view"] = time.perf_counter() - self._started
            self._views_ready.set()
            if self._graph_ready.is_set():
                self._finish()
            else:
                self._say("spectra in; projecting the data for the class hypergraph …")
            if self._options["autostart"] and not self._closed:
                self._gallery.render()
        except BaseException as err:  # shown, and raised by wait(): never kills the worker
            self._error = err
            self._fail(job)

    def _on_hypergraph(self, job: Any) -> None:
        try:
            if job.state != "done" or self._error is not None:
                if self._error is None and job.state == "failed":
                    self._error = job.error
                    self._say(f"the class hypergraph failed: {job.error}", error=True)
                return
            self.timings["hypergraph"] = job.seconds
            with self._build_lock:
                if self._closed:
                    return
                self._build_hypergraph(job.result())
            self._finish()
        except BaseException as err:
            self._error = err
            self._say(f"the class hypergraph failed: {err}", error=True)
        finally:
            self._graph_ready.set()

    def _fail(self, job: Any) -> None:
        if self._error is None and job.error is not None:
            self._error = job.error
        for other in self._jobs:
            other.cancel()
        if job.state == "cancelled" and self._error is None:
            self._say("cancelled")
        else:
            self._say(f"could not open: {self._error}", error=True)
        self._views_ready.set()
        self._graph_ready.set()

    def _finish(self) -> None:
        self.timings["filled"] = time.perf_counter() - self._started
        self._bar.value = 1.0
        self._bar.layout.display = "none"
        self._say(f"filled in {self.timings['filled']:.1f} s · opened on {self.why}")

    def _say(self, text: str, *, error: bool = False) -> None:
        if self._closed:
            return
        body = html.escape(text)
        self._status.value = f"<span style='color:#c62828'>{body}</span>" if error else body

    def _build_views(self, prof: Any) -> None:
        from svdwidgets.analysis.first_layer import first_layer
        from svdwidgets.widgets.frequency_map import FrequencyMap
        from svdwidgets.widgets.spectrum_view import SpectrumView
        from svdwidgets.widgets.vector_gallery import VectorGallery

        names = prof.layers
        if not names:
            raise SVDWidgetsError(
                f"no layer of the model could be analysed; skipped: {prof.skipped}"
            )
        asked = self._asked_layer
        if asked is None:
            first, self.why = first_layer(prof)
        elif asked not in names:
            raise SVDWidgetsError(
                f"layer {asked!r} was not analysed ({prof.skipped.get(asked, 'not a layer')}); "
                f"the analysed layers are {names}"
            )
        else:
            first, self.why = asked, f"{asked}: the layer asked for"
        self._profile = prof
        opts = self._options
        self.selection.select(first, [])
        self._spectrum = SpectrumView(
            prof,
            first,
            selection=self.selection,
            show_picker=False,
            compare=self.analysis.comparison,  # cached per (layer, method, k) by the Analysis
        )
        self._frequency_map = FrequencyMap(selection=self.selection)
        self._fmap_note = ipw.HTML()
        self._fmap_note.add_class("svdw-ex-note")
        from svdwidgets.featurevis.jobs import RenderQueue
        from svdwidgets.featurevis.render import check_render_options

        # the Explorer owns the render jobs; the gallery only draws what they report
        self.render_queue = RenderQueue(
            prof,
            data=self.data,
            cache=opts["cache"],
            options=check_render_options(opts["render_options"]),
        )
        self._gallery = VectorGallery(
            prof,
            first,
            k=opts["k"],
            data=self.data,
            labels=self.labels,
            class_names=self.class_names,
            n_examples=opts["n_examples"],
            selection=self.selection,
            render_options=opts["render_options"],
            autostart=False,
            jobs=self.render_queue,
            layout=ipw.Layout(flex="3 1 420px", min_width="0"),
        )
        self._fmap_box = ipw.VBox(
            [self._frequency_map, self._fmap_note], layout=ipw.Layout(flex="1 1 320px")
        )
        with self.hold_sync():
            self.layer = first
            self._show_frequency_map(first, prof[first])
            self._picker.options = names
            self._picker.value = first
            self._picker.disabled = False
            self._spectrum_slot.children = [self._spectrum]
            self._middle.children = [self._gallery, self._fmap_box]
        self._picker.observe(self._on_picker, "value")
        self.selection.observe(self._on_selection, names=["layer", "indices"])
        self._describe()

    def _build_hypergraph(self, graph: Any) -> None:
        from svdwidgets.widgets.hypergraph_view import HypergraphView

        opts = self._options
        self._hypergraph = graph
        self._hypergraph_view = HypergraphView.from_hypergraph(
            graph,
            title=(
                f"Class hypergraph (threshold {opts['threshold']:g}, "
                f"top {opts['hypergraph_k']} per layer)"
            ),
            selection=self.selection,
        )
        self._graph_slot.children = [self._hypergraph_view]

    # ----------------------------------------------------------------------------------------
    # Links
    # ----------------------------------------------------------------------------------------

    def _on_picker(self, change: traitlets.Bunch) -> None:
        self._switch(str(change["new"]))

    def _on_selection(self, change: traitlets.Bunch) -> None:
        sel = self.selection
        prof = self._profile
        if prof is None:
            return
        if sel.layer and sel.layer != self.layer and sel.layer in prof.layers:
            indices = list(sel.indices)
            self._picker.value = sel.layer  # switches every view
            if sel.indices != indices:  # the switch may have changed it
                sel.select(sel.layer, indices)
        self._describe()

    def _switch(self, layer: str) -> None:
        if layer == self.layer or self._switching or self._profile is None:
            return
        self._switching = True
        try:
            t = time.perf_counter()
            self.layer = layer
            spec = self._profile[layer]
            self._spectrum.layer = layer
            self._gallery.show(layer)
            self._show_frequency_map(layer, spec)
            sel = self.selection
            if sel.layer != layer:  # keep the indices the new layer has too
                n = len(spec.values)
                sel.select(layer, [i for i in sel.indices if 0 <= i < n])
            self._mark("switch", t)
        finally:
            self._switching = False
        self._describe()

    def _show_frequency_map(self, layer: str, spec: Any) -> None:
        from svdwidgets.core.spectrum import FFTSpectrum

        entry = self._profile.entry(layer)
        if isinstance(spec, FFTSpectrum) and entry.record.kind != "linear":
            self._frequency_map.show_spectrum(spec, layer_name=layer)
            self._frequency_map.layout.display = None
            self._fmap_box.layout.flex = "1 1 320px"
            exact = "exact" if spec.exact else "circular approximation of a zero-padded layer"
            self._fmap_note.value = f"<i>fft method ({html.escape(exact)})</i>"
        else:
            self._frequency_map.layout.display = "none"
            self._fmap_box.layout.flex = "0 1 240px"  # the gallery takes the row
            why = "a Linear layer" if entry.record.kind == "linear" else f"method {spec.method!r}"
            self._fmap_note.value = (
                f"<i>No frequency map for {html.escape(layer)}: its spectrum comes from "
                f"{html.escape(why)}; the map shows the per-frequency blocks of the fft method.</i>"
            )

    def _describe(self) -> None:
        prof = self._profile
        spec = prof[self.layer]
        sel = self.selection
        picked = [i for i in sel.indices if i < len(spec.values)] if sel.layer == self.layer else []
        parts = [
            f"{len(spec.values):,} singular values · method {spec.method}"
            + ("" if spec.method == "exact" else " (exact)" if spec.exact else " (approximation)"),
            f"σ_max = {_sigma_max(prof.entry(self.layer)):.4g}",
        ]
        parts.append(self.analysis.caption)
        if len(picked) == 1:
            parts.append(f"selected i = {picked[0]}, σ = {float(spec.values[picked[0]]):.4g}")
        elif picked:
            parts.append(f"selected {len(picked)} directions")
        self._summary.value = html.escape(" · ".join(parts))

    # ----------------------------------------------------------------------------------------
    # Building
    # ----------------------------------------------------------------------------------------

    def _await(self, event: threading.Event) -> None:
        event.wait()
        if self._error is not None:
            raise self._error

    def _mark(self, name: str, since: float) -> None:
        self.timings[name] = time.perf_counter() - since


def _sigma_max(entry: Any) -> float:
    """The layer's σ_max as the layer table gives it: the operator's own (exact) when the
    profile computed it, else the top of its spectrum."""
    interval = entry.sigma_max
    return float(interval.value) if interval is not None else float(entry.spectrum.values[0])


def _from_analysis(
    analysis: object,
    model: object,
    data: Any,
    labels: Any,
    class_names: Sequence[str] | None,
    profile: Any,
    input_shape: Sequence[int] | None,
) -> tuple[Any, Any, Any, tuple[int, ...]]:
    """The data, labels, class names and input shape of ``analysis=``, checked against the
    Explorer's other arguments (given once: in the Analysis)."""
    if not isinstance(analysis, Analysis) or analysis.model is not model:
        raise SVDWidgetsError(
            "analysis= must be the svdwidgets.Analysis of this model (Analysis(model, ...))"
        )
    given = {"data": data, "labels": labels, "class_names": class_names, "profile": profile}
    twice = [name for name, value in given.items() if value is not None]
    if twice:
        raise SVDWidgetsError(
            f"pass {', '.join(twice)} to the Analysis, not to the Explorer beside analysis="
        )
    if input_shape is not None and tuple(input_shape) != analysis.input_shape:
        raise SVDWidgetsError(
            f"input_shape {tuple(input_shape)} differs from the analysis's {analysis.input_shape}"
        )
    return analysis.data, analysis.labels, analysis.class_names, analysis.input_shape


def _check_inputs(
    model: object,
    data: Any,
    labels: Any,
    class_names: Sequence[str] | None,
    input_shape: Sequence[int] | None,
) -> tuple[int, ...]:
    """Validate what the Explorer was given, before any widget is drawn; the input shape."""
    if not isinstance(model, nn.Module):
        raise SVDWidgetsError(f"the model must be a torch.nn.Module, got {type(model).__name__}")
    check_images(data)
    check_labels(labels, data, class_names)
    shape = check_input_shape(data, input_shape)
    if len(shape) != 3:  # the dashboard draws images
        raise SVDWidgetsError(f"input_shape must be three positive ints (C, H, W), got {shape!r}")
    first = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    if first is not None and shape[0] != first[1].in_channels:
        raise SVDWidgetsError(
            f"inputs of shape {shape} have {shape[0]} channels but the first layer "
            f"{first[0]!r} expects in_channels={first[1].in_channels}"
        )
    return shape


def _check_layer(model: nn.Module, layer: str | None) -> None:
    """A layer asked for by name must be a Conv2d / Linear-like module of the model (whether
    the profile can analyse it is known once it ran: then the status line says)."""
    if layer is None:
        return
    if not isinstance(layer, str):
        raise SVDWidgetsError(f"layer must be a layer's dotted name, got {layer!r}")
    names = [n for n, m in model.named_modules() if n and not list(m.children())]
    if layer not in names:
        raise SVDWidgetsError(f"unknown layer {layer!r}; the model's leaf modules are {names}")
