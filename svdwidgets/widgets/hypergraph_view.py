"""HypergraphView: classes x singular directions, drawn as a bipartite graph in the front end.

The class hypergraph (:mod:`svdwidgets.hypergraph.classes`) has the classes as hyperedges and the
influential singular directions ``(layer, i)`` of the layers as nodes; a node's weight in a class
is its share of the class's mean ``|projection|`` in that layer. The view draws the classes in a
column on the left and the directions on the right, grouped by layer in network order, with one
edge per (class, direction) incidence whose width and opacity follow the weight. A node's size
follows its total weight; a node influential for a single class is filled with that class's
colour.

Clicking a direction selects it (:attr:`HypergraphView.selected_nodes`) and highlights the classes
it belongs to; clicking a class selects it (:attr:`HypergraphView.selected_classes`) and
highlights its directions; shift-click adds to the selection, a click on the background clears it.
The highlighting is computed in the browser, so it keeps working in an exported page
(:func:`svdwidgets.widgets.export_html`). :attr:`HypergraphView.highlight` marks one direction
``(layer, index)`` chosen elsewhere (another view, the Explorer). Given a shared
:class:`~svdwidgets.widgets.selection.Selection` (``selection=``), the nodes of its directions
are the selected nodes, and clicking a node selects its direction in every linked view — in the
browser, so the links hold in an exported page too.

The layout is computed here, by :func:`svdwidgets.hypergraph.layout.bipartite_layout` (the one
the static figure draws too), and sent as the traits ``class_xy`` ... ``edge_fade``: at most
:attr:`HypergraphView.max_nodes` directions are drawn, the strongest of each class in turn, so
that a ResNet-50's hundreds of candidates stay legible. The front end is ``HypergraphModel`` /
``HypergraphView`` in ``labextension/src/hypergraph_view.ts``; it only draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets
from ipywidgets import DOMWidget, widget_serialization

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.hypergraph.layout import DEFAULT_MAX_NODES, bipartite_layout, edge_fade
from svdwidgets.widgets._errors import TraitValueError
from svdwidgets.widgets._frontend import MODULE_NAME, MODULE_VERSION
from svdwidgets.widgets.selection import Selection
from svdwidgets.widgets.serialization import NDArray, array_serialization

if TYPE_CHECKING:
    from svdwidgets.hypergraph.classes import ClassHypergraph

__all__ = ["HypergraphView"]


class HypergraphView(DOMWidget):
    """Classes and the singular directions influential for them; click to select.

    Build it with :meth:`from_hypergraph`. Nodes are numbered ``0..N-1`` in the order of
    ``ClassHypergraph.incidence``'s columns (layers in network order, then singular index);
    node ``j`` is the direction ``(layer_names[node_layers[j]], node_indices[j])``.
    """

    _model_name = traitlets.Unicode("HypergraphModel").tag(sync=True)
    _model_module = traitlets.Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = traitlets.Unicode("HypergraphView").tag(sync=True)
    _view_module = traitlets.Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)

    title = traitlets.Unicode("", help="Title above the graph.").tag(sync=True)
    class_names = traitlets.List(traitlets.Unicode(), help="The classes (hyperedges).").tag(
        sync=True
    )
    class_counts = NDArray("int32", 1, help="(C,): inputs per class.").tag(
        sync=True, **array_serialization
    )
    layer_names = traitlets.List(traitlets.Unicode(), help="The layers, in network order.").tag(
        sync=True
    )
    node_layers = NDArray(
        "int32", 1, help="(N,): each node's layer, an index into layer_names."
    ).tag(sync=True, **array_serialization)
    node_indices = NDArray("int32", 1, help="(N,): each node's singular index in its layer.").tag(
        sync=True, **array_serialization
    )
    node_sigmas = NDArray("float32", 1, help="(N,): each node's singular value σ.").tag(
        sync=True, **array_serialization
    )
    incidence = NDArray(
        "float32", 2, help="(C, N): a node's weight in a class where it is influential, else 0."
    ).tag(sync=True, **array_serialization)
    threshold = traitlets.Float(
        None, allow_none=True, help="The hypergraph's threshold (shown; the kernel sets it)."
    ).tag(sync=True)
    max_nodes = traitlets.Int(
        DEFAULT_MAX_NODES,
        allow_none=True,
        help="Directions drawn at most: the strongest of each class in turn (None: all).",
    ).tag(sync=True)
    class_xy = NDArray(
        "float32", 2, help="(C, 2): each class's place (x in columns, y in px; computed)."
    ).tag(sync=True, **array_serialization)
    node_xy = NDArray(
        "float32", 2, help="(N, 2): each node's place; NaN for a node not drawn (computed)."
    ).tag(sync=True, **array_serialization)
    node_radius = NDArray(
        "float32", 1, help="(N,): each node's radius in px; NaN when not drawn (computed)."
    ).tag(sync=True, **array_serialization)
    layer_y = NDArray(
        "float32", 1, help="(L,): each layer header's baseline; NaN without nodes (computed)."
    ).tag(sync=True, **array_serialization)
    graph_height = traitlets.Float(0.0, help="Height of the drawing in px (computed).").tag(
        sync=True
    )
    edge_fade = traitlets.Float(
        1.0, help="Factor on every edge's opacity: < 1 when many edges are drawn (computed)."
    ).tag(sync=True)
    selected_nodes = traitlets.List(traitlets.Int(), help="Indices of the selected nodes.").tag(
        sync=True
    )
    selected_classes = traitlets.List(
        traitlets.Int(), help="Indices of the selected classes (into class_names)."
    ).tag(sync=True)
    highlight = traitlets.Tuple(
        traitlets.Unicode(),
        traitlets.Int(),
        default_value=None,
        allow_none=True,
        help="A direction (layer, index) to mark, e.g. one selected in another view; or None.",
    ).tag(sync=True)
    selection = traitlets.Instance(
        Selection,
        allow_none=True,
        help="A selection shared with linked views: its directions are the selected nodes, "
        "and a click on a node selects its direction there. None: the view stands alone.",
    ).tag(sync=True, **widget_serialization)

    def __init__(self, **kwargs: Any) -> None:
        """Traits as keywords (arrays first, so that the selections are checked against them)."""
        first = {k: kwargs.pop(k) for k in list(kwargs) if k not in _CHECKED}
        super().__init__(**first)
        with self.hold_trait_notifications():
            for name, value in kwargs.items():
                setattr(self, name, value)
        self._check_shapes()
        self._place()

    @classmethod
    def from_hypergraph(
        cls,
        hypergraph: ClassHypergraph,
        *,
        title: str | None = None,
        selected_nodes: Sequence[int] = (),
        selected_classes: Sequence[int] = (),
        **kwargs: Any,
    ) -> HypergraphView:
        """The view of a :func:`svdwidgets.class_hypergraph` (its influential nodes only)."""
        incidence = getattr(hypergraph, "incidence", None)
        nodes = getattr(hypergraph, "nodes", None)
        if incidence is None or nodes is None:
            raise SVDWidgetsError(
                "HypergraphView.from_hypergraph needs a ClassHypergraph "
                f"(svdwidgets.class_hypergraph), got {type(hypergraph).__name__}"
            )
        class_names = [str(c) for c in hypergraph.class_names]
        if not class_names:
            raise SVDWidgetsError(
                f"the hypergraph has no classes (incidence shape {tuple(incidence.shape)}): "
                "build it from labelled data with at least one class"
            )
        members = nodes.loc[incidence.columns]
        layer_names = list(dict.fromkeys(str(x) for x in nodes["layer"]))
        position = {name: i for i, name in enumerate(layer_names)}
        counts = getattr(hypergraph, "counts", None)
        threshold = getattr(hypergraph, "threshold", None)
        return cls(
            title="Class hypergraph" if title is None else title,
            class_names=class_names,
            class_counts=np.zeros(0) if counts is None else np.asarray(counts, dtype=np.int64),
            layer_names=layer_names,
            node_layers=np.array([position[str(x)] for x in members["layer"]], dtype=np.int32),
            node_indices=members["index"].to_numpy(),
            node_sigmas=members["sigma"].to_numpy(),
            incidence=incidence.to_numpy(),
            threshold=None if threshold is None else float(threshold),
            selected_nodes=list(selected_nodes),
            selected_classes=list(selected_classes),
            **kwargs,
        )

    def save(self, path: str | Path, **kwargs: Any) -> Path:
        """Save what the view shows as a static figure (.png, .svg or .pdf, by the suffix).

        Drawn by :func:`svdwidgets.plots.save_view` with matplotlib, without a browser.
        """
        from svdwidgets.plots import save_view

        return save_view(self, path, **kwargs)

    @property
    def node_ids(self) -> list[str]:
        """Each node's name ``"layer:index"`` (as in ``ClassHypergraph.incidence``)."""
        return [
            f"{self.layer_names[int(layer)]}:{int(i)}"
            for layer, i in zip(self.node_layers, self.node_indices, strict=True)
        ]

    @property
    def selected_directions(self) -> list[tuple[str, int]]:
        """The selected nodes as ``(layer, index)`` pairs."""
        return [
            (self.layer_names[int(self.node_layers[j])], int(self.node_indices[j]))
            for j in self.selected_nodes
        ]

    @property
    def highlighted_classes(self) -> list[str]:
        """The classes the selected nodes belong to (what the view highlights), in class order."""
        if not self.selected_nodes:
            return []
        member = np.asarray(self.incidence[:, self.selected_nodes] > 0).any(axis=1)
        return [self.class_names[int(c)] for c in np.flatnonzero(member)]

    @property
    def highlighted_nodes(self) -> list[int]:
        """The nodes of the selected classes (what the view highlights), in node order."""
        if not self.selected_classes:
            return []
        member = (self.incidence[self.selected_classes, :] > 0).any(axis=0)
        return [int(j) for j in np.flatnonzero(member)]

    def node_of(self, layer: str, index: int) -> int | None:
        """The node number of the direction ``(layer, index)``, or None if it is not a node."""
        if layer not in self.layer_names:
            return None
        hits = np.flatnonzero(
            (self.node_layers == self.layer_names.index(layer)) & (self.node_indices == index)
        )
        return int(hits[0]) if len(hits) else None

    def _check_shapes(self) -> None:
        c, n = len(self.class_names), len(self.node_layers)
        if self.incidence.shape != (c, n):
            raise SVDWidgetsError(
                f"incidence has shape {tuple(self.incidence.shape)}, expected "
                f"(classes, nodes) = ({c}, {n})"
            )
        for name in ("node_indices", "node_sigmas"):
            if len(getattr(self, name)) != n:
                raise SVDWidgetsError(f"{name} has {len(getattr(self, name))} values for {n} nodes")
        if len(self.class_counts) not in (0, c):
            raise SVDWidgetsError(
                f"class_counts has {len(self.class_counts)} values for {c} classes"
            )
        if n and not (
            0 <= int(self.node_layers.min()) and int(self.node_layers.max()) < len(self.layer_names)
        ):
            raise SVDWidgetsError(
                f"node_layers must index layer_names ({len(self.layer_names)} layers), got "
                f"values in [{int(self.node_layers.min())}, {int(self.node_layers.max())}]"
            )
        if not np.all(np.isfinite(self.incidence)) or (self.incidence < 0).any():
            raise SVDWidgetsError("incidence weights must be finite and non-negative")

    @traitlets.observe(
        "class_names", "layer_names", "node_layers", "node_indices", "incidence", "max_nodes"
    )
    def _on_data(self, change: traitlets.Bunch) -> None:
        self._place()

    def _place(self) -> None:
        """Compute the layout (:mod:`svdwidgets.hypergraph.layout`) the front end draws.

        While the arrays are being replaced one by one (outside ``hold_trait_notifications``)
        and disagree in size, nothing is drawn: the layout is emptied until they agree again.
        """
        c, n, n_layers = len(self.class_names), len(self.node_layers), len(self.layer_names)
        consistent = (
            self.incidence.shape == (c, n)
            and len(self.node_indices) == n
            and (
                n == 0 or 0 <= int(self.node_layers.min()) <= int(self.node_layers.max()) < n_layers
            )
            and bool(np.all(np.isfinite(self.incidence)))
            and not (self.incidence < 0).any()
        )
        with self.hold_sync():
            if not consistent:
                self.class_xy = np.zeros((0, 2), dtype=np.float32)
                self.node_xy = np.zeros((0, 2), dtype=np.float32)
                self.node_radius = np.zeros(0, dtype=np.float32)
                self.layer_y = np.zeros(0, dtype=np.float32)
                self.graph_height = 0.0
                self.edge_fade = 1.0
                return
            lay = bipartite_layout(
                self.incidence,
                self.node_layers,
                self.node_indices,
                n_layers,
                max_nodes=self.max_nodes,
            )
            self.class_xy = lay.class_xy
            self.node_xy = lay.node_xy
            self.node_radius = lay.node_radius
            self.layer_y = lay.layer_y
            self.graph_height = lay.height
            drawn = self.incidence[:, np.isfinite(lay.node_xy[:, 1])]
            self.edge_fade = edge_fade(int(np.count_nonzero(drawn)))

    @property
    def shown_nodes(self) -> list[int]:
        """The nodes drawn (at most :attr:`max_nodes`, the strongest of each class in turn)."""
        return [int(j) for j in np.flatnonzero(np.isfinite(self.node_xy[:, 1]))]

    @traitlets.validate("max_nodes")
    def _check_max_nodes(self, proposal: traitlets.Bunch) -> int | None:
        value = proposal["value"]
        if value is not None and value < 1:
            raise TraitValueError(f"max_nodes must be >= 1 or None (every node); got {value}")
        return value

    @traitlets.validate("selected_nodes")
    def _check_nodes(self, proposal: traitlets.Bunch) -> list[int]:
        return _check_indices(proposal["value"], len(self.node_layers), "selected_nodes", "nodes")

    @traitlets.validate("selected_classes")
    def _check_classes(self, proposal: traitlets.Bunch) -> list[int]:
        return _check_indices(
            proposal["value"], len(self.class_names), "selected_classes", "classes"
        )

    @traitlets.validate("highlight")
    def _check_highlight(self, proposal: traitlets.Bunch) -> tuple[str, int] | None:
        value = proposal["value"]
        if value is None:
            return None
        layer, index = str(value[0]), int(value[1])
        if layer not in self.layer_names or index < 0:
            raise TraitValueError(
                f"highlight {(layer, index)} is not a direction of the layers "
                f"{self.layer_names}: use (layer, index >= 0)"
            )
        return layer, index


_CHECKED = ("selected_nodes", "selected_classes", "highlight")


def _check_indices(value: Sequence[int], size: int, name: str, what: str) -> list[int]:
    out = [int(i) for i in value]
    bad = [i for i in out if not 0 <= i < size]
    if bad:
        raise TraitValueError(
            f"{name} {bad} out of range: the hypergraph has {size} {what} (0..{size - 1})"
        )
    return list(dict.fromkeys(out))
