"""Explorer: the linked dashboard over a model's SVD — the composition root of svdwidgets.

``Explorer(model, data, labels, class_names)`` profiles every layer of the model
(:func:`svdwidgets.profile`: the singular values of each Conv2d / Linear layer as PyTorch runs
it), and shows, for the layer picked at the top:

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

Without data the Explorer shows the spectra and the renders only.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as ipw
import traitlets
from torch import nn

from svdwidgets.analysis import Analysis
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.model.folding import FOLD_BN_DEFAULT
from svdwidgets.widgets._closing import descendants as _descendants
from svdwidgets.widgets._inputs import check_images, check_labels
from svdwidgets.widgets.selection import Selection

__all__ = ["Explorer"]


class Explorer(ipw.VBox):
    """The linked dashboard: spectrum, frequency map, vector gallery and class hypergraph.

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
        the layer shown first (default: the first analysed layer).
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
        start rendering the gallery at once (in the background).
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
        self.profile = self.analysis.profile()
        self._mark("profile", started)
        names = self.profile.layers
        if not names:
            raise SVDWidgetsError(
                f"no layer of the model could be analysed; skipped: {self.profile.skipped}"
            )
        first = names[0] if layer is None else layer
        if first not in names:
            raise SVDWidgetsError(f"unknown layer {first!r}; the analysed layers are {names}")

        self.hypergraph = None
        if self.analysis.has_hypergraph():
            t = time.perf_counter()
            self.hypergraph = self.analysis.hypergraph(top_k=hypergraph_k, threshold=threshold)
            self._mark("hypergraph", t)

        t = time.perf_counter()
        from svdwidgets.widgets.frequency_map import FrequencyMap
        from svdwidgets.widgets.hypergraph_view import HypergraphView
        from svdwidgets.widgets.spectrum_view import SpectrumView
        from svdwidgets.widgets.vector_gallery import VectorGallery

        self.selection = Selection(layer=first)
        self.spectrum = SpectrumView(
            self.profile,
            first,
            selection=self.selection,
            show_picker=False,
            compare=self.analysis.comparison,  # cached per (layer, method, k) by the Analysis
        )
        spec = self.profile[first]
        self.frequency_map = FrequencyMap(selection=self.selection)
        self._fmap_note = ipw.HTML()
        self._fmap_note.add_class("svdw-ex-note")
        from svdwidgets.featurevis.jobs import RenderQueue

        # the Explorer owns the render jobs; the gallery only draws what they report
        self.jobs = RenderQueue(
            self.profile,
            data=self.data,
            cache=cache,
            options=check_render_options(render_options),
        )
        self.gallery = VectorGallery(
            self.profile,
            first,
            k=k,
            data=self.data,
            labels=self.labels,
            class_names=self.class_names,
            n_examples=n_examples,
            selection=self.selection,
            render_options=render_options,
            autostart=False,
            jobs=self.jobs,
            layout=ipw.Layout(flex="3 1 420px", min_width="0"),
        )
        self.hypergraph_view = (
            None
            if self.hypergraph is None
            else HypergraphView.from_hypergraph(
                self.hypergraph,
                title=f"Class hypergraph (threshold {threshold:g}, top {hypergraph_k} per layer)",
                selection=self.selection,
            )
        )
        self._picker = ipw.Dropdown(
            options=names, value=first, description="layer", layout=ipw.Layout(width="260px")
        )
        self._picker.add_class("svdw-ex-picker")
        self._summary = ipw.HTML()
        self._summary.add_class("svdw-ex-summary")
        heading = title if title is not None else f"svdwidgets Explorer · {type(model).__name__}"
        header = ipw.HBox(
            [ipw.HTML(f"<b>{html.escape(heading)}</b>"), self._picker, self._summary],
            layout=ipw.Layout(align_items="center", flex_flow="row wrap"),
        )
        header.add_class("svdw-ex-header")
        self._fmap_box = ipw.VBox(
            [self.frequency_map, self._fmap_note], layout=ipw.Layout(flex="1 1 320px")
        )
        middle = ipw.HBox(
            [self.gallery, self._fmap_box],
            layout=ipw.Layout(flex_flow="row wrap", align_items="flex-start"),
        )
        middle.add_class("svdw-ex-middle")
        children: list[ipw.Widget] = [header, self.spectrum, middle]
        if self.hypergraph_view is not None:
            children.append(self.hypergraph_view)
        super().__init__(children=children, **kwargs)
        self.add_class("svdw-explorer")
        self._switching = False
        self.layer = first
        self._show_frequency_map(first, spec)
        self._picker.observe(self._on_picker, "value")
        self.selection.observe(self._on_selection, names=["layer", "indices"])
        self._describe()
        self._mark("widgets", t)
        if autostart:
            self.gallery.render()
        self._mark("open", started)

    # ----------------------------------------------------------------------------------------
    # Public API
    # ----------------------------------------------------------------------------------------

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
        if layer not in self.profile.layers:
            raise SVDWidgetsError(
                f"unknown layer {layer!r}; the analysed layers are {self.profile.layers}"
            )
        chosen = [indices] if isinstance(indices, int) else list(indices)
        n = len(self.profile[layer].values)
        bad = [i for i in chosen if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n]
        if bad:
            raise SVDWidgetsError(
                f"singular indices {bad} are out of range: layer {layer!r} has {n} values"
            )
        self.selection.select(layer, chosen)

    def show_layer(self, layer: str) -> None:
        """Show ``layer`` in every view (what the layer picker does)."""
        if layer not in self.profile.layers:
            raise SVDWidgetsError(
                f"unknown layer {layer!r}; the analysed layers are {self.profile.layers}"
            )
        self._picker.value = layer

    def export_html(self, path: str | Path, *, title: str | None = None) -> Path:
        """Write the dashboard as a standalone page (no kernel, no network needed).

        Every control the page shows works in the browser: the layer dropdown (every layer's
        spectrum, ESD and fits, frequency map and rendered cards travel with the page), clicks
        and brushes (the status lines follow), "compare methods" (the curves are computed now,
        within :data:`svdwidgets.explorer_page.COMPARE_BUDGET_S`), and a hypergraph node of
        another layer. Controls that need a kernel are hidden; a direction not rendered yet
        says so. Prints the page's size; returns its path.
        """
        from svdwidgets.explorer_page import page_controller
        from svdwidgets.widgets.export import export_html

        controller = page_controller(self)
        try:
            out = export_html(
                path, [self, controller], title=title or f"svdwidgets: {type(self.model).__name__}"
            )
        finally:
            # only the page has one: the live dashboard needs none (its views stay open)
            controller.layout.close()
            controller.close()
        print(f"Explorer page: {out} ({out.stat().st_size / 1e6:.1f} MB)")
        return out

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the gallery has rendered what it was asked (False on timeout)."""
        return self.gallery.wait(timeout)

    def close(self) -> None:
        """Stop the render jobs and their thread, and close every widget the Explorer made.

        Afterwards nothing of the Explorer stays registered with the kernel
        (``ipywidgets.Widget.widgets``), and a selection starts no render.
        """
        # absent when the constructor failed, already removed on a second close
        try:
            self._picker.unobserve(self._on_picker, "value")
            self.selection.unobserve(self._on_selection, names=["layer", "indices"])
        except (AttributeError, ValueError):
            pass
        jobs = getattr(self, "jobs", None)
        if jobs is not None:
            jobs.close()  # first: cancels and joins the worker before the views it updates close
        gallery = getattr(self, "gallery", None)
        if gallery is not None:
            gallery.close()
        analysis = getattr(self, "analysis", None)
        if analysis is not None and getattr(self, "_own_analysis", False):
            analysis.close()  # cancels its jobs; one handed in stays open
        if _descendants is not None:  # None only while the interpreter tears modules down
            for widget in _descendants(self):
                widget.close()
        super().close()

    # ----------------------------------------------------------------------------------------
    # Links
    # ----------------------------------------------------------------------------------------

    def _on_picker(self, change: traitlets.Bunch) -> None:
        self._switch(str(change["new"]))

    def _on_selection(self, change: traitlets.Bunch) -> None:
        sel = self.selection
        if sel.layer and sel.layer != self.layer and sel.layer in self.profile.layers:
            indices = list(sel.indices)
            self._picker.value = sel.layer  # switches every view
            if sel.indices != indices:  # the switch may have cleared it
                sel.select(sel.layer, indices)
        self._describe()

    def _switch(self, layer: str) -> None:
        if layer == self.layer or self._switching:
            return
        self._switching = True
        try:
            t = time.perf_counter()
            self.layer = layer
            spec = self.profile[layer]
            self.spectrum.layer = layer
            self.gallery.show(layer)
            self._show_frequency_map(layer, spec)
            if self.selection.layer != layer:
                self.selection.select(layer, [])
            self._mark("switch", t)
        finally:
            self._switching = False
        self._describe()

    def _show_frequency_map(self, layer: str, spec: Any) -> None:
        from svdwidgets.core.spectrum import FFTSpectrum

        entry = self.profile.entry(layer)
        if isinstance(spec, FFTSpectrum) and entry.record.kind != "linear":
            self.frequency_map.show_spectrum(spec, layer_name=layer)
            self.frequency_map.layout.display = None
            self._fmap_box.layout.flex = "1 1 320px"
            exact = "exact" if spec.exact else "circular approximation of a zero-padded layer"
            self._fmap_note.value = f"<i>fft method ({html.escape(exact)})</i>"
        else:
            self.frequency_map.layout.display = "none"
            self._fmap_box.layout.flex = "0 1 240px"  # the gallery takes the row
            why = "a Linear layer" if entry.record.kind == "linear" else f"method {spec.method!r}"
            self._fmap_note.value = (
                f"<i>No frequency map for {html.escape(layer)}: its spectrum comes from "
                f"{html.escape(why)}; the map shows the per-frequency blocks of the fft method.</i>"
            )

    def _describe(self) -> None:
        spec = self.profile[self.layer]
        sel = self.selection
        picked = [i for i in sel.indices if i < len(spec.values)] if sel.layer == self.layer else []
        parts = [
            f"{len(spec.values):,} singular values · method {spec.method}"
            + ("" if spec.method == "exact" else " (exact)" if spec.exact else " (approximation)"),
            f"σ_max = {_sigma_max(self.profile.entry(self.layer)):.4g}",
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
    if input_shape is None:
        if data is None:
            raise SVDWidgetsError("pass input_shape=(C, H, W), or data to take it from")
        return tuple(int(s) for s in data.shape[1:])
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise SVDWidgetsError(f"input_shape must be three positive ints (C, H, W), got {shape!r}")
    if data is not None and tuple(data.shape[1:]) != shape:
        raise SVDWidgetsError(
            f"data has inputs of shape {tuple(data.shape[1:])} but input_shape is {shape}"
        )
    return shape
