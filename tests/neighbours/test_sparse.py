"""The sparse decision layer: KKT optimality, the path's behaviour, the incidence."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.neighbours.sparse import (
    SparsePath,
    compare_incidence,
    fit_elastic_net,
    kkt_violation,
    lambda_max,
    regularization_path,
    sparse_decision_layer,
)
from svdwidgets.zoo import load_default

LAYERS = ["down.conv", "block.conv2"]


@functools.lru_cache(maxsize=1)
def _path() -> tuple[SparsePath, sw.Profile]:
    b = load_default()
    prof = sw.profile(
        b.model, input_shape=(1, 28, 28), method="unfolded", cache=False, progress=False
    )
    train = torch.arange(0, 4000, 8)  # 500 training digits, balanced enough
    path = sparse_decision_layer(
        prof,
        b.train_images[train],
        b.train_labels[train],
        test_images=b.images,
        test_labels=b.labels,
        layers=LAYERS,
        k=8,
        n_lambdas=6,
        ratio=1e-2,
        tol=1e-5,
    )
    return path, prof


def test_solver_satisfies_the_kkt_conditions() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 12, generator=gen, dtype=torch.float64)
    y = (x[:, :3] @ torch.randn(3, 4, generator=gen, dtype=torch.float64)).argmax(dim=1)
    top = lambda_max(x, y, 0.9)
    # at λ_max the optimum is W = 0; just below, something enters
    at_top = fit_elastic_net(x, y, top * (1 + 1e-6), alpha=0.9, tol=1e-9)
    assert at_top.nonzeros == 0 and at_top.kkt <= 1e-9
    fit = fit_elastic_net(x, y, 0.05 * top, alpha=0.9, tol=1e-9, max_iter=20000)
    assert fit.kkt <= 1e-9
    assert kkt_violation(x, y, fit.weight, fit.bias, fit.lam, 0.9) <= 1e-9
    assert 0 < fit.nonzeros < fit.weight.numel()
    # the check has teeth: moving one weight breaks it
    moved = fit.weight.clone()
    moved[0, 0] += 1e-3
    assert kkt_violation(x, y, moved, fit.bias, fit.lam, 0.9) > 1e-5

    # and the objective is lower than at nearby points (it is the minimum)
    def objective(w: torch.Tensor, b: torch.Tensor) -> float:
        ce = torch.nn.functional.cross_entropy(x @ w.T + b, y)
        lam = fit.lam
        return float(ce + lam * (0.9 * w.abs().sum() + 0.05 * w.square().sum()))

    best = objective(fit.weight, fit.bias)
    for _ in range(5):
        dw = 1e-3 * torch.randn(fit.weight.shape, generator=gen, dtype=torch.float64)
        assert objective(fit.weight + dw, fit.bias) >= best - 1e-12


def test_lambda_max_is_the_exact_top_of_the_path() -> None:
    """At exactly ``λ_max`` the optimum is ``W = 0``: no weight of one rounding error survives
    (iterating there left a ~1e-16 weight on 7 of these 80 problems), and just below it a
    weight enters (the closed form is not taken too early)."""
    for seed in range(20):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(200, 10, generator=gen, dtype=torch.float64)
        y = torch.randint(0, 4, (200,), generator=gen)
        for alpha in (0.5, 0.9, 0.99, 1.0):
            top = lambda_max(x, y, alpha)
            at_top = fit_elastic_net(x, y, top, alpha=alpha)
            assert at_top.nonzeros == 0 and at_top.iterations == 0 and at_top.kkt <= 1e-15
            counts = torch.bincount(y, minlength=4).double()
            assert torch.allclose(at_top.bias, torch.log(counts / 200))
            # W = 0 violates the KKT conditions here by ~1e-3·λα, far above the default tol
            below = fit_elastic_net(x, y, top * (1 - 1e-3), alpha=alpha)
            assert below.nonzeros > 0 and below.kkt <= 1e-6, (seed, alpha)


def test_path_on_the_bundled_model() -> None:
    path, _ = _path()
    table = path.table()
    assert (table["kkt"] <= 1e-4).all()
    nnz = table["nonzeros"].to_numpy()
    assert nnz[0] == 0 and np.all(np.diff(nnz) >= -2)  # sparsity falls as λ falls
    acc = table["test_accuracy"].to_numpy()
    assert acc[0] == pytest.approx(0.1)  # λ_max: the constant (balanced) prediction
    assert acc[-1] >= 0.9  # the network itself: 0.989
    assert acc[-1] >= acc[1]
    assert nnz[-1] < 10 * 12  # still sparse at the end


def test_incidence_matches_the_weights() -> None:
    path, prof = _path()
    incidence = path.incidence()
    w = path.fits[-1].weight
    used = (w != 0).any(dim=0)
    assert list(incidence.columns) == [
        n for n, u in zip(path.feature_names, used, strict=True) if u
    ]
    full = np.zeros(w.shape)
    cols = [path.feature_names.index(c) for c in incidence.columns]
    full[:, cols] = incidence.to_numpy()
    assert np.array_equal(full, w.abs().numpy())
    edges = path.edges()
    assert sum(len(e) for e in edges.values()) == int((w != 0).sum())
    b = load_default()
    graph = sw.class_hypergraph(prof, b.images[::4], b.labels[::4], layers=LAYERS, top_k=6)
    cmp = compare_incidence(path, graph)
    assert list(cmp.index) == path.class_names
    assert (cmp["sparse_nodes"] == [len(edges[c]) for c in path.class_names]).all()
    assert ((cmp["jaccard"] >= 0) & (cmp["jaccard"] <= 1)).all()


def test_bad_input() -> None:
    x = torch.randn(10, 3, dtype=torch.float64)
    with pytest.raises(SVDWidgetsError, match="alpha"):
        fit_elastic_net(x, torch.arange(10) % 2, 0.1, alpha=0)
    with pytest.raises(SVDWidgetsError, match="one label per row"):
        fit_elastic_net(x, torch.arange(9) % 2, 0.1)
    with pytest.raises(SVDWidgetsError, match="2-D float"):
        regularization_path(torch.arange(10), torch.arange(10) % 2)
    with pytest.raises(SVDWidgetsError, match="ratio"):
        regularization_path(x, torch.arange(10) % 2, ratio=0)
