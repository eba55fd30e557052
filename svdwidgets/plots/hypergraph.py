"""The class hypergraph as a static figure: classes × singular directions.

The class hypergraph (Praggastis et al. 2022, DeepDataProfiler; :mod:`svdwidgets.hypergraph`)
has the classes as hyperedges and their influential singular directions ``(layer, i)`` as
nodes. ``style="bipartite"`` draws it as the HypergraphView does, from the same layout
(:func:`svdwidgets.hypergraph.layout.bipartite_layout`): classes in a column on the left, at most
``max_nodes`` directions (the strongest of each class in turn) in a column on the right grouped by
layer in network order (a header per layer, singular index order inside), one curve per
(class, direction) incidence whose width and opacity follow the weight, heavier curves on top
(all fainter when there are many: ``edge_fade``); a node's area follows its total weight, a node
influential for one class only is filled with that class's colour. ``style="euler"`` is
HyperNetX's own rubber-band (Euler-style) drawing, ``hypernetx.draw``, on a seeded spring layout.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.path import Path

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.hypergraph.layout import (
    CLASS_RADIUS,
    DEFAULT_MAX_NODES,
    NODE_PITCH,
    BipartiteLayout,
    bipartite_layout,
    edge_fade,
)
from svdwidgets.plots import _style as st

__all__ = ["STYLES", "BipartiteGraph", "bipartite_graph", "plot_hypergraph"]

STYLES = ("bipartite", "euler")
"""How :func:`plot_hypergraph` draws: our bipartite layout, or HyperNetX's Euler-style one."""

ROW_INCHES = 0.14
"""Height of one row of nodes (``NODE_PITCH`` px of the view) in the printed figure."""
PT_PER_PX = ROW_INCHES * 72 / NODE_PITCH
"""Points of the figure per pixel of the layout."""


@dataclass(frozen=True)
class BipartiteGraph:
    """The arrays a bipartite drawing needs (those a HypergraphView holds as traits).

    Node ``j`` is the direction ``(layer_names[node_layers[j]], node_indices[j])``;
    ``incidence[c, j]`` its weight in class ``c`` where it is influential, else 0.
    """

    class_names: list[str]
    class_counts: np.ndarray
    layer_names: list[str]
    node_layers: np.ndarray
    node_indices: np.ndarray
    node_sigmas: np.ndarray
    incidence: np.ndarray
    threshold: float | None = None
    max_nodes: int | None = DEFAULT_MAX_NODES

    @property
    def node_ids(self) -> list[str]:
        """``"layer:index"`` of each node (the hypergraph's node names)."""
        return [
            f"{self.layer_names[int(layer)]}:{int(i)}"
            for layer, i in zip(self.node_layers, self.node_indices, strict=True)
        ]

    def node_of(self, layer: str, index: int) -> int | None:
        """The node of direction ``(layer, index)``, or None when it is not influential."""
        if layer not in self.layer_names:
            return None
        hits = np.flatnonzero(
            (self.node_layers == self.layer_names.index(layer)) & (self.node_indices == index)
        )
        return int(hits[0]) if hits.size else None


