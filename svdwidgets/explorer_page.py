"""The data an exported Explorer page carries so that every control it shows works offline.

:func:`page_controller` draws every layer of an :class:`~svdwidgets.Explorer` once, in the
kernel, and records what changed in each view (the serialized widget state, binary buffers
and all), the gallery's rendered cards of each layer, the status lines, and the compared
methods' curves (:meth:`svdwidgets.Analysis.comparison`, within a time budget). It returns a
:class:`~svdwidgets.widgets.page_controller.PageController` that replays them in the browser;
the Explorer is left showing what it showed before.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from svdwidgets.core import esd
from svdwidgets.widgets._closing import descendants
from svdwidgets.widgets.page_controller import PageController
from svdwidgets.widgets.serialization import array_to_json

if TYPE_CHECKING:
    from svdwidgets.explorer import Explorer

__all__ = ["COMPARE_BUDGET_S", "MAX_VALUES", "page_card", "page_controller"]

COMPARE_BUDGET_S = 20.0
"""Seconds the export spends computing compared methods' curves; the rest are left out."""

MAX_VALUES = 250_000
"""A layer's singular values travel whole (float32, for the status line) up to this many,
where the page cannot sort its frequency map's (see :func:`_values_source`)."""

#: what the spectrum's status line says with nothing selected (split around it in the page)
_NOTHING = html.escape("nothing selected — click a point, or brush a range of ranks")
#: the curve a sorted plot sends: the spectrum view's default (max_points=2000)
_HEAD = _TAIL = 1000


def _canon(value: Any) -> Any:
    """``value`` with every binary part copied to ``bytes`` (comparable, and frozen)."""
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if isinstance(value, (memoryview, bytearray)):
        return bytes(value)
    return value


def _page_state(widget: Any) -> dict[str, Any]:
    """``widget``'s serialized state as the page keeps it: :func:`_canon`, and a bqplot mark's
    ``x`` and ``y`` in float32 where that loses nothing (ranks, and a spectrum's values, which
    are float32: the sorted curves and their points, 5 MB of ResNet-50's page in float64; an
    ESD's bin edges stay float64)."""
    import bqplot

    state = _canon(widget.get_state())
    if isinstance(widget, bqplot.Mark):
        for key in ("x", "y"):
            a = state.get(key)
            if isinstance(a, dict) and a.get("dtype") == "float64" and a.get("type") is None:
                values = np.frombuffer(a["value"], dtype=np.float64)
                single = values.astype(np.float32)
                if np.array_equal(single, values):
                    state[key] = {**a, "dtype": "float32", "value": single.tobytes()}
    return state


def _gallery_state(ex: Explorer, layer: str, examples: dict[str, bytes]) -> dict[str, Any]:
    """The gallery's state for ``layer`` in the page: the cards the kernel has rendered, their
    dataset examples named by id and kept once in ``examples`` (see :func:`page_card`)."""
    from svdwidgets.widgets.vector_gallery import MAX_CARDS, distinct_directions

    g = ex.gallery
    if layer == g.layer:
        cards = list(g.items)
    else:
        spec = ex.profile[layer]
        k = g._k
        chosen = (
            distinct_directions(spec, k)
            if g._merges(layer)
            else [(i, []) for i in range(min(k, len(spec.values)))]
        )
        cards = [g._card(layer, spec, i, tw) for i, tw in chosen[:MAX_CARDS]]
    done = [page_card(c, g.image_px, examples) for c in cards if c.get("image") is not None]
    missing = len(cards) - len(done)
    status = f"{len(done)} directions of {layer} rendered"
    if missing:
        status += (
            f"; {missing} not rendered when this page was exported "
            "(rendering needs the live kernel)"
        )
    return _canon({"layer": layer, "items": done, "status": status, "busy": False, "error": ""})


