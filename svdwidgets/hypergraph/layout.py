"""Where every class and direction of the class hypergraph is drawn: one layout for every drawing.

The HypergraphView (``labextension/src/hypergraph_view.ts``, which receives these coordinates
as traits) and the static figure (:func:`svdwidgets.plots.plot_hypergraph`) both draw this
layout, so the two agree node for node. Pure numpy.

The graph is drawn as a bipartite graph: classes in a column on the left (``x = 0``),
singular directions in a column on the right (``x = 1``), grouped by layer in network order
(singular index order inside; a header row above a layer with two or more drawn nodes, a small
gap above a layer with one, whose node's label then names the layer), so that every edge runs
from the class column to the node column and no edge crosses a node. ``y`` is in pixels of the
view at 100 % zoom (one row of nodes is :data:`NODE_PITCH` px), growing downwards, margins
included; the front end maps ``x`` onto the width it has, the figure maps both onto inches.
The classes are spread evenly over the height the nodes take (or the other way round when
there are more classes than rows of nodes). A node's radius grows with the square root of its
total weight (its area is proportional to the weight).

Legibility on large models: a ResNet-50 gives hundreds of candidate directions. At most
``max_nodes`` are placed: the strongest directions of each class taken in turn (every class's
heaviest direction first, then every class's second, ...; inside a round the heavier first), so
that every class keeps its strongest edges. The others get ``NaN`` coordinates and are not
drawn; they stay in the data (selections and links still name them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svdwidgets.errors import SVDWidgetsError

__all__ = [
    "DEFAULT_MAX_NODES",
    "HEADER_HEIGHT",
    "NODE_PITCH",
    "BipartiteLayout",
    "bipartite_layout",
    "edge_fade",
    "strongest_nodes",
]

NODE_PITCH = 18.0
"""Pixels between two rows of nodes."""
HEADER_HEIGHT = 24.0
"""Pixels of a layer's header row."""
HEADER_BASELINE = 12.0
"""Baseline of the header text below the top of its row."""
LAYER_GAP = 8.0
"""Pixels before a layer drawn without a header (a single node)."""
MIN_CLASS_PITCH = 22.0
MAX_CLASS_PITCH = 64.0
TOP = 10.0
BOTTOM = 10.0
CLASS_RADIUS = 7.0
MIN_RADIUS = 3.0
MAX_RADIUS = 8.0

CLEAR_EDGES = 60
"""Edges drawn at full opacity; more fade (:func:`edge_fade`)."""

DEFAULT_MAX_NODES = 48
"""Directions drawn at most (a ResNet-50's hundreds of candidates stay legible)."""


@dataclass(frozen=True)
class BipartiteLayout:
    """Coordinates of a bipartite drawing (``x`` in column units, ``y`` in pixels).

    Attributes
    ----------
    class_xy:
        ``(C, 2)``: each class's ``(0, y)``.
    node_xy:
        ``(N, 2)``: each node's ``(1, y)``; ``NaN`` for a node that is not drawn.
    node_radius:
        ``(N,)`` pixels; ``NaN`` for a node that is not drawn.
    layer_y:
        ``(L,)``: the baseline of each layer's header; ``NaN`` for a layer without a header
        (no drawn node, or a single one: its label names the layer).
    height:
        pixels, margins included.
    """

    class_xy: np.ndarray
    node_xy: np.ndarray
    node_radius: np.ndarray
    layer_y: np.ndarray
    height: float

    @property
    def shown(self) -> np.ndarray:
        """``(N,)`` bool: the nodes that are drawn."""
        return np.isfinite(self.node_xy[:, 1])


def strongest_nodes(incidence: np.ndarray, max_nodes: int | None) -> np.ndarray:
    """``(N,)`` bool: at most ``max_nodes`` nodes, the strongest of each class taken in turn.

    Round ``r`` offers each class's ``r``-th heaviest node (weight > 0), heavier offers first
    (ties: larger total weight, then lower node number); a node already taken is skipped.
    Nodes with no weight in any class come last, in node order. ``None`` keeps every node.
    """
    w = _check_incidence(incidence)
    n = w.shape[1]
    if max_nodes is None or n <= max_nodes:
        return np.ones(n, dtype=bool)
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, (int, np.integer)):
        raise SVDWidgetsError(f"max_nodes must be an int >= 1 or None; got {max_nodes!r}")
    if max_nodes < 1:
        raise SVDWidgetsError(f"max_nodes must be >= 1 or None; got {max_nodes}")
    total = w.sum(axis=0)
    cs, js = np.nonzero(w > 0)
    weight = w[cs, js]
    # rank of each (class, node) entry inside its class, heaviest first
    by_class = np.lexsort((js, -total[js], -weight, cs))
    rank = np.empty(len(cs), dtype=np.int64)
    starts = np.searchsorted(cs[by_class], np.arange(w.shape[0]))
    rank[by_class] = np.arange(len(cs)) - starts[cs[by_class]]
    offers = js[np.lexsort((js, -total[js], -weight, rank))]
    order = list(dict.fromkeys(int(j) for j in offers))
    order += [j for j in range(n) if not total[j] > 0]
    keep = np.zeros(n, dtype=bool)
    keep[order[: int(max_nodes)]] = True
    return keep