def bipartite_graph(source: Any) -> BipartiteGraph:
    """The drawing's arrays from a :class:`~svdwidgets.ClassHypergraph` or a HypergraphView.

    A view's ``max_nodes`` comes with it; a ClassHypergraph gets :data:`DEFAULT_MAX_NODES`.
    """
    from svdwidgets.hypergraph.classes import ClassHypergraph

    if isinstance(source, ClassHypergraph):
        incidence, nodes = source.incidence, source.nodes
        if not source.class_names:
            raise SVDWidgetsError(
                f"the hypergraph has no classes (incidence shape {tuple(incidence.shape)})"
            )
        members = nodes.loc[incidence.columns]
        layer_names = list(dict.fromkeys(str(x) for x in nodes["layer"]))
        position = {name: i for i, name in enumerate(layer_names)}
        graph = BipartiteGraph(
            class_names=[str(c) for c in source.class_names],
            class_counts=np.asarray(source.counts, dtype=np.int64),
            layer_names=layer_names,
            node_layers=np.array([position[str(x)] for x in members["layer"]], dtype=np.int64),
            node_indices=members["index"].to_numpy().astype(np.int64),
            node_sigmas=members["sigma"].to_numpy().astype(np.float64),
            incidence=incidence.to_numpy().astype(np.float64),
            threshold=float(source.threshold),
        )
    elif all(hasattr(source, a) for a in ("incidence", "class_names", "node_layers")):
        graph = BipartiteGraph(  # a HypergraphView: its traits
            class_names=[str(c) for c in source.class_names],
            class_counts=np.asarray(source.class_counts, dtype=np.int64),
            layer_names=[str(x) for x in source.layer_names],
            node_layers=np.asarray(source.node_layers, dtype=np.int64),
            node_indices=np.asarray(source.node_indices, dtype=np.int64),
            node_sigmas=np.asarray(source.node_sigmas, dtype=np.float64),
            incidence=np.asarray(source.incidence, dtype=np.float64),
            threshold=source.threshold,
            max_nodes=source.max_nodes,
        )
    else:
        raise SVDWidgetsError(
            "plot_hypergraph needs a ClassHypergraph (svdwidgets.class_hypergraph) or a "
            f"HypergraphView; got {type(source).__name__}"
        )
    c, n = len(graph.class_names), len(graph.node_layers)
    if graph.incidence.shape != (c, n) or c == 0:
        raise SVDWidgetsError(
            f"incidence has shape {graph.incidence.shape}, expected (classes, nodes) = ({c}, {n})"
        )
    if not np.all(np.isfinite(graph.incidence)) or (graph.incidence < 0).any():
        raise SVDWidgetsError("incidence weights must be finite and non-negative")
    return graph


def _edge_path(a: np.ndarray, b: np.ndarray) -> Path:
    """A cubic curve from a class to a node, horizontal at both ends (``edgePath``)."""
    mid = (a[0] + b[0]) / 2
    vertices = np.array([a, (mid, a[1]), (mid, b[1]), b], dtype=np.float64)
    return Path(vertices, [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4])


def plot_hypergraph(
    class_hypergraph: Any,
    *,
    highlight: tuple[str, int] | None = None,
    style: str = "bipartite",
    title: str | None = None,
    max_nodes: int | Literal["auto"] | None = "auto",
) -> Figure:
    """Classes × singular directions: the bipartite drawing of the HypergraphView, or Euler.

    Parameters
    ----------
    class_hypergraph:
        a :class:`~svdwidgets.ClassHypergraph` (``svdwidgets.class_hypergraph(...)``) or a
        ``HypergraphView`` (drawn from its traits).
    highlight:
        a direction ``(layer, index)`` to mark: a ring around its node, its curves drawn
        opaque and its classes' labels bold. It must be a node of the hypergraph.
    style:
        ``"bipartite"`` (our layout) or ``"euler"`` (``hypernetx.draw``'s rubber bands).
    max_nodes:
        the bipartite drawing's directions at most (the strongest of each class in turn;
        ``None``: all). ``"auto"``: a view's own ``max_nodes``, else
        :data:`~svdwidgets.hypergraph.layout.DEFAULT_MAX_NODES`.

    Praggastis et al., "The SVD of Convolutional Weights: A CNN Interpretability Framework",
    2022; HyperNetX (Joslyn et al., PNNL) for the Euler-style drawing.
    """
    if style not in STYLES:
        raise SVDWidgetsError(f"style must be one of {STYLES}; got {style!r}")
    graph = bipartite_graph(class_hypergraph)
    if max_nodes != "auto":
        if max_nodes is not None and (
            isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1
        ):
            raise SVDWidgetsError(
                f"max_nodes must be an int >= 1, None or 'auto'; got {max_nodes!r}"
            )
        graph = replace(graph, max_nodes=max_nodes)
    target = _check_highlight(graph, highlight)
    label = "Class hypergraph" if title is None else title
    if not isinstance(label, str):
        raise SVDWidgetsError(f"title must be a str; got {title!r}")
    if graph.threshold is not None:
        label += f" (threshold {graph.threshold:g})"
    if style == "euler":
        return _euler(class_hypergraph, graph, target, label)
    return _bipartite(graph, target, label)


