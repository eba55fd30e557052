"""A sparse linear decision layer over the projections onto singular directions.

Wong, Santurkar & Madry, "Leveraging Sparse Linear Layers for Debuggable Deep Networks",
ICML 2021 (https://arxiv.org/abs/2105.04857): replace a network's dense last layer by an
elastic-net-regularised multinomial linear classifier fitted on standardised deep features, and
read the network through the few features each class keeps. Their solver, glm-saga, traces the
regularisation path from ``λ_max`` (all weights zero) down, warm-starting each fit at the last.

Here the deep features are the projections of the inputs onto the layers' singular directions
(:mod:`svdwidgets.model.projection`, the ``mean`` aggregate: one number per input and
``(layer, i)`` direction), concatenated over the chosen layers and standardised with the
training set's mean and standard deviation. For ``N`` inputs ``x_n`` with labels ``y_n`` the
fit minimises, over ``W`` (``C x d``) and an unpenalised bias ``b``,

    F(W, b) = (1/N) Σ_n CE(W x_n + b, y_n) + λ (α ‖W‖_1 + (1 - α)/2 ‖W‖_F²)

by accelerated proximal gradient (FISTA with adaptive restart, step ``1/L`` with
``L = ‖[X, 1]‖_2² / (2N)``, Böhning's bound on the softmax Hessian), stopping when the
elastic-net KKT conditions hold to ``tol`` (:func:`kkt_violation`). ``λ_max`` is the smallest
``λ`` for which ``W = 0`` is optimal: ``max |∇_W CE(0, b*)| / α`` with ``b*`` the log class
frequencies; at and above it the solver returns that closed-form solution.

The surviving weights give a second class hypergraph: class ``c``'s hyperedge is the set of
nodes ``(layer, i)`` with ``W[c, (layer, i)] != 0``, weighted by ``|W|``; compare it with the
threshold rule of :mod:`svdwidgets.hypergraph.classes` with :func:`compare_incidence`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from svdwidgets.core.solvers import single_threaded_lapack
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.hypergraph.classes import node_id
from svdwidgets.model.projection import project

if TYPE_CHECKING:
    import pandas as pd

    from svdwidgets.hypergraph.classes import ClassHypergraph
    from svdwidgets.model.profile import Profile

__all__ = [
    "ElasticNetFit",
    "SparsePath",
    "Standardizer",
    "compare_incidence",
    "fit_elastic_net",
    "kkt_violation",
    "lambda_max",
    "projection_features",
    "regularization_path",
    "sparse_decision_layer",
]


def projection_features(
    prof: Profile,
    images: torch.Tensor,
    *,
    layers: Sequence[str] | str | None = None,
    k: int | None = None,
    batch_size: int = 256,
) -> tuple[torch.Tensor, list[str]]:
    """``(N, d)`` float64 features (the ``mean`` projections of the chosen layers, side by side)
    and their node names ``"layer:i"`` (:func:`svdwidgets.hypergraph.classes.node_id`)."""
    x, names, _ = _features(prof, images, layers, k, batch_size)
    return x, names


def _features(
    prof: Profile,
    images: torch.Tensor,
    layers: Sequence[str] | str | None,
    k: int | None,
    batch_size: int,
) -> tuple[torch.Tensor, list[str], list[float]]:
    """:func:`projection_features` and each feature's singular value ``σ``."""
    projections = project(prof, images, layers=layers, k=k, batch_size=batch_size)
    blocks, names, sigmas = [], [], []
    for layer in projections.layers:
        p = projections[layer]
        blocks.append(p.mean.double())
        names += [node_id(layer, i) for i in range(p.k)]
        sigmas += [float(v) for v in p.values]
    return torch.cat(blocks, dim=1), names, sigmas


