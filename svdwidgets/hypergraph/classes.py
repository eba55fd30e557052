"""The class hypergraph: which singular directions each class of inputs drives.

Praggastis et al. (2022, with DeepDataProfiler) read a classifier through hypergraphs whose
hyperedges are classes and whose nodes are singular directions of the layers. Here:

- a **node** is a pair ``(layer, i)``: the ``i``-th singular direction of a layer (see
  :mod:`svdwidgets.model.projection` for the two definitions of the directions). In the
  HyperNetX hypergraph and the DataFrames it is named by the string ``"layer:i"``; the table
  :attr:`ClassHypergraph.nodes` maps the names back to the pair.
- a class's **score** of a node is the mean over the class's inputs of ``|p_i(n)|``, the
  absolute projection of the layer's output onto the direction (aggregated over output
  positions by the mean, DeepDataProfiler's choice, or the max).
- the **weight** of a node in a class is its share of the class's total score in that layer:
  ``w = score / Σ_layer scores``. Weights do not depend on the threshold.
- a class's **hyperedge** is, layer by layer, its influential directions
  (:mod:`svdwidgets.hypergraph.influence`): the fewest directions of the layer whose weights
  sum to at least ``threshold``. A higher threshold keeps more directions per class (the sets
  are nested: each hyperedge at ``t`` contains the one at ``t' < t``), so classes overlap
  more.

Class separation is read from the hyperedges: the nodes unique to one class, the pairwise
Jaccard overlap ``|A ∩ B| / |A ∪ B|`` of the classes' node sets (all layers pooled, as
DeepDataProfiler's ``jaccard``), and the ``s``-connected components of the classes (two
classes are ``s``-adjacent when they share at least ``s`` nodes; HyperNetX's
``s_connected_components``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.hypergraph.influence import check_threshold, influential_mask
from svdwidgets.model.projection import DEFAULT_BATCH_SIZE, Projections, project

if TYPE_CHECKING:
    import hypernetx as hnx
    import pandas as pd

    from svdwidgets.model.profile import Profile

__all__ = ["DEFAULT_THRESHOLD", "ClassHypergraph", "class_hypergraph", "node_id"]

DEFAULT_THRESHOLD = 0.5
"""Each class keeps, per layer, the fewest directions carrying half of its mean |projection|."""

AGGREGATES = ("mean", "max")


def node_id(layer: str, index: int) -> str:
    """The name of the node ``(layer, index)`` in the hypergraph and the DataFrames."""
    return f"{layer}:{index}"


class ClassHypergraph:
    """Classes as hyperedges over the singular directions that are influential for them.

    Built by :func:`class_hypergraph`; :meth:`at` rebuilds it at another threshold from the
    same scores without running the model again.

    Attributes
    ----------
    threshold:
        the share of each layer's score that every class's influential set reaches.
    class_names:
        the classes, in label order (hyperedge names).
    counts:
        ``pd.Series``: inputs per class.
    scores:
        ``pd.DataFrame`` classes x every candidate node: the class's mean ``|projection|``.
    weights:
        ``pd.DataFrame`` of the same shape: the scores as shares of each layer's total.
    incidence:
        ``pd.DataFrame`` classes x the hypergraph's nodes: a node's weight in the class where
        it is influential, 0 elsewhere.
    nodes:
        ``pd.DataFrame`` indexed by node name, for every candidate node: ``layer``, ``index``,
        ``sigma`` (the direction's singular value), ``degree`` (classes it is influential for),
        ``weight`` (sum of its weights over those classes), ``max_weight``, and ``unique_to``
        (the class, when it is influential for exactly one).
    """

    def __init__(
        self,
        scores: pd.DataFrame,
        nodes: pd.DataFrame,
        counts: pd.Series,
        threshold: float,
    ) -> None:
        self.threshold = check_threshold(threshold)
        self.class_names: list[str] = [str(c) for c in scores.index]
        self.counts = counts
        self.scores = scores
        layer_of = nodes["layer"]
        totals = scores.T.groupby(layer_of, sort=False).transform("sum").T
        self.weights = (scores / totals.where(totals > 0)).fillna(0.0)
        mask = np.zeros(scores.shape, dtype=bool)
        for layer in dict.fromkeys(layer_of):
            cols = np.flatnonzero((layer_of == layer).to_numpy())
            mask[:, cols] = influential_mask(scores.to_numpy()[:, cols], self.threshold)
        self._mask = mask
        member = mask.any(axis=0)
        incidence = self.weights.where(mask, 0.0)
        self.incidence = incidence.loc[:, member]
        degree = mask.sum(axis=0)
        table = nodes.copy()
        table["degree"] = degree
        table["weight"] = incidence.sum(axis=0).to_numpy()
        table["max_weight"] = incidence.max(axis=0).to_numpy()
        names = np.array(self.class_names, dtype=object)
        table["unique_to"] = [
            names[mask[:, j]][0] if degree[j] == 1 else None for j in range(mask.shape[1])
        ]
        self.nodes = table
        self._hypergraph: hnx.Hypergraph | None = None

    def __repr__(self) -> str:
        sizes = {c: len(e) for c, e in self.edges.items()}
        return f"ClassHypergraph(threshold={self.threshold}, edges={sizes})"

    @property
    def edges(self) -> dict[str, list[str]]:
        """Each class's hyperedge: its influential nodes, in layer order."""
        columns = np.array(self.scores.columns, dtype=object)
        return {c: list(columns[self._mask[i]]) for i, c in enumerate(self.class_names)}

    @property
    def unique(self) -> dict[str, list[str]]:
        """Each class's nodes that no other class has (empty lists included)."""
        out: dict[str, list[str]] = {c: [] for c in self.class_names}
        for node, owner in self.nodes["unique_to"].dropna().items():
            out[str(owner)].append(str(node))
        return out

    @property
    def hypergraph(self) -> hnx.Hypergraph:
        """The HyperNetX hypergraph: edges are classes, nodes influential directions.

        Cell weights (``H.incidences``) are the nodes' weights in the class; edge property
        ``count`` is the number of inputs of the class; node properties are ``layer``,
        ``index``, ``sigma`` and ``weight`` (the node's total weight, its HyperNetX weight).
        """
        if self._hypergraph is None:
            self._hypergraph = _to_hypernetx(self)
        return self._hypergraph

    @property
    def jaccard(self) -> pd.DataFrame:
        """Classes x classes: ``|A ∩ B| / |A ∪ B|`` of their node sets (1 on the diagonal)."""
        import pandas as pd

        m = self._mask.astype(np.int64)
        inter = m @ m.T
        sizes = m.sum(axis=1)
        union = sizes[:, None] + sizes[None, :] - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            jac = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
        np.fill_diagonal(jac, 1.0)
        return pd.DataFrame(jac, index=self.class_names, columns=self.class_names)

    def components(self, s: int = 1) -> list[list[str]]:
        """The ``s``-connected components of the classes (HyperNetX), each in class order.

        Two classes are ``s``-adjacent when their hyperedges share at least ``s`` nodes; a
        component is a maximal set of classes joined by chains of ``s``-adjacent classes. A
        class adjacent to none is a component of its own.
        """
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise SVDWidgetsError(f"s must be a positive int, got {s!r}")
        order = {c: i for i, c in enumerate(self.class_names)}
        found = self.hypergraph.s_connected_components(s=s, edges=True, return_singletons=True)
        comps = [sorted((str(c) for c in comp), key=order.__getitem__) for comp in found]
        listed = {c for comp in comps for c in comp}
        comps += [[c] for c in self.class_names if c not in listed]  # classes with no node
        return sorted(comps, key=lambda comp: order[comp[0]])

    def separation(self) -> pd.DataFrame:
        """One row per class: inputs, nodes, nodes unique to it, its most similar class."""
        import pandas as pd

        jac = self.jaccard.to_numpy().copy()
        np.fill_diagonal(jac, -1.0)
        nearest = jac.argmax(axis=1)
        unique = self.unique
        return pd.DataFrame(
            {
                "count": self.counts.to_numpy(),
                "nodes": self._mask.sum(axis=1),
                "unique": [len(unique[c]) for c in self.class_names],
                "nearest": [self.class_names[j] if len(jac) > 1 else None for j in nearest],
                "nearest_jaccard": [
                    float(jac[i, j]) if len(jac) > 1 else np.nan for i, j in enumerate(nearest)
                ],
            },
            index=pd.Index(self.class_names, name="class"),
        )

    def at(self, threshold: float) -> ClassHypergraph:
        """The same classes and scores, with the influential sets taken at ``threshold``."""
        columns = ["layer", "index", "sigma"]
        return ClassHypergraph(self.scores, self.nodes[columns], self.counts, threshold)


def class_hypergraph(
    prof: Profile | None,
    data: object,
    labels: object = None,
    *,
    model: nn.Module | None = None,
    layers: Sequence[str] | str | None = None,
    top_k: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    directions: str = "unfolded",
    aggregate: str = "mean",
    class_names: Sequence[object] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ClassHypergraph:
    """Build the class hypergraph of a profiled model on labelled data.

    Parameters
    ----------
    prof:
        the model's :class:`~svdwidgets.model.profile.Profile` (None when ``data`` is already
        a :class:`~svdwidgets.model.projection.Projections`).
    data:
        what :func:`svdwidgets.model.projection.project` accepts (a tensor, a DataLoader of
        ``(images, labels)``), or the ``Projections`` of the data computed before.
    labels:
        integer class labels, one per input (default: the labels that came with the data).
    model, layers, directions, batch_size:
        passed to :func:`~svdwidgets.model.projection.project`.
    top_k:
        only each layer's top ``top_k`` singular directions are candidate nodes (default: all
        unfolded directions; required for operator directions).
    threshold:
        in ``(0, 1]``: each class's influential directions carry this share of its mean
        ``|projection|`` in every layer (see :mod:`svdwidgets.hypergraph.influence`).
    aggregate:
        ``"mean"`` (DeepDataProfiler's) or ``"max"``: how a conv layer's per-position
        projections become one number per input before the absolute value is taken.
    class_names:
        names of the classes ``0..C-1``: then every label must be in that range and every class
        must have inputs. Default: the labels present, named by their value.
    """
    threshold = check_threshold(threshold)
    if aggregate not in AGGREGATES:
        raise SVDWidgetsError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    label_tensor = None if labels is None else _labels(labels)
    if isinstance(data, Projections):
        projections = _restricted(data, layers, top_k)
    else:
        if prof is None:
            raise SVDWidgetsError("pass the model's Profile, or data's Projections")
        if label_tensor is not None and isinstance(data, torch.Tensor):
            _check_length(label_tensor, int(data.shape[0]) if data.ndim else 0)
        projections = project(
            prof,
            data,
            model=model,
            layers=layers,
            k=top_k,
            directions=directions,
            batch_size=batch_size,
        )
    if label_tensor is None:
        if projections.labels is None:
            raise SVDWidgetsError(
                "pass labels=...: the data came without labels (a tensor, or batches "
                "without an (inputs, labels) pair)"
            )
        label_tensor = _labels(projections.labels)
    _check_length(label_tensor, projections.n)
    codes, names = _classes(label_tensor, class_names)
    scores, nodes, counts = _scores(projections, codes, names, aggregate)
    return ClassHypergraph(scores, nodes, counts, threshold)


def _labels(labels: object) -> torch.Tensor:
    try:
        t = torch.as_tensor(np.asarray(labels))
    except (TypeError, ValueError) as err:
        raise SVDWidgetsError(f"labels must be a 1-D sequence of ints, got {labels!r}") from err
    if t.ndim != 1 or t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise SVDWidgetsError(
            f"labels must be a 1-D integer tensor, got shape {tuple(t.shape)} dtype {t.dtype}"
        )
    if t.numel() and int(t.min()) < 0:
        raise SVDWidgetsError(f"labels must be non-negative class indices, got {int(t.min())}")
    return t.long()


def _check_length(labels: torch.Tensor, n: int) -> None:
    if labels.shape[0] != n:
        raise SVDWidgetsError(
            f"there are {labels.shape[0]} labels but {n} inputs: pass one label per input"
        )


def _classes(
    labels: torch.Tensor, class_names: Sequence[object] | None
) -> tuple[np.ndarray, list[str]]:
    """Labels as class positions ``0..C-1``, and the classes' names."""
    values = labels.numpy()
    if class_names is None:
        present = np.unique(values)
        return np.searchsorted(present, values), [str(int(c)) for c in present]
    if isinstance(class_names, str) or not isinstance(class_names, Sequence) or not class_names:
        raise SVDWidgetsError(f"class_names must be a non-empty list, got {class_names!r}")
    names = [str(c) for c in class_names]
    if len(set(names)) != len(names):
        raise SVDWidgetsError(f"class_names must be distinct, got {names}")
    top = int(values.max())
    if top >= len(names):
        raise SVDWidgetsError(
            f"label {top} is out of range: class_names names {len(names)} classes (0..."
            f"{len(names) - 1})"
        )
    counts = np.bincount(values, minlength=len(names))
    empty = [f"{names[c]!r} (label {c})" for c in np.flatnonzero(counts == 0)]
    if empty:
        raise SVDWidgetsError(f"class(es) {', '.join(empty)} have no samples in the data")
    return values, names


def _restricted(
    projections: Projections, layers: Sequence[str] | str | None, top_k: int | None
) -> Projections:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise SVDWidgetsError(f"top_k must be a positive int or None, got {top_k!r}")
    names = projections.layers
    if layers is not None:
        wanted = [layers] if isinstance(layers, str) else list(layers)
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise SVDWidgetsError(
                f"unknown layer(s) {unknown}; the projections hold the layers {names}"
            )
        names = [n for n in names if n in set(wanted)]
    if top_k is None:
        kept = {n: projections[n] for n in names}
    else:
        from dataclasses import replace

        kept = {}
        for n in names:
            p = projections[n]
            cut = min(top_k, p.k)
            kept[n] = replace(
                p,
                values=p.values[:cut],
                mean=p.mean[:, :cut],
                max=p.max[:, :cut],
                maps=None if p.maps is None else p.maps[:, :cut],
            )
    return Projections(
        directions=projections.directions,
        projections=kept,
        n=projections.n,
        labels=projections.labels,
        skipped=projections.skipped,
    )


def _scores(
    projections: Projections, codes: np.ndarray, names: list[str], aggregate: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    import pandas as pd

    counts = np.bincount(codes, minlength=len(names)).astype(np.float64)
    onehot = np.zeros((len(names), len(codes)))
    onehot[codes, np.arange(len(codes))] = 1.0
    blocks, rows = [], []
    for layer in projections.layers:
        p = projections[layer]
        values = getattr(p, aggregate).double().abs().numpy()
        blocks.append(onehot @ values / counts[:, None])  # class means of |p|
        rows += [
            {"node": node_id(layer, i), "layer": layer, "index": i, "sigma": float(p.values[i])}
            for i in range(p.k)
        ]
    nodes = pd.DataFrame(rows).set_index("node")
    index = pd.Index(names, name="class")
    scores = pd.DataFrame(np.concatenate(blocks, axis=1), index=index, columns=nodes.index)
    return scores, nodes, pd.Series(counts.astype(np.int64), index=index, name="count")


def _to_hypernetx(graph: ClassHypergraph) -> Any:
    try:
        import hypernetx as hnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the class hypergraph needs HyperNetX (pip install 'hypernetx>=2.4.3,<2.5')"
        ) from exc
    import pandas as pd

    incidence = graph.incidence
    setsystem = pd.DataFrame(
        [
            {"edge": c, "node": node, "weight": float(incidence.at[c, node])}
            for c, nodes in graph.edges.items()
            for node in nodes
        ],
        columns=["edge", "node", "weight"],
    )
    members = graph.nodes.loc[graph.incidence.columns]
    node_properties = pd.DataFrame(
        {
            "id": members.index.astype(str),
            "layer": members["layer"].to_numpy(),
            "index": members["index"].to_numpy(),
            "sigma": members["sigma"].to_numpy(),
            "weight": members["weight"].to_numpy(),
        }
    )
    edge_properties = pd.DataFrame({"id": graph.class_names, "count": graph.counts.to_numpy()})
    return hnx.Hypergraph(
        setsystem,
        edge_col="edge",
        node_col="node",
        cell_weight_col="weight",
        node_properties=node_properties,
        node_weight_prop_col="weight",
        edge_properties=edge_properties,
        name=f"classes (threshold {graph.threshold})",
    )