def page_card(
    card: dict[str, Any], image_px: int, examples: dict[str, bytes] | None = None
) -> dict[str, Any]:
    """A gallery card as the page carries it: its rendering and dataset examples at twice the
    size the gallery shows them (``image_px``, and the three-across thumbnails beside it), as
    :func:`~svdwidgets.widgets.images.page_image` makes them; everything else as it is.

    Given ``examples`` (a table shared by every card of the page), each dataset example goes
    there once, under its input's id (``str(example_id)``), and the card keeps only its
    ``example_ids``: the page fills them in (``withExamples`` in ``page_controller.ts``). The
    same inputs excite many directions: ResNet-50's 432 cards show 64 distinct photographs.
    """
    from svdwidgets.widgets.images import page_image

    thumb = max(16, (image_px - 4) // 3)  # as the gallery's front end lays the examples out
    out = dict(card)
    image = card.get("image")
    if image is not None:
        out["image"] = page_image(bytes(image), 2 * image_px)
    shown = list(card.get("examples") or [])
    ids = [str(int(i)) for i in card.get("example_ids") or []]
    if examples is None or len(ids) != len(shown):
        out["examples"] = [page_image(bytes(e), 2 * thumb) for e in shown]
        return out
    for key, e in zip(ids, shown, strict=True):
        if key not in examples:
            examples[key] = page_image(bytes(e), 2 * thumb)
    out["examples"] = []
    return out


def _curve(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = esd.curve_indices(values.size, head=_HEAD, tail=_TAIL)
    idx = idx[values[idx] > 0]
    return idx + 1.0, values[idx]


def _compared(ex: Explorer, budget_s: float) -> tuple[dict[str, list[Any]], dict[str, list[str]]]:
    """Per method, per layer: the overlay's serialized state and its legend key (or None)."""
    from bqplot.traits import array_to_json as bq_array

    from svdwidgets.analysis.analysis import COMPARE_METHODS

    sv = ex.spectrum
    colors = {m: line.colors[0] for m, line in getattr(sv, "_overlays", {}).items()}
    curves: dict[str, list[Any]] = {m: [] for m in COMPARE_METHODS if m in colors}
    keys: dict[str, list[str]] = {m: [] for m in curves}
    deadline = time.perf_counter() + budget_s
    for layer in ex.layers:
        for m in curves:
            state, key = None, ""
            if time.perf_counter() < deadline:
                try:
                    c = ex.analysis.comparison(layer, m)
                except Exception:  # a method that does not apply to this layer: no overlay
                    c = None
                if c is not None and np.asarray(c.values).size:
                    x, y = _curve(np.asarray(c.values, dtype=np.float64))
                    label = c.label  # the live view's legend (model.compare.overlay_label)
                    state = _canon(
                        {"x": bq_array(x), "y": bq_array(y), "labels": [label], "visible": True}
                    )
                    key = (
                        '<span class="svdw-sv-key"><span style="display:inline-block;width:22px;'
                        f"border-top:3px dashed {colors[m]};vertical-align:middle;"
                        f'margin-right:4px"></span>{html.escape(label)}</span>'
                    )
            curves[m].append(state)
            keys[m].append(key)
    return curves, keys


def _values_source(values: np.ndarray, snapshot: list[dict[str, Any]], fmap: int) -> Any:
    """How the page gets a layer's singular values (descending) for its status lines and
    selection markers.

    An ``fft`` layer's frequency map already carries every value (``frequency_values``: the half
    plane, each frequency's block values): when ordering them as the browser does
    (``FrequencyOrder`` in ``frequency_order.ts``: every value repeated by its multiplicity,
    sorted descending) gives exactly ``values`` (checked here, bit for bit), only a reference
    travels, ``{"from_target": t, "key": "frequency_values", "n": len(values)}``; a large
    model's values would otherwise travel twice (ResNet-50 at 224: 23 MB of float32).
    Otherwise the values themselves travel, up to :data:`MAX_VALUES` (None beyond: no σ in the
    status line).
    """
    from svdwidgets.widgets.frequency_map import frequency_values_from_json

    state = snapshot[fmap] if 0 <= fmap < len(snapshot) else {}
    sent = state.get("frequency_values")
    if isinstance(sent, dict):
        full = frequency_values_from_json(sent)
        order = np.sort(full.reshape(-1))[::-1][: values.size]
        if np.array_equal(order, values):
            return {"from_target": fmap, "key": "frequency_values", "n": int(values.size)}
    return _canon(array_to_json(values)) if values.size <= MAX_VALUES else None


def _index_of(buttons: Any, value: str) -> int:
    """The index of ``value`` among a selection widget's options (``-1``: none)."""
    options = [] if buttons is None else list(buttons.options)
    options = [o[1] if isinstance(o, tuple) else o for o in options]
    return options.index(value) if value in options else -1


def page_controller(ex: Explorer, *, compare_budget_s: float = COMPARE_BUDGET_S) -> PageController:
    """Draw every layer of ``ex`` once and record it for the page (see the module doc)."""
    sv = ex.spectrum
    sel = ex.selection
    before_layer, before_sel = ex.layer, (sel.layer, list(sel.indices))
    status = getattr(sv, "_status", None)
    legend = getattr(sv, "_legend_sorted", None)
    # the controller writes these itself (the status lines and legend follow the selection)
    skip = {id(w) for w in (sel, ex._picker, ex.gallery, ex, ex._summary, status, legend)}
    widgets = [w for w in descendants(ex) if id(w) not in skip]
    states: list[list[dict[str, Any]]] = []
    summary_base: list[str] = []
    heads: list[str] = []
    tails: list[str] = []
    legend_base: list[str] = []
    gallery: list[dict[str, Any]] = []
    values: list[np.ndarray] = []
    examples: dict[str, bytes] = {}
    try:
        sel.select(before_layer, [])
        for layer in ex.layers:
            ex.layer = layer  # first: a selection change must not switch layers meanwhile
            sv.layer = layer
            ex._show_frequency_map(layer, ex.profile[layer])
            ex._describe()
            states.append([_page_state(w) for w in widgets])
            summary_base.append(ex._summary.value)
            text = status.value if status is not None else ""
            head, _, tail = text.partition(_NOTHING)
            heads.append(head)
            tails.append(tail)
            legend_base.append(legend.value if legend is not None else "")
            gallery.append(_gallery_state(ex, layer, examples))
            values.append(np.asarray(ex.profile[layer].values, dtype=np.float32))
    finally:
        ex.layer = before_layer
        sv.layer = before_layer
        ex._show_frequency_map(before_layer, ex.profile[before_layer])
        sel.select(*before_sel)
        ex._describe()
    # keep only what differs between layers: the rest the page already has
    targets: list[Any] = []
    columns: list[list[dict[str, Any]]] = []
    for t, w in enumerate(widgets):
        keys = [k for k in states[0][t] if any(s[t].get(k) != states[0][t].get(k) for s in states)]
        if keys:
            targets.append(w)
            columns.append([{k: s[t][k] for k in keys} for s in states])
    targets.append(ex.gallery)
    columns.append(gallery)
    snapshots = [[col[i] for col in columns] for i in range(len(ex.layers))]
    fmap = ex.frequency_map
    sources = [
        _values_source(v, snap, targets.index(fmap) if fmap in targets else -1)
        for v, snap in zip(values, snapshots, strict=True)
    ]
    curves, legend_keys = _compared(ex, compare_budget_s)
    boxes = getattr(sv, "_method_boxes", {})
    hidden = [
        w
        for w in (
            getattr(sv, "_log_index_box", None),
            getattr(sv, "_log_bins_box", None),
            getattr(sv, "_k_box", None),
            *[b for m, b in boxes.items() if not any(curves.get(m, []))],
        )
        if w is not None
    ]
    mode = getattr(sv, "_mode_buttons", None)
    return PageController(
        picker=ex._picker,
        selection=sel,
        layers=list(ex.layers),
        targets=targets,
        snapshots=snapshots,
        values=sources,
        examples=examples,
        summary=ex._summary,
        summary_base=summary_base,
        status=status,
        status_head=heads,
        status_tail=tails,
        mode_buttons=mode,
        brush_index=_index_of(mode, "brush"),
        figure=getattr(sv, "_fig_sorted", None),
        brush=getattr(sv, "_brush", None),
        method_boxes={m: b for m, b in boxes.items() if any(curves.get(m, []))},
        overlays={m: line for m, line in getattr(sv, "_overlays", {}).items() if m in curves},
        curves=curves,
        legend=legend,
        legend_base=legend_base,
        legend_keys=legend_keys,
        clear_button=getattr(sv, "_clear", None),
        hidden=hidden,
        link=sv.link,
        sel_points=getattr(sv, "_sel_points", None),
        sel_esd=getattr(sv, "_sel_esd", None),
        hist=getattr(sv, "_hist", None),
    )
