"""The "influential" rule: the fewest singular directions that carry a given share of the signal.

DeepDataProfiler (Praggastis et al. 2022, ``SVDProfiler.influential_svd_neurons``) calls a
layer's singular directions *influential* for an input when they are among the largest
``|projection|`` values whose cumulative share of the layer's total reaches a threshold. Here
the rule is applied to a class: the scores are the class's mean ``|projection|`` per direction.

Precisely, for non-negative scores ``s_1..s_k`` with total ``T > 0`` and a threshold
``t ∈ (0, 1]``, the influential set is the smallest set ``S`` with ``Σ_{i∈S} s_i >= t·T``.
Taking the largest scores first reaches the share with the fewest directions, so ``S`` is the
top ``m`` scores with ``m`` the first prefix of the descending order whose sum reaches ``t·T``
(ties broken by index; of all smallest sets it is the heaviest). A layer whose scores are all
zero has no influential direction. DeepDataProfiler's loop differs at one edge: it keeps the
prefix whose share is ``<= t`` plus one more, so a prefix that lands exactly on ``t`` gets one
extra direction there.
"""

from __future__ import annotations

import numpy as np

from svdwidgets.errors import SVDWidgetsError

__all__ = ["check_threshold", "influential", "influential_mask"]

_TOLERANCE = 1e-12
"""Relative slack so that a share reaching the threshold up to rounding counts as reaching it."""


def check_threshold(threshold: object) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise SVDWidgetsError(f"threshold must be a number in (0, 1], got {threshold!r}")
    if not 0 < threshold <= 1:
        raise SVDWidgetsError(f"threshold must be in (0, 1], got {threshold!r}")
    return float(threshold)


def influential_mask(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Row by row: which entries of ``scores`` (``(..., k)``, non-negative) are influential."""
    threshold = check_threshold(threshold)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 0 or s.shape[-1] == 0:
        raise SVDWidgetsError(f"scores must have at least one direction, got shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise SVDWidgetsError("scores must be finite and non-negative (mean |projections|)")
    flat = s.reshape(-1, s.shape[-1])
    order = np.argsort(-flat, axis=1, kind="stable")
    cumulative = np.cumsum(np.take_along_axis(flat, order, axis=1), axis=1)
    total = cumulative[:, -1:]
    reached = cumulative >= threshold * total * (1 - _TOLERANCE)
    count = np.where(total[:, 0] > 0, reached.argmax(axis=1) + 1, 0)
    ranks = np.argsort(order, axis=1)  # rank of each entry in the descending order
    mask = ranks < count[:, None]
    return mask.reshape(s.shape)


def influential(scores: np.ndarray, threshold: float) -> list[int]:
    """Indices of the influential entries of a 1-D score vector, largest score first."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise SVDWidgetsError(f"scores must be 1-D, got shape {s.shape}")
    mask = influential_mask(s, threshold)
    picked = np.flatnonzero(mask)
    return [int(i) for i in picked[np.argsort(-s[picked], kind="stable")]]