def _check_highlight(graph: BipartiteGraph, highlight: Any) -> int | None:
    if highlight is None:
        return None
    try:
        layer, index = str(highlight[0]), int(highlight[1])
    except (TypeError, ValueError, IndexError) as err:
        raise SVDWidgetsError(f"highlight must be (layer, index); got {highlight!r}") from err
    if len(highlight) != 2:
        raise SVDWidgetsError(f"highlight must be (layer, index); got {highlight!r}")
    j = graph.node_of(layer, index)
    if j is None:
        raise SVDWidgetsError(
            f"highlight {(layer, index)} is not a node of the hypergraph: the nodes are the "
            f"influential directions of the layers {graph.layer_names} (e.g. {graph.node_ids[:3]})"
        )
    return j


def _layout(graph: BipartiteGraph) -> BipartiteLayout:
    """The layout the HypergraphView draws (:func:`.layout.bipartite_layout` of hypergraph)."""
    return bipartite_layout(
        graph.incidence,
        graph.node_layers,
        graph.node_indices,
        len(graph.layer_names),
        max_nodes=graph.max_nodes,
    )


def _headers(graph: BipartiteGraph, lay: BipartiteLayout, shown: np.ndarray) -> dict[int, str]:
    """Each headed layer's header text: its name and how many of its directions are drawn."""
    out = {}
    for layer, y in enumerate(lay.layer_y):
        if np.isfinite(y):
            k = int(np.count_nonzero(graph.node_layers[shown] == layer))
            total = int(np.count_nonzero(graph.node_layers == layer))
            out[layer] = f"{graph.layer_names[layer]} ({k if k == total else f'{k} of {total}'})"
    return out


def _width(graph: BipartiteGraph, lay: BipartiteLayout, shown: np.ndarray) -> float:
    """Inches: a column, wider when the labels need it (a ResNet's long layer names)."""
    counts = graph.class_counts if len(graph.class_counts) == len(graph.class_names) else None
    left = max(
        (len(n) + (0 if counts is None else 8) for n in graph.class_names),
        default=1,
    )
    right = [len(t) for t in _headers(graph, lay, shown).values()]
    for j in shown.tolist():
        layer = int(graph.node_layers[j])
        named = 0 if np.isfinite(lay.layer_y[layer]) else 3 + len(graph.layer_names[layer])
        right.append(len(str(int(graph.node_indices[j]))) + 8 + named)
    return max(st.COLUMN, 0.2 + 0.055 * left + 1.8 + 0.06 * max(right, default=1))