def bipartite_layout(
    incidence: np.ndarray,
    node_layers: np.ndarray,
    node_indices: np.ndarray,
    n_layers: int,
    *,
    max_nodes: int | None = DEFAULT_MAX_NODES,
) -> BipartiteLayout:
    """Place the classes and (at most ``max_nodes`` of) the nodes; see the module docstring.

    ``incidence`` is ``(C, N)``, a node's weight in each class (0 where it is not influential);
    node ``j`` belongs to layer ``node_layers[j]`` (``0 <= . < n_layers``) and has singular
    index ``node_indices[j]``.
    """
    w = _check_incidence(incidence)
    c, n = w.shape
    layers = np.asarray(node_layers, dtype=np.int64).reshape(-1)
    indices = np.asarray(node_indices, dtype=np.int64).reshape(-1)
    if layers.shape != (n,) or indices.shape != (n,):
        raise SVDWidgetsError(
            f"node_layers has {layers.size} and node_indices {indices.size} values "
            f"for {n} nodes (incidence shape {w.shape})"
        )
    if n and not (0 <= int(layers.min()) and int(layers.max()) < n_layers):
        raise SVDWidgetsError(
            f"node_layers must index the {n_layers} layers; got values in "
            f"[{int(layers.min())}, {int(layers.max())}]"
        )
    shown = strongest_nodes(w, max_nodes)
    groups = []
    for layer in range(n_layers):
        members = np.flatnonzero(shown & (layers == layer))
        if members.size:
            groups.append((layer, members[np.lexsort((members, indices[members]))]))
    n_shown = int(shown.sum())

    # rows from 0: a header row before a layer of 2+ drawn nodes, a small gap before a layer
    # of one (its node's label names the layer: a ResNet-50 spreads over dozens of layers)
    total = w.sum(axis=0)
    peak = float(total[shown].max()) if n_shown else 0.0
    row = np.full(n, np.nan)
    header = np.full(n_layers, np.nan)
    y = 0.0
    for layer, members in groups:
        if members.size >= 2:
            header[layer] = y + HEADER_BASELINE
            y += HEADER_HEIGHT
        else:
            y += LAYER_GAP
        for j in members:
            row[j] = y
            y += NODE_PITCH
    first = float(np.nanmin(row)) if n_shown else 0.0
    node_span = y - NODE_PITCH if n_shown else 0.0  # the last node's row
    class_span = max(c - 1, 0) * MIN_CLASS_PITCH
    node_top = TOP + (max(node_span, class_span) - node_span) / 2

    node_xy = np.column_stack((np.where(shown, 1.0, np.nan), node_top + row))
    t = np.sqrt(np.clip(total, 0, None) / peak) if peak > 0 else np.zeros(n)
    radius = np.where(shown, MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * t, np.nan)
    layer_y = node_top + header

    first, last = node_top + first, node_top + node_span
    pitch = (last - first) / (c - 1) if c > 1 else 0.0
    pitch = min(max(pitch, MIN_CLASS_PITCH), MAX_CLASS_PITCH)
    block = pitch * max(c - 1, 0)
    centre = (first + last) / 2 if n_shown else TOP + block / 2
    class_top = max(TOP + CLASS_RADIUS, centre - block / 2)
    class_xy = np.column_stack((np.zeros(c), class_top + pitch * np.arange(c)))
    bottom = max(
        last + MAX_RADIUS if n_shown else 0.0,
        class_top + block + CLASS_RADIUS if c else 0.0,
        TOP,
    )
    return BipartiteLayout(
        class_xy=class_xy,
        node_xy=node_xy,
        node_radius=radius,
        layer_y=layer_y,
        height=float(np.ceil(bottom + BOTTOM)),
    )


def edge_fade(n_edges: int) -> float:
    """The factor on every edge's opacity: 1 up to :data:`CLEAR_EDGES` edges, then fainter.

    ``sqrt(CLEAR_EDGES / n_edges)``: the ink of a dense bundle grows like the square root of
    its edges instead of linearly, so the heaviest edges still stand out from the crowd.
    """
    return 1.0 if n_edges <= CLEAR_EDGES else float(np.sqrt(CLEAR_EDGES / n_edges))


def _check_incidence(incidence: np.ndarray) -> np.ndarray:
    w = np.asarray(incidence, dtype=np.float64)
    if w.ndim != 2:
        raise SVDWidgetsError(f"incidence must be (classes, nodes); got shape {w.shape}")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise SVDWidgetsError("incidence weights must be finite and non-negative")
    return w