@dataclass(frozen=True)
class Standardizer:
    """``(x - mean) / std`` with the training statistics (a constant feature keeps std 1)."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor) -> Standardizer:
        std = x.std(dim=0)
        return cls(x.mean(dim=0), torch.where(std > 0, std, torch.ones_like(std)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _check_problem(
    x: object, y: object, n_classes: int | None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise SVDWidgetsError(f"features must be a 2-D float tensor (N, d), got {shape}")
    if not bool(torch.isfinite(x).all()):
        raise SVDWidgetsError(f"features of shape {tuple(x.shape)} have non-finite entries")
    if (
        not isinstance(y, torch.Tensor)
        or y.ndim != 1
        or y.is_floating_point()
        or y.shape[0] != x.shape[0]
    ):
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise SVDWidgetsError(
            f"labels must be a 1-D integer tensor with one label per row of the features "
            f"{tuple(x.shape)}, got {shape}"
        )
    if y.numel() == 0 or int(y.min()) < 0:
        raise SVDWidgetsError("labels must be non-negative class indices (and not empty)")
    c = int(y.max()) + 1 if n_classes is None else n_classes
    if c < 2 or int(y.max()) >= c:
        raise SVDWidgetsError(f"need at least 2 classes covering the labels, got n_classes={c}")
    return x.double(), y.long(), c


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1:
        raise SVDWidgetsError(
            f"alpha (the L1 share of the penalty) must be in (0, 1], got {alpha!r}"
        )
    return float(alpha)


def _gradient(
    x: torch.Tensor, y1: torch.Tensor, w: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of the mean cross-entropy with respect to ``W`` and ``b``."""
    residual = torch.softmax(x @ w.T + b, dim=1) - y1
    return residual.T @ x / x.shape[0], residual.mean(dim=0)


# ``W = 0`` is accepted as the solution when ``max |∇_W CE(0, b*)| / α`` exceeds ``λ`` by no
# more than this relative amount: float64 rounding of the matmul and of ``(g / α)·α``, nothing
# a solver with any ``tol`` could resolve (its KKT violation there is below 1e-13·λα).
_NULL_RTOL = 64 * float(torch.finfo(torch.float64).eps)


