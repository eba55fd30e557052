"""PageController: what makes an exported Explorer page work without a kernel.

In a live notebook the kernel answers every control of the :class:`~svdwidgets.Explorer`: a new
layer in the dropdown redraws every view, a settled brush selects a range of ranks, a ticked
"compare methods" box computes an overlay. An exported page has no kernel, so
:meth:`svdwidgets.Explorer.export_html` adds this widget (only to the page, never to the live
dashboard: no double updates) carrying what those controls need, and its front end
(``PageControllerModel`` in ``labextension/src/page_controller.ts``) does the kernel's part in
the browser:

* ``snapshots[l][t]``: the serialized state (binary buffers) that ``targets[t]`` has when layer
  ``layers[l]`` is shown — the kernel drew every layer once at export time, so the page shows
  exactly what the kernel would. The dropdown (``picker``), and a selection of another layer
  (a hypergraph node) apply them.
* ``examples``: the dataset examples of the gallery's cards, each input once, which the page
  puts back into the cards of a layer (by their ``example_ids``) when it shows them.
* ``values[l]``: a layer's singular values (float32) for the status lines, or where its
  frequency map's snapshot holds the same numbers, a reference the page sorts; ``summary_base`` and
  ``status_head``/``status_tail``: those lines with nothing selected, around the selection text.
* ``mode_buttons``/``figure``/``brush``: "brush a range" sets the figure's interaction to the
  brush; a settled brush selects every index whose rank it covers.
* ``method_boxes``/``overlays``/``curves``/``legend_keys``: the compared methods' curves, computed
  at export time, shown and hidden in the browser.
* ``sel_points``/``sel_esd``: the selection's markers (the ESD's from ``hist``'s bins).
* ``clear_button`` clears the selection; ``hidden``: controls that need a kernel, hidden.
"""

from __future__ import annotations

from typing import Any

import traitlets
from ipywidgets import DOMWidget, Widget, widget_serialization

from svdwidgets.widgets._frontend import MODULE_NAME, MODULE_VERSION
from svdwidgets.widgets.selection import Selection

__all__ = ["PageController"]

_ref = widget_serialization


class PageController(DOMWidget):
    """The in-browser stand-in for the kernel in an exported Explorer page (see module doc)."""

    _model_name = traitlets.Unicode("PageControllerModel").tag(sync=True)
    _model_module = traitlets.Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = traitlets.Unicode("PageControllerView").tag(sync=True)
    _view_module = traitlets.Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)

    picker = traitlets.Instance(Widget, help="The layer dropdown.").tag(sync=True, **_ref)
    selection = traitlets.Instance(Selection, help="The shared selection.").tag(sync=True, **_ref)
    layers = traitlets.List(traitlets.Unicode(), help="The layers, in the picker's order.").tag(
        sync=True
    )
    targets = traitlets.List(
        traitlets.Instance(Widget), help="The widgets whose state depends on the layer."
    ).tag(sync=True, **_ref)
    snapshots = traitlets.List(
        traitlets.List(traitlets.Dict()),
        help="Per layer, per target: the target's serialized state for that layer (its changes).",
    ).tag(sync=True)
    values: traitlets.List[Any] = traitlets.List(
        help="Per layer: {dtype, shape, buffer} of its singular values (float32); or "
        "{from_target: t, key: k}: sort snapshots[layer][t][k] (float32) descending; or None."
    ).tag(sync=True)
    examples = traitlets.Dict(
        help="{example id: its image (PNG, WebP or JPEG bytes)}: the dataset examples of every "
        "layer's cards, each once; a card in the snapshots names them by its example_ids."
    ).tag(sync=True)
    summary = traitlets.Instance(Widget, allow_none=True, help="The header's status line.").tag(
        sync=True, **_ref
    )
    summary_base = traitlets.List(traitlets.Unicode(), help="Per layer: it, nothing selected.").tag(
        sync=True
    )
    status = traitlets.Instance(Widget, allow_none=True, help="The spectrum's status line.").tag(
        sync=True, **_ref
    )
    status_head = traitlets.List(traitlets.Unicode(), help="Per layer: before the selection.").tag(
        sync=True
    )
    status_tail = traitlets.List(traitlets.Unicode(), help="Per layer: after the selection.").tag(
        sync=True
    )
    mode_buttons = traitlets.Instance(Widget, allow_none=True, help="click / brush.").tag(
        sync=True, **_ref
    )
    brush_index = traitlets.Int(-1, help="The index of 'brush a range' in mode_buttons.").tag(
        sync=True
    )
    figure = traitlets.Instance(Widget, allow_none=True, help="The sorted-values figure.").tag(
        sync=True, **_ref
    )
    brush = traitlets.Instance(Widget, allow_none=True, help="Its interval brush.").tag(
        sync=True, **_ref
    )
    method_boxes = traitlets.Dict(help="{method: its checkbox}").tag(sync=True, **_ref)
    overlays = traitlets.Dict(help="{method: its bqplot Lines}").tag(sync=True, **_ref)
    curves = traitlets.Dict(
        help="{method: per layer, the overlay's serialized {x, y, labels} or None}"
    ).tag(sync=True)
    legend = traitlets.Instance(Widget, allow_none=True, help="The sorted plot's legend.").tag(
        sync=True, **_ref
    )
    legend_base = traitlets.List(
        traitlets.Unicode(), help="Per layer: the legend, no overlay."
    ).tag(sync=True)
    legend_keys = traitlets.Dict(help="{method: per layer, its legend key (HTML) or ''}").tag(
        sync=True
    )
    clear_button = traitlets.Instance(Widget, allow_none=True, help="'clear selection'.").tag(
        sync=True, **_ref
    )
    link = traitlets.Instance(Widget, allow_none=True, help="The spectrum's SpectrumLink.").tag(
        sync=True, **_ref
    )
    sel_points = traitlets.Instance(
        Widget, allow_none=True, help="The selection's markers on the sorted plot."
    ).tag(sync=True, **_ref)
    sel_esd = traitlets.Instance(
        Widget, allow_none=True, help="The selection's markers on the ESD."
    ).tag(sync=True, **_ref)
    hist = traitlets.Instance(Widget, allow_none=True, help="The ESD's staircase Lines.").tag(
        sync=True, **_ref
    )
    hidden = traitlets.List(
        traitlets.Instance(Widget), help="Controls that need a kernel: hidden in the page."
    ).tag(sync=True, **_ref)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layout.display = "none"