def _bipartite(graph: BipartiteGraph, target: int | None, title: str) -> Figure:
    lay = _layout(graph)
    c, n = graph.incidence.shape
    shown = np.flatnonzero(lay.shown)
    if len(shown) < n:
        title += f"\nthe {len(shown)} strongest of {n} directions (max_nodes)"
    if target is not None and not lay.shown[target]:
        target_hidden: str | None = graph.node_ids[target]
        target = None
    else:
        target_hidden = None
    fig = st.new_figure(
        _width(graph, lay, shown), max(lay.height / NODE_PITCH * ROW_INCHES + 0.95, 2.0)
    )
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(lay.height, 0.0)
    drawn = graph.incidence[:, shown]
    weight_max = float(drawn.max()) if drawn.size else 0.0
    lit_classes = set()
    if target is not None:
        lit_classes = {int(k) for k in np.flatnonzero(graph.incidence[:, target] > 0)}

    # edges of the drawn nodes, lightest first so that heavier ones lie on top; the more edges,
    # the fainter each (a dense graph stays readable)
    cs, js = np.nonzero((graph.incidence > 0) & lay.shown[None, :])
    w = graph.incidence[cs, js]
    order = np.argsort(w, kind="stable")
    fade = edge_fade(len(w))
    paths, colors, widths = [], [], []
    for e in order:
        cls, j = int(cs[e]), int(js[e])
        t = w[e] / weight_max if weight_max > 0 else 0.0
        alpha = (0.12 + 0.5 * t) * fade
        if target is not None:
            alpha = 0.9 if j == target else alpha * 0.5
        paths.append(_edge_path(lay.class_xy[cls] + (0.03, 0), lay.node_xy[j] - (0.02, 0)))
        colors.append(to_rgba(st.class_color(cls), alpha))
        widths.append(0.35 + 2.6 * t)
    edges = PathCollection(
        paths, facecolors="none", edgecolors=colors, linewidths=widths, zorder=1, clip_on=False
    )
    edges.set_gid("hypergraph-edges")
    ax.add_collection(edges)

    # classes: a dot each, the name (and its number of inputs) to its left
    counts = graph.class_counts if len(graph.class_counts) == c else None
    ax.scatter(
        lay.class_xy[:, 0],
        lay.class_xy[:, 1],
        s=(2 * CLASS_RADIUS * PT_PER_PX) ** 2,
        c=[st.class_color(k) for k in range(c)],
        edgecolors="white",
        linewidths=0.6,
        zorder=3,
        clip_on=False,
    ).set_gid("hypergraph-classes")
    for k, name in enumerate(graph.class_names):
        text = name if counts is None else f"{name} (n = {int(counts[k])})"
        ax.text(
            -0.035,
            lay.class_xy[k, 1],
            text,
            ha="right",
            va="center",
            fontsize=st.TICK,
            fontweight="bold" if k in lit_classes else "normal",
        )

    # the drawn nodes: area by total weight, filled with the class colour when unique to a class
    radii = lay.node_radius[shown] * PT_PER_PX  # points
    owners = [np.flatnonzero(graph.incidence[:, j] > 0) for j in shown]
    faces = [st.class_color(int(o[0])) if o.size == 1 else "white" for o in owners]
    ax.scatter(
        lay.node_xy[shown, 0],
        lay.node_xy[shown, 1],
        s=(2 * radii) ** 2,
        c=faces if len(shown) else None,
        edgecolors="#444444",
        linewidths=0.6,
        zorder=3,
        clip_on=False,
    ).set_gid("hypergraph-nodes")
    # node labels in two columns, as the view: the singular index right-aligned, then σ
    digits = max((len(str(int(graph.node_indices[j]))) for j in shown), default=1)
    index_end = 4.0 + 2.0 * float(radii.max(initial=0)) + 3.7 * digits  # points
    for j in shown.tolist():
        xy = (float(lay.node_xy[j, 0]), float(lay.node_xy[j, 1]))
        ax.annotate(
            f"{int(graph.node_indices[j])}",
            xy,
            xytext=(index_end, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=st.SMALL,
            color="#333333",
        )
        layer = int(graph.node_layers[j])
        inline = "" if np.isfinite(lay.layer_y[layer]) else f" · {graph.layer_names[layer]}"
        ax.annotate(
            f"σ {graph.node_sigmas[j]:.3g}{inline}",
            xy,
            xytext=(index_end + 3, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=st.SMALL,
            color="#666666",
        )
    for layer, text in _headers(graph, lay, shown).items():
        ax.annotate(
            text,
            (1.0, float(lay.layer_y[layer])),
            xytext=(-4, 0),
            textcoords="offset points",
            ha="left",
            va="baseline",
            fontsize=st.TICK,
            fontweight="bold",
        )
    if target is not None:
        x, y = lay.node_xy[target]
        for color, width in (("white", 2.4), ("black", 1.1)):
            ax.scatter(
                [x],
                [y],
                s=(2 * lay.node_radius[target] * PT_PER_PX + 7) ** 2,
                facecolors="none",
                edgecolors=color,
                linewidths=width,
                zorder=4,
                clip_on=False,
            ).set_gid("hypergraph-highlight")
        label = f"{graph.layer_names[int(graph.node_layers[target])]}:{graph.node_indices[target]}"
        k = len(lit_classes)
        where = f"class {graph.class_names[min(lit_classes)]}" if k == 1 else f"{k} classes"
        title += f"\nhighlighted: direction {label}, influential for {where}"
    elif target_hidden is not None:
        title += f"\nhighlighted: direction {target_hidden} (not among the drawn)"
    ax.set_title(title, fontsize=st.LABEL)
    handles = [
        Line2D(
            [],
            [],
            color="#777777",
            linewidth=2.4,
            alpha=0.6,
            label="curve: weight of the direction in the class",
        ),
        Line2D(
            [],
            [],
            marker="o",
            linestyle="none",
            markerfacecolor="white",
            markeredgecolor="#444444",
            markersize=6,
            label="node: area ∝ total weight",
        ),
        Line2D(
            [],
            [],
            marker="o",
            linestyle="none",
            markerfacecolor=st.class_color(0),
            markeredgecolor="#444444",
            markersize=6,
            label="filled: unique to one class (its colour)",
        ),
    ]
    st.legend_below(ax, handles=handles, labels=[h.get_label() for h in handles])
    return fig


def _euler(source: Any, graph: BipartiteGraph, target: int | None, title: str) -> Figure:
    """HyperNetX's rubber-band drawing on a seeded spring layout (``hypernetx.draw``)."""
    import hypernetx as hnx

    from svdwidgets.hypergraph.classes import ClassHypergraph

    if isinstance(source, ClassHypergraph):
        hyper = source.hypergraph
    else:
        ids = graph.node_ids
        hyper = hnx.Hypergraph(
            {
                name: [ids[j] for j in np.flatnonzero(graph.incidence[k] > 0)]
                for k, name in enumerate(graph.class_names)
            }
        )
    fig = st.new_figure(st.FULL, st.FULL * 0.75)
    ax: Axes = fig.subplots()
    colors = [st.class_color(graph.class_names.index(str(e))) for e in hyper.edges]
    pos = hnx.draw(
        hyper,
        ax=ax,
        layout_kwargs={"seed": 0},
        edges_kwargs={"edgecolors": colors, "linewidths": 1.2},
        nodes_kwargs={"facecolors": "white", "edgecolors": "#444444", "linewidths": 0.8},
        node_labels_kwargs={"fontsize": st.SMALL},
        edge_labels_kwargs={"fontsize": st.LABEL, "fontweight": "bold"},
        return_pos=True,
    )
    if target is not None:
        node = graph.node_ids[target]
        x, y = pos[node]
        for color, width in (("white", 2.4), ("black", 1.1)):
            ring = ax.scatter(
                [x], [y], s=150, facecolors="none", edgecolors=color, linewidths=width, zorder=10
            )
            ring.set_gid("hypergraph-highlight")
        title += f"\nhighlighted: direction {node}"
    ax.set_title(title, fontsize=st.LABEL)
    handles = [
        Line2D([], [], color=st.class_color(k), linewidth=1.6, label=name)
        for k, name in enumerate(graph.class_names)
    ]
    st.legend_below(
        ax,
        handles=handles,
        labels=[h.get_label() for h in handles],
        ncols=min(len(handles), 10),
        title="classes (hyperedges)",
        title_fontsize=st.SMALL,
    )
    return fig
