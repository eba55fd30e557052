"""The hypergraph's fast path (issue #15): the operator directions of a layer come from one SVD
per frequency block (``Spectrum.vectors``), and the class hypergraph built on them is the one
the per-direction path gives: the same vectors bit for bit, the same scores as a brute-force
projection written out here, the same influential nodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from svdwidgets.analysis import Analysis
from svdwidgets.core.conv_svd import conv_svd
from svdwidgets.zoo import load_default


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(4, 6, 3, padding=1),
        nn.Conv2d(4, 6, 3, stride=2, padding=1),
        nn.Conv2d(4, 6, 3, padding=1, groups=2),
        nn.Conv2d(4, 6, 3, padding=1, padding_mode="circular"),
    ],
)
def test_vectors_are_the_per_index_vectors(conv: nn.Conv2d) -> None:
    torch.manual_seed(0)
    nn.init.normal_(conv.weight)
    spec = conv_svd(conv, (8, 8), method="fft")
    k = 24
    batched = spec.vectors(range(k))
    for i in range(k):
        v, u = spec.vector(i)
        assert torch.equal(batched[i][0], v) and torch.equal(batched[i][1], u), i


def _brute_force_scores(model: nn.Module, prof: object, x: torch.Tensor, y: torch.Tensor, k: int):
    """Class means of |<u_i, y_n - bias>| per layer, every direction from ``vector(i)``."""
    outputs: dict[str, torch.Tensor] = {}
    hooks = []
    names = prof.layers  # type: ignore[attr-defined]
    for name in names:
        module = model.get_submodule(name)

        def keep(m: nn.Module, a: object, out: torch.Tensor, name: str = name) -> None:
            outputs.setdefault(name, out.detach().clone())

        hooks.append(module.register_forward_hook(keep))
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    classes = sorted(set(y.tolist()))
    scores = {}
    for name in names:
        spec = prof[name]  # type: ignore[index]
        out = outputs[name].double()
        bias = model.get_submodule(name).bias
        if bias is not None:
            shape = [1, -1] + [1] * (out.ndim - 2)
            out = out - bias.detach().double().view(shape)
        cols = []
        for i in range(min(k, len(spec.values))):
            u = spec.vector(i)[1].double()
            p = (out.reshape(len(x), -1) @ u.reshape(-1)).abs()
            cols.append([float(p[y == c].mean()) for c in classes])
        scores[name] = np.array(cols).T  # classes x directions
    return scores


def _influential(row: np.ndarray, threshold: float) -> set[int]:
    order = np.argsort(-row, kind="stable")
    total, running, kept = row.sum(), 0.0, set()
    for j in order:
        if total <= 0 or running >= threshold * total * (1 - 1e-12):
            break
        kept.add(int(j))
        running += row[j]
    return kept


def test_the_hypergraph_matches_a_brute_force_on_the_bundled_model() -> None:
    bundle = load_default()
    x, y = bundle.images[::10], bundle.labels[::10]
    a = Analysis(bundle.model, x, y, bundle.class_names, cache=False)
    try:
        k = 8
        graph = a.hypergraph(top_k=k, threshold=0.5)
        expected = _brute_force_scores(bundle.model, a.profile(), x, torch.as_tensor(y), k)
        edges = graph.edges
        for name, block in expected.items():
            columns = [f"{name}:{i}" for i in range(block.shape[1])]
            got = graph.scores[columns].to_numpy()
            np.testing.assert_allclose(got, block, rtol=1e-4, atol=1e-6 * block.max())
            for c, cls in enumerate(graph.class_names):
                mine = {int(n.rsplit(":", 1)[1]) for n in edges[cls] if n.rsplit(":", 1)[0] == name}
                assert mine == _influential(block[c], 0.5), (name, cls)
    finally:
        a.close()


def test_fast_vectors_are_singular_vectors_of_the_dense_circular_operator() -> None:
    """A v = σ u and Aᵀ u = σ v on the dense operator, for the directions inverse iteration
    gives (well-separated block values) and those the block SVD gives."""
    torch.manual_seed(2)
    conv = nn.Conv2d(8, 12, 3, padding=1, padding_mode="circular", bias=False)
    size = 6
    spec = conv_svd(conv, (size, size), method="fft")
    basis = torch.eye(8 * size * size, dtype=torch.float64).reshape(-1, 8, size, size)
    padded = torch.nn.functional.pad(basis, (1, 1, 1, 1), mode="circular")
    dense = torch.nn.functional.conv2d(padded, conv.weight.detach().double())
    a = dense.reshape(basis.shape[0], -1).T  # (out, in)
    for i, (v, u) in enumerate(spec.vectors(range(40))):
        sigma = float(spec.values[i])
        v, u = v.double().reshape(-1), u.double().reshape(-1)
        assert torch.linalg.vector_norm(a @ v - sigma * u) <= 1e-4 * sigma, i
        assert torch.linalg.vector_norm(a.T @ u - sigma * v) <= 1e-4 * sigma, i
