"""The one bipartite layout of the class hypergraph (the view's traits and the figure's)."""

from __future__ import annotations

import numpy as np
import pytest

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.hypergraph import layout as L


def _brute_strongest(w: np.ndarray, max_nodes: int) -> set[int]:
    """Round robin written out: each round, every class offers its next heaviest node."""
    c, n = w.shape
    total = w.sum(axis=0)
    ranked = [
        sorted((j for j in range(n) if w[k, j] > 0), key=lambda j, k=k: (-w[k, j], -total[j], j))
        for k in range(c)
    ]
    taken: list[int] = []
    for r in range(n):
        offers = [(ranked[k][r], k) for k in range(c) if r < len(ranked[k])]
        offers.sort(key=lambda o: (-w[o[1], o[0]], -total[o[0]], o[0]))
        for j, _ in offers:
            if j not in taken:
                taken.append(j)
    taken += [j for j in range(n) if total[j] == 0]
    return set(taken[:max_nodes])


def _sparse(rng: np.random.Generator, c: int, n: int, density: float = 0.2) -> np.ndarray:
    w = rng.random((c, n)) * (rng.random((c, n)) < density)
    w[rng.integers(0, c, n), np.arange(n)] += 0.01  # every node in some class
    return w


def test_strongest_nodes_is_the_round_robin_of_the_classes() -> None:
    rng = np.random.default_rng(0)
    for c, n, m in [(3, 10, 4), (10, 200, 48), (7, 60, 7), (2, 5, 5), (4, 30, 1)]:
        w = _sparse(rng, c, n)
        keep = L.strongest_nodes(w, m)
        assert keep.sum() == min(m, n)
        assert set(np.flatnonzero(keep)) == _brute_strongest(w, m)
    w = _sparse(rng, 10, 300)
    keep = L.strongest_nodes(w, 48)
    for k in range(10):  # every class keeps its heaviest direction
        assert keep[np.argmax(w[k])]
    assert L.strongest_nodes(w, None).all() and L.strongest_nodes(w, 300).all()


def test_layout_places_rows_by_layer_then_index() -> None:
    w = np.array(
        [
            [0.5, 0.2, 0.3, 0.0, 0.0, 0.6],
            [0.4, 0.0, 0.3, 0.2, 0.0, 0.0],
            [0.1, 0.3, 0.0, 0.2, 0.4, 0.0],
        ]
    )
    lay = L.bipartite_layout(w, [0, 0, 1, 1, 1, 2], [1, 0, 4, 2, 7, 3], 3)
    y = lay.node_xy[:, 1]
    assert (lay.node_xy[:, 0] == 1).all() and (lay.class_xy[:, 0] == 0).all()
    # rows: stem (1, 0), block (3, 2, 4), fc (5); a header row before the layers of 2+ nodes,
    # a gap before fc's single node (its label names the layer: no header)
    rows = [1, 0, 3, 2, 4, 5]
    np.testing.assert_allclose(np.diff(y[rows]), [18, 18 + 24, 18, 18, 18 + L.LAYER_GAP])
    np.testing.assert_allclose(lay.layer_y[:2], y[[1, 3]] - L.HEADER_HEIGHT + L.HEADER_BASELINE)
    assert np.isnan(lay.layer_y[2])
    # radius: sqrt of the total weight, the heaviest node (0, total 1.0) at the largest radius
    total = w.sum(axis=0)
    expected = L.MIN_RADIUS + (L.MAX_RADIUS - L.MIN_RADIUS) * np.sqrt(total / total.max())
    np.testing.assert_allclose(lay.node_radius, expected)
    # classes spread evenly over the nodes' rows, everything inside the box
    pitch = min((y.max() - y.min()) / 2, L.MAX_CLASS_PITCH)  # 69 px, capped at 64
    np.testing.assert_allclose(np.diff(lay.class_xy[:, 1]), [pitch] * 2)
    assert np.mean(lay.class_xy[:, 1]) == pytest.approx((y.min() + y.max()) / 2)
    for v in (*y, *lay.class_xy[:, 1]):
        assert L.TOP <= v <= lay.height - L.BOTTOM