def _null_model(x: torch.Tensor, y1: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The optimum on the ``W = 0`` face: the bias ``b* = log`` (class frequencies), which zeroes
    ``∇_b CE``, and ``max |∇_W CE(0, b*)|``, which decides whether that face holds the optimum."""
    bias = torch.log(y1.mean(dim=0).clamp_min(1e-12))
    g, _ = _gradient(x, y1, x.new_zeros((y1.shape[1], x.shape[1])), bias)
    return bias, float(g.abs().max())


def lambda_max(
    x: torch.Tensor, y: torch.Tensor, alpha: float = 0.99, n_classes: int | None = None
) -> float:
    """The smallest ``λ`` at which ``W = 0`` (with the optimal bias) solves the problem:
    ``max |∇_W CE(0, b*)| / α`` (Wong, Santurkar & Madry 2021, the top of the path).

    :func:`fit_elastic_net` returns exactly ``W = 0`` for any ``λ >= λ_max``."""
    x, y, c = _check_problem(x, y, n_classes)
    alpha = _check_alpha(alpha)
    _, gmax = _null_model(x, torch.nn.functional.one_hot(y, c).double())
    return gmax / alpha


def kkt_violation(
    x: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    lam: float,
    alpha: float,
) -> float:
    """The largest violation of the elastic-net optimality conditions at ``(W, b)``.

    With ``G = ∇_W CE`` and ``R = G + λ(1-α) W``: for ``W_cj != 0``,
    ``R_cj + λα sign(W_cj) = 0``; for ``W_cj = 0``, ``|R_cj| <= λα``; and ``∇_b CE = 0``.
    Returns the maximum over all entries of the distance of ``0`` to the subdifferential
    (0 exactly at the optimum).
    """
    x, y, c = _check_problem(x, y, int(weight.shape[0]))
    y1 = torch.nn.functional.one_hot(y, c).double()
    g, gb = _gradient(x, y1, weight.double(), bias.double())
    r = g + lam * (1 - alpha) * weight
    on = weight != 0
    err = torch.where(
        on, (r + lam * alpha * torch.sign(weight)).abs(), (r.abs() - lam * alpha).clamp_min(0)
    )
    return max(float(err.max()), float(gb.abs().max()))


@dataclass(frozen=True)
class ElasticNetFit:
    """One solution: ``weight`` (``C x d``), ``bias`` (``C``), its ``λ``, ``α``, iterations and
    the KKT violation it stopped at."""

    weight: torch.Tensor
    bias: torch.Tensor
    lam: float
    alpha: float
    iterations: int
    kkt: float

    @property
    def nonzeros(self) -> int:
        return int((self.weight != 0).sum())

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return (x.double() @ self.weight.T + self.bias).argmax(dim=1)


def fit_elastic_net(
    x: torch.Tensor,
    y: torch.Tensor,
    lam: float,
    *,
    alpha: float = 0.99,
    n_classes: int | None = None,
    init: ElasticNetFit | None = None,
    tol: float = 1e-6,
    max_iter: int = 5000,
) -> ElasticNetFit:
    """Minimise the elastic-net multinomial objective (module docstring) at one ``λ``.

    For ``λ >= λ_max`` the optimum is known in closed form, ``W = 0`` and ``b* = log`` (class
    frequencies), and is returned as it is (``iterations = 0``): iterating there would leave
    a weight of one rounding error (~1e-16) on the coordinate that sits exactly at the
    soft threshold. Below ``λ_max``: accelerated proximal gradient (FISTA, restarted whenever
    the momentum points uphill), warm-started from ``init``; the KKT violation is checked
    every 10 steps and the solver stops below ``tol``. Reaching ``max_iter`` is not an error:
    the fit's ``kkt`` says how close it got.
    """
    x, y, c = _check_problem(x, y, n_classes)
    alpha = _check_alpha(alpha)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0:
        raise SVDWidgetsError(f"lam must be a non-negative number, got {lam!r}")
    d = int(x.shape[1])
    y1 = torch.nn.functional.one_hot(y, c).double()
    null_bias, gmax = _null_model(x, y1)
    if gmax <= lam * alpha * (1 + _NULL_RTOL):
        w0 = x.new_zeros((c, d))
        return ElasticNetFit(
            w0, null_bias, float(lam), alpha, 0, kkt_violation(x, y, w0, null_bias, lam, alpha)
        )
    # thousands of small (N x d, C x d) steps: one thread, not torch's pool, which spends more
    # time waking its workers than computing (a bundled-model path: 27 s -> 0.7 s, 2 busy cores)
    with single_threaded_lapack():
        return _fista(x, y, y1, c, lam, alpha, null_bias, init, tol, max_iter)


def _fista(
    x: torch.Tensor,
    y: torch.Tensor,
    y1: torch.Tensor,
    c: int,
    lam: float,
    alpha: float,
    null_bias: torch.Tensor,
    init: ElasticNetFit | None,
    tol: float,
    max_iter: int,
) -> ElasticNetFit:
    n, d = x.shape
    aug = torch.cat([x, x.new_ones((n, 1))], dim=1)
    lipschitz = float(torch.linalg.matrix_norm(aug, ord=2)) ** 2 / (2 * n)
    step = 1.0 / lipschitz
    shrink, scale = step * lam * alpha, 1.0 / (1.0 + step * lam * (1 - alpha))
    if init is None:
        w, b = x.new_zeros((c, d)), null_bias
    else:
        w, b = init.weight.double().clone(), init.bias.double().clone()
    zw, zb, theta = w, b, 1.0
    kkt = math.inf
    it = 0
    for it in range(1, max_iter + 1):
        gw, gb = _gradient(x, y1, zw, zb)
        v = zw - step * gw
        w_new = torch.sign(v) * (v.abs() - shrink).clamp_min(0) * scale
        b_new = zb - step * gb
        uphill = float(((zw - w_new) * (w_new - w)).sum() + ((zb - b_new) * (b_new - b)).sum())
        theta_new = 1.0 if uphill > 0 else (1 + math.sqrt(1 + 4 * theta * theta)) / 2
        momentum = 0.0 if uphill > 0 else (theta - 1) / theta_new
        zw = w_new + momentum * (w_new - w)
        zb = b_new + momentum * (b_new - b)
        w, b, theta = w_new, b_new, theta_new
        if it % 10 == 0:
            kkt = kkt_violation(x, y, w, b, lam, alpha)
            if kkt <= tol:
                break
    if it % 10:
        kkt = kkt_violation(x, y, w, b, lam, alpha)
    return ElasticNetFit(w, b, float(lam), alpha, it, kkt)


@dataclass(frozen=True)
class SparsePath:
    """The regularisation path: one :class:`ElasticNetFit` per ``λ`` (decreasing).

    ``feature_names`` name the columns (``"layer:i"``); ``class_names`` the rows;
    ``standardizer`` maps raw features to the ones fitted; ``train_accuracy`` and
    ``test_accuracy`` (NaN without test data) are per step. ``feature_sigmas`` are the
    singular values of the directions the features project on (when they are known: the
    :func:`sparse_decision_layer` recipe fills them).
    """

    fits: list[ElasticNetFit]
    feature_names: list[str]
    class_names: list[str]
    standardizer: Standardizer
    train_accuracy: list[float]
    test_accuracy: list[float]
    feature_sigmas: list[float] | None = None

    @property
    def lambdas(self) -> list[float]:
        return [f.lam for f in self.fits]

    def __len__(self) -> int:
        return len(self.fits)

    def table(self) -> pd.DataFrame:
        """One row per ``λ``: accuracies, non-zero weights, features used (by any class), the
        mean and max number of features per class, iterations and the KKT violation."""
        import pandas as pd

        rows = []
        for f, tr, te in zip(self.fits, self.train_accuracy, self.test_accuracy, strict=True):
            nz = f.weight != 0
            per_class = nz.sum(dim=1)
            rows.append(
                {
                    "lambda": f.lam,
                    "train_accuracy": tr,
                    "test_accuracy": te,
                    "nonzeros": int(nz.sum()),
                    "features_used": int(nz.any(dim=0).sum()),
                    "per_class_mean": float(per_class.double().mean()),
                    "per_class_max": int(per_class.max()),
                    "iterations": f.iterations,
                    "kkt": f.kkt,
                }
            )
        return pd.DataFrame(rows)

    def _step(self, step: int) -> ElasticNetFit:
        if (
            isinstance(step, bool)
            or not isinstance(step, int)
            or not -len(self) <= step < len(self)
        ):
            raise SVDWidgetsError(
                f"step must be an int in [-{len(self)}, {len(self)}), got {step!r}"
            )
        return self.fits[step]

    def incidence(self, step: int = -1) -> pd.DataFrame:
        """Classes x the nodes some class uses at ``step``: ``|W|`` (0 where a class does not
        use the node). The columns are exactly the features with a non-zero weight."""
        import pandas as pd

        w = self._step(step).weight.abs().numpy()
        used = np.flatnonzero((w != 0).any(axis=0))
        return pd.DataFrame(
            w[:, used],
            index=pd.Index(self.class_names, name="class"),
            columns=pd.Index([self.feature_names[j] for j in used], name="node"),
        )

    def compare(self, graph: ClassHypergraph, step: int = -1) -> pd.DataFrame:
        """:func:`compare_incidence` of this path at ``step`` against ``graph``."""
        return compare_incidence(self, graph, step)

    def edges(self, step: int = -1) -> dict[str, list[str]]:
        """Each class's hyperedge at ``step``: the nodes it weights non-zero."""
        w = self._step(step).weight.numpy()
        return {
            c: [self.feature_names[j] for j in np.flatnonzero(w[i] != 0)]
            for i, c in enumerate(self.class_names)
        }


def regularization_path(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    alpha: float = 0.99,
    n_lambdas: int = 20,
    ratio: float = 1e-3,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    tol: float = 1e-6,
    max_iter: int = 5000,
) -> SparsePath:
    """Fit the elastic net at ``n_lambdas`` values from ``λ_max`` down to ``ratio · λ_max``
    (geometric), each warm-started from the last, on standardised features.

    ``x`` (``N x d``) is standardised with its own statistics; ``x_test`` with the same ones.
    """
    x, y, c = _check_problem(x, y, None if class_names is None else len(class_names))
    if isinstance(n_lambdas, bool) or not isinstance(n_lambdas, int) or n_lambdas < 1:
        raise SVDWidgetsError(f"n_lambdas must be a positive int, got {n_lambdas!r}")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
        raise SVDWidgetsError(f"ratio must be in (0, 1], got {ratio!r}")
    names = [str(i) for i in range(x.shape[1])] if feature_names is None else list(feature_names)
    if len(names) != x.shape[1]:
        raise SVDWidgetsError(f"{len(names)} feature names for {x.shape[1]} features")
    classes = [str(i) for i in range(c)] if class_names is None else [str(n) for n in class_names]
    standardizer = Standardizer.fit(x)
    xs = standardizer(x)
    xt = None
    if x_test is not None or y_test is not None:
        if x_test is None or y_test is None:
            raise SVDWidgetsError("pass both x_test and y_test, or neither")
        xt_checked, y_test, _ = _check_problem(x_test, y_test, c)
        if xt_checked.shape[1] != x.shape[1]:
            raise SVDWidgetsError(f"x_test has {xt_checked.shape[1]} features, x has {x.shape[1]}")
        xt = standardizer(xt_checked)
    top = lambda_max(xs, y, alpha, c)
    lambdas = [top * ratio ** (i / max(n_lambdas - 1, 1)) for i in range(n_lambdas)]
    fits: list[ElasticNetFit] = []
    train_acc, test_acc = [], []
    previous = None
    for lam in lambdas:
        previous = fit_elastic_net(
            xs, y, lam, alpha=alpha, n_classes=c, init=previous, tol=tol, max_iter=max_iter
        )
        fits.append(previous)
        train_acc.append(float((previous.predict(xs) == y).double().mean()))
        if xt is not None and y_test is not None:
            test_acc.append(float(previous.predict(xt).eq(y_test).double().mean()))
        else:
            test_acc.append(math.nan)
    return SparsePath(fits, names, classes, standardizer, train_acc, test_acc)


def sparse_decision_layer(
    prof: Profile,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    test_images: torch.Tensor | None = None,
    test_labels: torch.Tensor | None = None,
    layers: Sequence[str] | str | None = None,
    k: int | None = None,
    class_names: Sequence[str] | None = None,
    **path_options: object,
) -> SparsePath:
    """The whole recipe: projection features of the chosen layers (:func:`projection_features`)
    for the training and test images, then :func:`regularization_path` (``path_options``:
    ``alpha``, ``n_lambdas``, ``ratio``, ``tol``, ``max_iter``)."""
    x, names, sigmas = _features(prof, images, layers, k, 256)
    xt = None
    if test_images is not None:
        xt, _ = projection_features(prof, test_images, layers=layers, k=k)
    path = regularization_path(
        x,
        labels,
        x_test=xt,
        y_test=test_labels,
        feature_names=names,
        class_names=class_names,
        **path_options,  # type: ignore[arg-type]
    )
    return dataclasses.replace(path, feature_sigmas=sigmas)


def compare_incidence(path: SparsePath, graph: ClassHypergraph, step: int = -1) -> pd.DataFrame:
    """Per class: the sparse layer's nodes at ``step`` against the threshold rule's hyperedge.

    Columns: ``sparse_nodes``, ``threshold_nodes``, ``shared``, ``jaccard``
    (``|A ∩ B| / |A ∪ B|``, 1 when both are empty). Only nodes both can name count: the
    threshold hypergraph's candidates should be the same ``(layer, i)`` features.
    """
    import pandas as pd

    sparse = path.edges(step)
    threshold = graph.edges
    missing = [c for c in sparse if c not in threshold]
    if missing:
        raise SVDWidgetsError(
            f"classes {missing} of the sparse layer are not in the hypergraph's {list(threshold)}"
        )
    rows = []
    for c, nodes in sparse.items():
        a, b = set(nodes), set(threshold[c])
        union = a | b
        rows.append(
            {
                "class": c,
                "sparse_nodes": len(a),
                "threshold_nodes": len(b),
                "shared": len(a & b),
                "jaccard": len(a & b) / len(union) if union else 1.0,
            }
        )
    return pd.DataFrame(rows).set_index("class")
