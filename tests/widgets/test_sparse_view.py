"""SparsePathView's state: the λ slider reads the path's fits; the hypergraph is |W| at λ."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pandas as pd
import pytest
import torch

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.hypergraph.classes import ClassHypergraph
from svdwidgets.neighbours.sparse import SparsePath, compare_incidence, regularization_path
from svdwidgets.widgets.sparse_view import SparsePathView

NAMES = [f"{layer}:{i}" for layer in ("conv", "fc") for i in range(6)]


@functools.lru_cache(maxsize=1)
def _path() -> SparsePath:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 12, generator=gen, dtype=torch.float64)
    y = (x[:, [0, 1, 7]] @ torch.randn(3, 3, generator=gen, dtype=torch.float64)).argmax(dim=1)
    path = regularization_path(
        x, y, x_test=x[:100], y_test=y[:100], n_lambdas=6, ratio=1e-2, feature_names=NAMES
    )
    return dataclasses.replace(path, feature_sigmas=[float(12 - j) for j in range(12)])


def _graph(path: SparsePath) -> ClassHypergraph:
    """A threshold-rule hypergraph over the same nodes (scores: the class means of |x|)."""
    gen = torch.Generator().manual_seed(1)
    scores = pd.DataFrame(
        torch.rand(3, 12, generator=gen).numpy(), index=path.class_names, columns=NAMES
    )
    nodes = pd.DataFrame(
        {
            "layer": [n.split(":")[0] for n in NAMES],
            "index": [int(n.split(":")[1]) for n in NAMES],
            "sigma": np.arange(12.0, 0.0, -1.0),
        },
        index=NAMES,
    )
    return ClassHypergraph(scores, nodes, pd.Series([100, 100, 100], index=path.class_names), 0.5)


def test_the_slider_shows_each_fit() -> None:
    path = _path()
    view = SparsePathView(path)
    assert view.step == len(path) - 1 and view._slider.value == view.step
    assert view._slider.continuous_update is False
    # the slider runs like the plot's λ axis: smallest λ on the left
    assert [v for _, v in view._slider.options] == list(reversed(range(len(path))))
    assert view._readout.value.startswith(f"{path.lambdas[-1]:.3g} (step {len(path) - 1}")
    for step in (0, 3, len(path) - 1):
        view._slider.value = step  # what the browser's slider sends
        assert view.step == step and view.lam == path.lambdas[step]
        w = path.fits[step].weight
        graph = view.hypergraph_view
        used = np.flatnonzero((w != 0).any(dim=0).numpy())
        assert graph.node_ids == [NAMES[j] for j in used]
        np.testing.assert_allclose(graph.incidence, w.abs().numpy()[:, used], rtol=1e-6)
        np.testing.assert_array_equal(graph.node_sigmas, [12.0 - j for j in used])
        assert graph.layer_names == ["conv", "fc"]
        assert f"{int((w != 0).sum())} non-zero weights" in view._status.value
        np.testing.assert_allclose(np.asarray(view._at.x, dtype=float), path.lambdas[step])
    view.step = 0
    assert view.hypergraph_view.incidence.shape == (3, 0)  # λ_max: no weight, no node


def test_the_path_plot_is_the_table() -> None:
    path = _path()
    view = SparsePathView(path, step=2)
    table = path.table()
    np.testing.assert_array_equal(np.asarray(view._train.x, dtype=float), path.lambdas)
    np.testing.assert_array_equal(np.asarray(view._test.y, dtype=float), table["test_accuracy"])
    np.testing.assert_array_equal(np.asarray(view._nonzeros.y, dtype=float), table["nonzeros"])
    assert view._test.visible


def test_comparison_with_the_threshold_rule() -> None:
    path = _path()
    graph = _graph(path)
    view = SparsePathView(path, graph=graph, step=4)
    pd.testing.assert_frame_equal(view.comparison, compare_incidence(path, graph, 4))
    assert "Jaccard" in view._compare_html.value
    assert SparsePathView(path).comparison is None


def test_the_state_serialises() -> None:
    """What a notebook or an HTML export sends: every child's state (no attribute shadows
    the widget machinery)."""
    from ipywidgets.embed import dependency_state

    view = SparsePathView(_path(), graph=_graph(_path()), step=3)
    state = dependency_state(view)
    assert view.model_id in state and view.hypergraph_view.model_id in state
    graph_state = state[view.hypergraph_view.model_id]["state"]
    assert graph_state["title"].startswith("sparse decision layer at λ")


def test_bad_input() -> None:
    path = _path()
    view = SparsePathView(path, step=1)
    with pytest.raises(SVDWidgetsError, match=r"step 6 is out of range.*0 … 5"):
        view.step = 6
    assert view.step == 1  # rolled back
    with pytest.raises(SVDWidgetsError, match="step -1"):
        SparsePathView(path, step=-1)
    with pytest.raises(SVDWidgetsError, match="needs a SparsePath"):
        SparsePathView(path.table())  # type: ignore[arg-type]
    with pytest.raises(SVDWidgetsError, match="ClassHypergraph"):
        SparsePathView(path, graph=path.edges())  # type: ignore[arg-type]
