"""The class hypergraph: the influential rule, the bundled model's classes, bad input."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.hypergraph import (
    ClassHypergraph,
    class_hypergraph,
    influential,
    influential_mask,
    node_id,
)
from svdwidgets.model.profile import Profile, profile
from svdwidgets.model.projection import Projections, project
from svdwidgets.zoo import load_default

# --- the influential rule ----------------------------------------------------------------------


def _brute_force(scores: np.ndarray, threshold: float) -> tuple[int, float]:
    """The size of the smallest subset reaching the share, and the largest sum of that size."""
    total = scores.sum()
    for size in range(1, len(scores) + 1):
        sums = [sum(scores[list(c)]) for c in itertools.combinations(range(len(scores)), size)]
        if max(sums) >= threshold * total * (1 - 1e-12):  # up to rounding
            return size, max(sums)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("seed", range(6))
def test_influential_is_the_smallest_subset_reaching_the_threshold(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.exponential(size=8) ** 2  # distinct, skewed
    for threshold in (0.05, 0.2, 0.37, 0.5, 0.8, 0.95, 1.0):
        picked = influential(scores, threshold)
        size, best = _brute_force(scores, threshold)
        assert len(picked) == size
        assert scores[picked].sum() == pytest.approx(best)  # the heaviest smallest set
        assert scores[picked].sum() >= threshold * scores.sum() * (1 - 1e-12)
        assert list(scores[picked]) == sorted(scores[picked], reverse=True)


def test_influential_edge_cases_and_rows() -> None:
    assert influential(np.array([0.0, 0.0, 0.0]), 0.5) == []
    assert influential(np.array([1.0, 0.0, 3.0, 0.0]), 1.0) == [2, 0]  # zeros never needed
    assert influential(np.array([1.0, 1.0, 2.0]), 0.5) == [2]  # exactly on the threshold
    rows = np.random.default_rng(0).random((4, 6))
    mask = influential_mask(rows, 0.6)
    for r in range(4):
        assert sorted(np.flatnonzero(mask[r])) == sorted(influential(rows[r], 0.6))
    for bad in (0, -0.1, 1.5, True, "half"):
        with pytest.raises(SVDWidgetsError, match="threshold"):
            influential(np.ones(3), bad)  # type: ignore[arg-type]
    with pytest.raises(SVDWidgetsError, match="non-negative"):
        influential(np.array([1.0, -1.0]), 0.5)


# --- the bundled model -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> dict[str, Any]:
    bundle = load_default()
    per_class = 30  # 300 held-out digits, 30 of each class
    keep = torch.cat([torch.nonzero(bundle.labels == c)[:per_class, 0] for c in range(10)])
    images, labels = bundle.images[keep], bundle.labels[keep]
    prof = profile(
        bundle.model, input_shape=(1, 28, 28), method="unfolded", cache=False, progress=False
    )
    projections = project(prof, images, model=bundle.model)
    return {
        "model": bundle.model,
        "prof": prof,
        "images": images,
        "labels": labels,
        "names": bundle.class_names,
        "projections": projections,
    }


def test_hypergraph_of_the_bundled_model_separates_its_classes(bundled: dict[str, Any]) -> None:
    graph = class_hypergraph(
        None, bundled["projections"], bundled["labels"], class_names=bundled["names"]
    )
    assert graph.class_names == [str(c) for c in range(10)]
    assert graph.counts.tolist() == [30] * 10
    edges = graph.edges
    assert all(edges[c] for c in graph.class_names)  # every class has a hyperedge
    # every class has influential directions in every layer
    layers = bundled["projections"].layers
    assert layers == ["stem.conv", "down.conv", "block.conv1", "block.conv2", "fc"]
    for nodes in edges.values():
        assert {n.rsplit(":", 1)[0] for n in nodes} == set(layers)
    # the classes differ: not all hyperedges are the same, some directions belong to one class
    assert len({frozenset(e) for e in edges.values()}) > 1
    unique = graph.unique
    assert sum(len(u) for u in unique.values()) > 0
    for c, nodes in unique.items():
        for node in nodes:
            assert node in edges[c] and all(node not in edges[o] for o in edges if o != c)
    jac = graph.jaccard.to_numpy()
    np.testing.assert_array_equal(jac, jac.T)
    np.testing.assert_array_equal(np.diag(jac), np.ones(10))
    off = jac[~np.eye(10, dtype=bool)]
    assert off.min() >= 0 and off.max() < 1
    sep = graph.separation()
    assert sep["unique"].sum() == sum(len(u) for u in unique.values())
    assert (sep["nodes"] == [len(edges[c]) for c in graph.class_names]).all()


def test_a_higher_threshold_makes_nested_sets_that_overlap_more(bundled: dict[str, Any]) -> None:
    low = class_hypergraph(None, bundled["projections"], bundled["labels"], threshold=0.1)
    thresholds = [0.1, 0.3, 0.5, 0.7, 0.9, 0.95]
    graphs = [low.at(t) for t in thresholds]
    overlaps = []
    for smaller, larger in itertools.pairwise(graphs):
        for c in low.class_names:
            assert set(smaller.edges[c]) <= set(larger.edges[c])
    for g in graphs:
        jac = g.jaccard.to_numpy()
        overlaps.append(jac[~np.eye(10, dtype=bool)].mean())
    assert overlaps == sorted(overlaps) and overlaps[-1] > overlaps[0] + 0.2
    # at() is the same as building again at that threshold
    again = class_hypergraph(None, bundled["projections"], bundled["labels"], threshold=0.7)
    assert again.edges == graphs[3].edges
    # weights do not depend on the threshold; hyperedge weights sum to >= threshold per layer
    np.testing.assert_allclose(graphs[0].weights.to_numpy(), graphs[-1].weights.to_numpy())
    for g, t in zip(graphs, thresholds, strict=True):
        for c in g.class_names:
            row = g.incidence.loc[c]
            per_layer = row.groupby(g.nodes.loc[row.index, "layer"]).sum()
            assert (per_layer >= t - 1e-9).all()


def test_incidence_dataframe_matches_the_hypernetx_hypergraph(bundled: dict[str, Any]) -> None:
    graph = class_hypergraph(
        None, bundled["projections"], bundled["labels"], threshold=0.5, top_k=12
    )
    hyper = graph.hypergraph
    assert sorted(hyper.edges) == sorted(graph.class_names)
    assert set(hyper.nodes) == set(graph.incidence.columns)
    incidence = graph.incidence
    for c, nodes in hyper.incidence_dict.items():
        assert set(nodes) == set(incidence.columns[incidence.loc[c] > 0])
        assert set(nodes) == set(graph.edges[c])
    weighted = hyper.incidence_dataframe(weights=True).T  # classes x nodes
    weighted = weighted.loc[incidence.index, incidence.columns]
    np.testing.assert_allclose(weighted.to_numpy(), incidence.to_numpy(), rtol=1e-12)
    # node table: degree and unique_to agree with the incidence
    table = graph.nodes.loc[incidence.columns]
    assert (table["degree"].to_numpy() == (incidence.to_numpy() > 0).sum(axis=0)).all()
    assert set(table.index[table["degree"] == 1]) == {n for u in graph.unique.values() for n in u}
    assert table.loc[node_id("fc", 0), "sigma"] == pytest.approx(
        float(bundled["projections"]["fc"].values[0])
    )
    assert graph.scores.shape == (10, 9 + 3 * 12 + 10)  # stem.conv has 9 directions, fc 10
    # s-connected components partition the classes; large s separates them all
    for s in (1, 3):
        comps = graph.components(s)
        assert sorted(c for comp in comps for c in comp) == sorted(graph.class_names)
    assert graph.components(1) == [graph.class_names]  # they all share the top directions
    assert graph.components(10_000) == [[c] for c in graph.class_names]


def test_built_from_the_model_and_a_dataloader_with_labels(bundled: dict[str, Any]) -> None:
    images, labels = bundled["images"][::3], bundled["labels"][::3]
    loader = DataLoader(TensorDataset(images, labels), batch_size=32)
    graph = class_hypergraph(
        bundled["prof"], loader, model=bundled["model"], layers=["fc"], threshold=0.6
    )
    direct = class_hypergraph(
        None, bundled["projections"], bundled["labels"], layers=["fc"], threshold=0.6
    )
    assert graph.class_names == direct.class_names and graph.counts.tolist() == [10] * 10
    assert all(n.startswith("fc:") for e in graph.edges.values() for n in e)
    assert isinstance(graph, ClassHypergraph) and "threshold=0.6" in repr(graph)


# --- bad input ---------------------------------------------------------------------------------


def _tiny() -> tuple[nn.Module, Profile, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    prof = profile(model, input_shape=(1, 6, 6), method="unfolded", cache=False, progress=False)
    return model, prof, torch.randn(8, 1, 6, 6)


def test_bad_inputs() -> None:
    model, prof, x = _tiny()
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    with pytest.raises(SVDWidgetsError, match="7 labels but 8 inputs"):
        class_hypergraph(prof, x, labels[:7], model=model)
    with pytest.raises(SVDWidgetsError, match="class_names must be a non-empty list"):
        class_hypergraph(prof, x, labels, model=model, class_names="abcd")
    with pytest.raises(SVDWidgetsError, match=r"'d' \(label 3\) have no samples"):
        class_hypergraph(prof, x, labels, model=model, class_names=list("abcd"))
    with pytest.raises(SVDWidgetsError, match=r"label 2 is out of range.*2 classes"):
        class_hypergraph(prof, x, labels, model=model, class_names=["a", "b"])
    with pytest.raises(SVDWidgetsError, match=r"unknown layer\(s\) \['conv'\]"):
        class_hypergraph(prof, x, labels, model=model, layers=["conv"])
    projections = project(prof, x, model=model)
    assert isinstance(projections, Projections)
    with pytest.raises(SVDWidgetsError, match=r"unknown layer\(s\) \['2'\]"):
        class_hypergraph(None, projections, labels, layers=["2"])
    with pytest.raises(SVDWidgetsError, match="pass labels"):
        class_hypergraph(None, projections)
    with pytest.raises(SVDWidgetsError, match="integer"):
        class_hypergraph(None, projections, labels.float())
    with pytest.raises(SVDWidgetsError, match="non-negative"):
        class_hypergraph(None, projections, labels - 1)
    with pytest.raises(SVDWidgetsError, match="threshold must be in"):
        class_hypergraph(None, projections, labels, threshold=0.0)
    with pytest.raises(SVDWidgetsError, match="aggregate"):
        class_hypergraph(None, projections, labels, aggregate="sum")
    with pytest.raises(SVDWidgetsError, match="distinct"):
        class_hypergraph(None, projections, labels, class_names=["a", "a", "b"])
    with pytest.raises(SVDWidgetsError, match="Profile"):
        class_hypergraph(None, x, labels)
    graph = class_hypergraph(None, projections, labels, aggregate="max", top_k=2)
    assert graph.class_names == ["0", "1", "2"] and graph.scores.shape == (3, 4)
    with pytest.raises(SVDWidgetsError, match="s must be a positive int"):
        graph.components(0)