def test_many_classes_few_nodes_and_no_nodes_stay_in_the_box() -> None:
    w = np.ones((40, 2))
    lay = L.bipartite_layout(w, [0, 0], [0, 1], 1)
    np.testing.assert_allclose(np.diff(lay.class_xy[:, 1]), L.MIN_CLASS_PITCH)
    assert lay.class_xy[:, 1].min() >= L.TOP and lay.class_xy[:, 1].max() < lay.height
    empty = L.bipartite_layout(np.zeros((3, 0)), [], [], 2)
    assert empty.node_xy.shape == (0, 2) and np.isnan(empty.layer_y).all()
    assert (empty.class_xy[:, 1] > 0).all() and (empty.class_xy[:, 1] < empty.height).all()


def test_a_resnet50_sized_graph_is_cut_to_max_nodes() -> None:
    """53 conv layers x 16 candidates, 10 classes: 48 rows drawn, the rest NaN (not drawn)."""
    rng = np.random.default_rng(1)
    n_layers, per_layer = 53, 16
    w = _sparse(rng, 10, n_layers * per_layer, density=0.15)
    layers = np.repeat(np.arange(n_layers), per_layer)
    indices = np.tile(np.arange(per_layer), n_layers)
    lay = L.bipartite_layout(w, layers, indices, n_layers)
    shown = lay.shown
    assert shown.sum() == L.DEFAULT_MAX_NODES
    assert np.isnan(lay.node_xy[~shown]).all() and np.isnan(lay.node_radius[~shown]).all()
    per_layer_drawn = np.bincount(layers[shown], minlength=n_layers)
    headed = np.flatnonzero(per_layer_drawn >= 2)
    np.testing.assert_array_equal(np.flatnonzero(np.isfinite(lay.layer_y)), headed)
    assert len(set(lay.node_xy[shown, 1])) == L.DEFAULT_MAX_NODES  # one row each
    singles = int((per_layer_drawn == 1).sum())
    rows = len(headed) * L.HEADER_HEIGHT + singles * L.LAYER_GAP + 47 * L.NODE_PITCH
    assert lay.height == np.ceil(L.TOP + rows + L.MAX_RADIUS + L.BOTTOM)
    assert L.edge_fade(int((w[:, shown] > 0).sum())) < 1.0 and L.edge_fade(10) == 1.0
    full = L.bipartite_layout(w, layers, indices, n_layers, max_nodes=None)
    assert full.shown.all() and full.height > 10 * lay.height


def test_bad_input_names_the_value() -> None:
    w = np.ones((2, 3))
    with pytest.raises(SVDWidgetsError, match="max_nodes must be >= 1 or None; got 0"):
        L.strongest_nodes(w, 0)
    with pytest.raises(SVDWidgetsError, match=r"max_nodes must be an int >= 1 or None; got 2\.5"):
        L.strongest_nodes(w, 2.5)  # type: ignore[arg-type]
    with pytest.raises(SVDWidgetsError, match=r"node_layers has 2 and node_indices 3 values"):
        L.bipartite_layout(w, [0, 0], [0, 1, 2], 1)
    with pytest.raises(SVDWidgetsError, match=r"index the 1 layers; got values in \[0, 4\]"):
        L.bipartite_layout(w, [0, 4, 0], [0, 1, 2], 1)
    with pytest.raises(SVDWidgetsError, match="finite and non-negative"):
        L.bipartite_layout(-w, [0, 0, 0], [0, 1, 2], 1)
    with pytest.raises(SVDWidgetsError, match=r"\(classes, nodes\); got shape \(3,\)"):
        L.bipartite_layout(np.ones(3), [0, 0, 0], [0, 1, 2], 1)
