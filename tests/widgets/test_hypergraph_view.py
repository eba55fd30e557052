"""HypergraphView's Python state: traits from a class hypergraph, binary round trips, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.hypergraph.classes import ClassHypergraph
from svdwidgets.widgets import HypergraphView
from svdwidgets.widgets.serialization import array_from_json

CLASSES = ["cat", "dog", "<img src=x onerror=alert(1)>"]


def _hypergraph(threshold: float = 0.5, classes: list[str] = CLASSES) -> ClassHypergraph:
    """3 classes over 2 layers (4 + 3 candidate directions), fixed scores."""
    nodes = pd.DataFrame(
        {
            "layer": ["conv1"] * 4 + ["fc"] * 3,
            "index": [0, 1, 2, 3, 0, 1, 2],
            "sigma": [4.0, 3.0, 2.0, 1.0, 2.5, 1.5, 0.5],
        },
        index=pd.Index([f"conv1:{i}" for i in range(4)] + [f"fc:{i}" for i in range(3)]),
    )
    scores = np.array(
        [
            [5.0, 1.0, 0.5, 0.1, 3.0, 0.2, 0.1],
            [1.0, 5.0, 0.5, 0.1, 0.2, 3.0, 0.1],
            [2.0, 2.0, 0.2, 4.0, 0.1, 0.2, 3.0],
        ]
    )[: len(classes)]
    index = pd.Index(classes, name="class")
    return ClassHypergraph(
        pd.DataFrame(scores, index=index, columns=nodes.index),
        nodes,
        pd.Series(np.arange(10, 10 + len(classes)), index=index, name="count"),
        threshold,
    )


def _wire(widget: HypergraphView, name: str) -> np.ndarray:
    """What the front end receives for an array trait, decoded again (buffers as bytes)."""
    state = widget.get_state(name)[name]
    back = array_from_json({**state, "buffer": bytes(state["buffer"])})
    assert back is not None
    return back


def test_traits_from_a_class_hypergraph() -> None:
    hg = _hypergraph()
    w = HypergraphView.from_hypergraph(hg)
    assert w.class_names == CLASSES
    assert w.layer_names == ["conv1", "fc"]
    assert w.node_ids == list(hg.incidence.columns)
    assert w.incidence.dtype == np.float32 and w.incidence.shape == hg.incidence.shape
    np.testing.assert_allclose(w.incidence, hg.incidence.to_numpy(), rtol=1e-6)
    members = hg.nodes.loc[hg.incidence.columns]
    np.testing.assert_array_equal(w.node_indices, members["index"].to_numpy())
    np.testing.assert_allclose(w.node_sigmas, members["sigma"].to_numpy())
    assert [w.layer_names[i] for i in w.node_layers] == list(members["layer"])
    np.testing.assert_array_equal(w.class_counts, [10, 11, 12])
    assert w.threshold == 0.5 and w.max_nodes == 48
    assert not hasattr(w, "graph_layout")  # the one-value enum is gone (one layout)
    assert w.layout.__class__.__name__ == "Layout"  # the DOMWidget's CSS box is untouched
    assert w.title == "Class hypergraph"
    assert w.selected_nodes == [] and w.selected_classes == [] and w.highlight is None


def test_state_round_trips_as_binary_buffers() -> None:
    w = HypergraphView.from_hypergraph(_hypergraph())
    state = w.get_state()
    for name, dtype in [
        ("incidence", "float32"),
        ("node_layers", "int32"),
        ("node_indices", "int32"),
        ("node_sigmas", "float32"),
        ("class_counts", "int32"),
        ("class_xy", "float32"),
        ("node_xy", "float32"),
        ("node_radius", "float32"),
        ("layer_y", "float32"),
    ]:
        assert set(state[name]) == {"dtype", "shape", "buffer"}
        assert state[name]["dtype"] == dtype
        assert isinstance(state[name]["buffer"], memoryview)
        np.testing.assert_array_equal(_wire(w, name), getattr(w, name))
    assert state["class_names"] == CLASSES  # text, escaped by the front end
    from ipywidgets.widgets.widget import _remove_buffers

    _, paths, _ = _remove_buffers(state)
    assert ["incidence", "buffer"] in paths


def test_front_end_selection_and_what_it_highlights() -> None:
    hg = _hypergraph()
    w = HypergraphView.from_hypergraph(hg)
    seen: list[list[int]] = []
    w.observe(lambda ch: seen.append(ch["new"]), "selected_nodes")
    j = w.node_ids.index("conv1:0")
    w.set_state({"selected_nodes": [j], "selected_classes": []})  # JSON lists from the browser
    assert seen == [[j]]
    assert w.selected_directions == [("conv1", 0)]
    expected = [c for c in hg.class_names if hg.incidence.at[c, "conv1:0"] > 0]
    assert w.highlighted_classes == expected and len(expected) >= 2
    w.selected_nodes = []
    w.selected_classes = [0]
    edge = hg.edges["cat"]
    assert [w.node_ids[k] for k in w.highlighted_nodes] == edge
    assert w.node_of("fc", 0) == w.node_ids.index("fc:0")
    assert w.node_of("nope", 0) is None


def test_highlight_a_direction() -> None:
    w = HypergraphView.from_hypergraph(_hypergraph())
    w.highlight = ("conv1", 1)
    assert w.highlight == ("conv1", 1)
    w.highlight = ("conv1", 99)  # allowed: not a node at this threshold, the view says so
    w.set_state({"highlight": ["fc", 2]})  # a JSON list from the browser
    assert w.highlight == ("fc", 2)
    w.set_state({"highlight": None})
    assert w.highlight is None
    with pytest.raises(SVDWidgetsError, match="'nope'"):
        w.highlight = ("nope", 0)
    assert w.highlight is None  # rolled back


def test_a_hypergraph_without_classes_is_an_error() -> None:
    hg = _hypergraph(classes=[])
    with pytest.raises(SVDWidgetsError, match=r"no classes \(incidence shape \(0, 0\)\)"):
        HypergraphView.from_hypergraph(hg)
    with pytest.raises(SVDWidgetsError, match=r"needs a ClassHypergraph.*DataFrame"):
        HypergraphView.from_hypergraph(pd.DataFrame())


def test_selections_out_of_range_are_errors() -> None:
    w = HypergraphView.from_hypergraph(_hypergraph())
    n = len(w.node_ids)
    with pytest.raises(SVDWidgetsError, match=rf"selected_nodes \[{n}\] out of range.*{n} nodes"):
        w.selected_nodes = [0, n]
    with pytest.raises(SVDWidgetsError, match=r"selected_nodes \[-1\]"):
        w.set_state({"selected_nodes": [-1]})
    with pytest.raises(SVDWidgetsError, match=r"selected_classes \[3\] out of range.*3 classes"):
        w.selected_classes = [3]
    with pytest.raises(SVDWidgetsError, match=r"selected_nodes \[7\]"):
        HypergraphView.from_hypergraph(_hypergraph(), selected_nodes=[7])
    assert w.selected_nodes == []
    w.selected_nodes = [2, 2, 1]  # duplicates dropped, order kept
    assert w.selected_nodes == [2, 1]


def test_inconsistent_arrays_are_errors() -> None:
    with pytest.raises(
        SVDWidgetsError, match=r"incidence has shape \(2, 3\), expected .* \(1, 3\)"
    ):
        HypergraphView(
            class_names=["a"],
            layer_names=["l"],
            node_layers=[0, 0, 0],
            node_indices=[0, 1, 2],
            node_sigmas=[1.0, 1.0, 1.0],
            incidence=np.ones((2, 3)),
        )
    with pytest.raises(SVDWidgetsError, match="node_layers must index layer_names"):
        HypergraphView(
            class_names=["a"],
            layer_names=["l"],
            node_layers=[0, 1],
            node_indices=[0, 1],
            node_sigmas=[1.0, 1.0],
            incidence=np.ones((1, 2)),
        )
    with pytest.raises(SVDWidgetsError, match="finite and non-negative"):
        HypergraphView(
            class_names=["a"],
            layer_names=["l"],
            node_layers=[0],
            node_indices=[0],
            node_sigmas=[1.0],
            incidence=[[np.nan]],
        )
    with pytest.raises(SVDWidgetsError, match=r"max_nodes must be >= 1 or None.*got 0"):
        HypergraphView.from_hypergraph(_hypergraph(), max_nodes=0)


def test_the_layout_travels_as_traits_and_follows_the_data() -> None:
    """The coordinates are bipartite_layout's, recomputed when the data or max_nodes change."""
    from svdwidgets.hypergraph.layout import bipartite_layout

    w = HypergraphView.from_hypergraph(_hypergraph())
    lay = bipartite_layout(w.incidence, w.node_layers, w.node_indices, len(w.layer_names))
    np.testing.assert_allclose(w.node_xy, lay.node_xy, rtol=1e-6)
    np.testing.assert_allclose(w.class_xy, lay.class_xy, rtol=1e-6)
    np.testing.assert_allclose(w.node_radius, lay.node_radius, rtol=1e-6)
    np.testing.assert_allclose(w.layer_y, lay.layer_y, rtol=1e-6)
    assert w.graph_height == lay.height and w.shown_nodes == list(range(len(w.node_ids)))
    np.testing.assert_array_equal(_wire(w, "node_xy"), w.node_xy)

    sent: list[str] = []
    w.observe(lambda ch: sent.append(ch["name"]), ["node_xy", "graph_height"])
    w.max_nodes = 2
    assert len(w.shown_nodes) == 2 and "node_xy" in sent
    hidden = [j for j in range(len(w.node_ids)) if j not in w.shown_nodes]
    assert np.isnan(w.node_xy[hidden]).all() and np.isnan(w.node_radius[hidden]).all()
    assert w.graph_height < lay.height

    # the arrays replaced one at a time: empty while they disagree, placed when they agree
    with w.hold_trait_notifications():
        w.class_names = ["a"]
        w.incidence = np.ones((1, 2), dtype=np.float32)
        w.node_layers = np.zeros(2, dtype=np.int32)
        w.node_indices = np.array([3, 1], dtype=np.int32)
        w.node_sigmas = np.ones(2, dtype=np.float32)
        w.class_counts = np.zeros(0, dtype=np.int32)
    assert w.node_xy.shape == (2, 2) and w.node_xy[1, 1] < w.node_xy[0, 1]  # index order
    w.class_names = ["a", "b"]
    assert w.node_xy.shape == (0, 2) and w.graph_height == 0.0


def test_threshold_changes_keep_the_nodes_in_range() -> None:
    """A looser threshold has more nodes: a selection made there is checked against them."""
    loose = HypergraphView.from_hypergraph(_hypergraph(threshold=0.95))
    tight = HypergraphView.from_hypergraph(_hypergraph(threshold=0.3))
    assert len(loose.node_ids) > len(tight.node_ids)
    assert set(tight.node_ids) <= set(loose.node_ids)
