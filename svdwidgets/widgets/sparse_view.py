"""SparsePathView: a λ slider over a sparse decision layer's regularisation path (bqplot).

Wong, Santurkar & Madry, "Leveraging Sparse Linear Layers for Debuggable Deep Networks",
ICML 2021: an elastic-net linear classifier on the projections onto singular directions
(:mod:`svdwidgets.neighbours.sparse`), fitted from ``λ_max`` (no weight) down. The view shows

* the path: train and test accuracy and the number of non-zero weights against ``λ`` (log
  axis, ``λ_max`` on the right), with the chosen ``λ`` marked;
* a ``λ`` slider (``continuous_update=False``) over the path's steps, smallest ``λ`` on the
  left as on the plot;
* the class hypergraph the surviving weights give at that ``λ``, drawn by
  :class:`~svdwidgets.widgets.HypergraphView` (class ``c`` -> direction ``(layer, i)`` where
  ``W[c, (layer, i)] != 0``, edge weight ``|W|``);
* with a threshold-rule :func:`svdwidgets.class_hypergraph` given, the per-class comparison of
  the two node sets (:func:`~svdwidgets.neighbours.sparse.compare_incidence`: shared nodes,
  Jaccard).

Nothing is refitted: every step was fitted when the path was traced; moving the slider reads it
(the path's own methods: the view computes nothing).
The kernel-side trait is ``step`` (an index into ``path.fits``, 0 at ``λ_max``).
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import bqplot as bq
import ipywidgets as ipw
import numpy as np
import traitlets

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._errors import TraitValueError
from svdwidgets.widgets.hypergraph_view import HypergraphView

if TYPE_CHECKING:
    import pandas as pd


__all__ = ["SparsePathView"]

_PATH_ATTRIBUTES = (
    "fits",
    "feature_names",
    "feature_sigmas",
    "class_names",
    "lambdas",
    "table",
    "incidence",
    "compare",
)

COLORS = {"train": "#1f77b4", "test": "#2ca02c", "nonzeros": "#d62728", "at": "#000000"}


class SparsePathView(ipw.VBox):
    """Accuracy and sparsity along a sparse decision layer's path, and its hypergraph at ``λ``.

    Parameters
    ----------
    path:
        a :class:`~svdwidgets.neighbours.sparse.SparsePath`
        (:func:`~svdwidgets.neighbours.sparse.sparse_decision_layer`).
    graph:
        the threshold-rule class hypergraph of the same layers, to compare with (optional).
    step:
        the step shown first (default: the last, the smallest ``λ``).
    """

    step = traitlets.Int(help="The path's step shown: an index into path.fits (0: λ_max).")

    def __init__(
        self,
        path: Any,  # a SparsePath
        *,
        graph: Any = None,  # a ClassHypergraph
        step: int | None = None,
        **kwargs: Any,
    ) -> None:
        # a SparsePath, read through what it offers (the widgets import no neighbours code)
        if not all(hasattr(path, a) for a in _PATH_ATTRIBUTES):
            raise SVDWidgetsError(
                f"SparsePathView needs a SparsePath (sparse_decision_layer), got "
                f"{type(path).__name__}"
            )
        if graph is not None and not hasattr(graph, "edges"):
            raise SVDWidgetsError(
                f"graph must be a ClassHypergraph (svdwidgets.class_hypergraph), got "
                f"{type(graph).__name__}"
            )
        self._path, self._graph = path, graph
        self._layers = list(dict.fromkeys(n.rsplit(":", 1)[0] for n in path.feature_names))
        self._sigmas = self._node_sigmas()
        self._table = path.table()
        self._build()
        super().__init__(
            children=[
                ipw.HBox([self._slider, self._readout]),
                self._figure,
                self._status,
                self._graph_view,
                self._compare_html,
            ],
            **kwargs,
        )
        self.add_class("svdw-sparse-path-view")
        first = len(path) - 1 if step is None else step
        self.step = first
        if first == 0:  # the trait's default: no change to observe
            self._draw()
        traitlets.link((self, "step"), (self._slider, "value"))

    def _node_sigmas(self) -> dict[str, float]:
        """σ of every feature's direction: from the path, else the threshold graph, else NaN."""
        if self._path.feature_sigmas is not None:
            return dict(zip(self._path.feature_names, self._path.feature_sigmas, strict=True))
        known: dict[str, float] = {}
        if self._graph is not None:
            known = {str(k): float(v) for k, v in self._graph.nodes["sigma"].items()}
        return {n: known.get(n, math.nan) for n in self._path.feature_names}

    def _build(self) -> None:
        path, table = self._path, self._table
        # smallest λ on the left, as on the plot's axis. The slider's own readout is off: with
        # continuous_update=False, ipywidgets 8 leaves it empty at the first option; the
        # kernel writes λ next to it instead.
        self._slider = ipw.SelectionSlider(
            options=[(f"{path.lambdas[i]:.3g}", i) for i in reversed(range(len(path)))],
            description="λ",
            continuous_update=False,
            readout=False,
            layout=ipw.Layout(width="420px"),
        )
        self._readout = ipw.Label()
        lam = np.asarray(path.lambdas, dtype=np.float64)
        xs = bq.LogScale()
        acc_scale = bq.LinearScale(min=0.0, max=1.0)
        nnz_scale = bq.LinearScale(min=0.0)
        self._train = bq.Lines(
            x=lam,
            y=table["train_accuracy"].to_numpy(),
            scales={"x": xs, "y": acc_scale},
            colors=[COLORS["train"]],
            marker="circle",
            marker_size=20,
            labels=["train accuracy"],
            display_legend=True,
        )
        test = table["test_accuracy"].to_numpy()
        self._test = bq.Lines(
            x=lam,
            y=test,
            scales={"x": xs, "y": acc_scale},
            colors=[COLORS["test"]],
            marker="circle",
            marker_size=20,
            labels=["test accuracy"],
            display_legend=True,
            visible=bool(np.isfinite(test).any()),
        )
        self._nonzeros = bq.Lines(
            x=lam,
            y=table["nonzeros"].to_numpy(dtype=np.float64),
            scales={"x": xs, "y": nnz_scale},
            colors=[COLORS["nonzeros"]],
            line_style="dashed",
            marker="square",
            marker_size=20,
            labels=["non-zero weights (right axis)"],
            display_legend=True,
        )
        self._at = bq.Lines(
            x=[lam[-1], lam[-1]], y=[0.0, 1.0], scales={"x": xs, "y": acc_scale}, colors=["black"]
        )
        self._figure = bq.Figure(
            marks=[self._train, self._test, self._nonzeros, self._at],
            axes=[
                bq.Axis(scale=xs, label="λ (elastic-net strength)"),
                bq.Axis(scale=acc_scale, side="left", label="accuracy", tick_format=".1f"),
                bq.Axis(
                    scale=nnz_scale,
                    side="right",
                    label="non-zero weights",
                    tick_format="d",
                    color=COLORS["nonzeros"],
                ),
            ],
            title="sparse decision layer: accuracy and sparsity along the path",
            legend_location="bottom-left",
            fig_margin={"top": 40, "bottom": 55, "left": 60, "right": 65},
            animation_duration=0,
            layout=ipw.Layout(width="100%", height="340px"),
        )
        self._status = ipw.HTML()
        self._graph_view = HypergraphView(
            title="sparse decision layer",
            class_names=list(path.class_names),
            class_counts=np.zeros(0, dtype=np.int32),
            layer_names=self._layers,
            node_layers=np.zeros(0, dtype=np.int32),
            node_indices=np.zeros(0, dtype=np.int32),
            node_sigmas=np.zeros(0, dtype=np.float32),
            incidence=np.zeros((len(path.class_names), 0), dtype=np.float32),
        )
        self._compare_html = ipw.HTML()

    # ----------------------------------------------------------------------------------------
    # Public API
    # ----------------------------------------------------------------------------------------

    @property
    def path(self) -> Any:
        return self._path

    @property
    def lam(self) -> float:
        """The ``λ`` of the shown step."""
        return self._path.lambdas[self.step]

    @property
    def hypergraph_view(self) -> HypergraphView:
        """The view of the shown step's sparse class hypergraph."""
        return self._graph_view

    @property
    def incidence(self) -> pd.DataFrame:
        """Classes x used directions, ``|W|`` at the shown step (``SparsePath.incidence``)."""
        return self._path.incidence(self.step)

    @property
    def comparison(self) -> pd.DataFrame | None:
        """Per class, the sparse nodes against the threshold rule's (None without a graph)."""
        if self._graph is None:
            return None
        return self._path.compare(self._graph, self.step)

    # ----------------------------------------------------------------------------------------
    # Validation, observers, drawing
    # ----------------------------------------------------------------------------------------

    @traitlets.validate("step")
    def _valid_step(self, proposal: traitlets.Bunch) -> int:
        value, n = proposal["value"], len(self._path)
        if not 0 <= value < n:
            raise TraitValueError(
                f"step {value} is out of range: the path has {n} steps (0 … {n - 1})"
            )
        return int(value)

    @traitlets.observe("step")
    def _on_step(self, change: traitlets.Bunch) -> None:
        self._draw()

    def _draw(self) -> None:
        step, row = self.step, self._table.iloc[self.step]
        self._readout.value = f"{self.lam:.3g} (step {step} of {len(self._path)}; 0 is λ_max)"
        with self._at.hold_sync():
            self._at.x = [self.lam, self.lam]
        incidence = self.incidence
        names = [str(c) for c in incidence.columns]
        parts = [n.rsplit(":", 1) for n in names]
        position = {name: i for i, name in enumerate(self._layers)}
        view = self._graph_view
        with view.hold_sync(), view.hold_trait_notifications():
            view.selected_nodes, view.selected_classes = [], []
            view.set_trait("highlight", None)
            view.node_layers = np.array([position[layer] for layer, _ in parts], dtype=np.int32)
            view.node_indices = np.array([int(i) for _, i in parts], dtype=np.int32)
            view.node_sigmas = np.array([self._sigmas[n] for n in names], dtype=np.float32)
            view.incidence = incidence.to_numpy(dtype=np.float32)
            view.title = (
                f"sparse decision layer at λ = {self.lam:.3g}: {int(row['nonzeros'])} weights"
            )
        test = row["test_accuracy"]
        self._status.value = (
            f"<b>step {step}</b> of {len(self._path)}: λ = {self.lam:.3g} · "
            f"{int(row['nonzeros'])} non-zero weights on {int(row['features_used'])} of "
            f"{len(self._path.feature_names)} directions (at most {int(row['per_class_max'])} "
            f"per class) · train accuracy {row['train_accuracy']:.3f}"
            + (f" · test accuracy {test:.3f}" if math.isfinite(test) else "")
            + f" · KKT violation {row['kkt']:.1e}"
        )
        cmp, graph = self.comparison, self._graph
        if cmp is None or graph is None:
            self._compare_html.value = ""
            return
        rows = "".join(
            f"<tr><td>{html.escape(str(r.Index))}</td><td>{r.sparse_nodes}</td>"
            f"<td>{r.threshold_nodes}</td><td>{r.shared}</td><td>{r.jaccard:.2f}</td></tr>"
            for r in cmp.itertuples()
        )
        self._compare_html.value = (
            "<b>sparse layer against the threshold rule</b> "
            f"(threshold {graph.threshold:g}; mean Jaccard {cmp['jaccard'].mean():.2f})"
            "<table class='svdw-sparse-compare' cellpadding='3'>"
            "<tr><th>class</th><th>sparse nodes</th>"
            "<th>threshold nodes</th><th>shared</th><th>Jaccard</th></tr>" + rows + "</table>"
        )
