"""Dataset examples: the inputs whose projection on a singular direction is largest.

Feature visualization shows what a direction responds to in an optimised image; dataset
examples (Olah et al. 2017, "Feature Visualization", Distill, "Dataset examples") show the real
inputs that drive it most, and least. The score of an input is the same function the rendering
maximises (:mod:`svdwidgets.featurevis.objectives`), computed by a hook that stops the forward
pass at the layer. The data stream through in batches: only the running top and bottom ``n``
(scores, indices, images) are kept, never all activations.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.featurevis.hooks import run_to, tap
from svdwidgets.featurevis.objectives import singular_objective
from svdwidgets.featurevis.render import _model_device, _render_mode
from svdwidgets.model.projection import _batches, _channels_last, _on_device

__all__ = ["TopActivating", "top_activating", "top_activating_each"]


@dataclass(frozen=True)
class TopActivating:
    """The ``n`` inputs with the largest and the most negative scores on one direction.

    ``top_indices`` / ``top_scores`` / ``top_images`` are in decreasing score order;
    ``bottom_*`` in increasing order (most negative first). Indices count inputs in the order
    the data yielded them; images are CPU tensors ``(n, C, H, W)`` as given.
    """

    layer: str
    index: int
    side: str
    kind: str
    top_indices: torch.Tensor
    top_scores: torch.Tensor
    top_images: torch.Tensor
    bottom_indices: torch.Tensor
    bottom_scores: torch.Tensor
    bottom_images: torch.Tensor
    count: int


class _Best:
    """The running ``n`` largest scores with their indices and images."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.scores = torch.empty(0, dtype=torch.float64)
        self.indices = torch.empty(0, dtype=torch.int64)
        self.images: torch.Tensor | None = None

    def update(self, scores: torch.Tensor, indices: torch.Tensor, images: torch.Tensor) -> None:
        kept = self.images if self.images is not None else images[:0]
        s = torch.cat([self.scores, scores])
        i = torch.cat([self.indices, indices])
        x = torch.cat([kept, images])
        # a stable sort: ties keep the earlier input
        order = torch.sort(s, descending=True, stable=True).indices[: self.n]
        self.scores, self.indices, self.images = s[order], i[order], x[order].clone()


def top_activating(
    prof: Any,
    data: object,
    layer: str,
    index: int,
    n: int = 9,
    *,
    side: str = "right",
    kind: str = "channel",
    frequency: tuple[int, int] | None = None,
    batch_size: int = 256,
    copy_model: bool = False,
) -> TopActivating:
    """The ``n`` inputs of ``data`` that score highest (and lowest) on singular direction ``index``.

    Parameters
    ----------
    prof:
        the :class:`~svdwidgets.model.profile.Profile` of the model (its model is run).
    data:
        a tensor ``(N, C, H, W)`` (split into ``batch_size`` batches) or an iterable of batches
        (tensors or ``(inputs, labels, ...)`` tuples, a ``DataLoader``).
    layer, index, side, kind, frequency:
        the direction and the score, exactly as in
        :func:`~svdwidgets.featurevis.objectives.singular_objective` (default: the channel
        direction of the right singular vector at the layer's input, the spatial mean).
    n:
        how many inputs at each end.
    copy_model:
        run a private deep copy of the model (as in
        :func:`~svdwidgets.featurevis.render.render_singular_vectors`): for a model that
        another thread trains meanwhile.

    Returns
    -------
    TopActivating
        indices, scores and images of the top and bottom ``n``.
    """
    (found,) = top_activating_each(
        prof,
        data,
        layer,
        [index],
        n,
        side=side,
        kind=kind,
        frequency=frequency,
        batch_size=batch_size,
        copy_model=copy_model,
    )
    return found


def top_activating_each(
    prof: Any,
    data: object,
    layer: str,
    indices: Sequence[int],
    n: int = 9,
    *,
    side: str = "right",
    kind: str = "channel",
    frequency: tuple[int, int] | None = None,
    batch_size: int = 256,
    copy_model: bool = False,
) -> list[TopActivating]:
    """:func:`top_activating` for each of ``indices``, in one pass over ``data``.

    The forward pass to the layer is what costs (a gallery's 8 directions of a ResNet-50 layer
    at 224 px read the same activation 8 times otherwise); each batch's activation is scored
    against every direction, with the same numbers as one :func:`top_activating` per index.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SVDWidgetsError(f"n must be a positive int, got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SVDWidgetsError(f"batch_size must be a positive int, got {batch_size!r}")
    objective = singular_objective(
        prof, layer, list(indices), side=side, kind=kind, frequency=frequency
    )
    if not isinstance(copy_model, bool):
        raise SVDWidgetsError(f"copy_model must be a bool, got {copy_model!r}")
    each = [objective.subset([p]) for p in range(len(objective.indices))]
    model = copy.deepcopy(prof.model) if copy_model else prof.model
    device = _model_device(model)
    best = [(_Best(n), _Best(n)) for _ in each]
    seen = 0
    with (
        _render_mode(model, channels_last=False),
        torch.no_grad(),
        tap(model, layer, "input" if side == "right" else "output") as t,
    ):
        for b, (x, _) in enumerate(_batches(data, batch_size)):
            a = run_to(model, _channels_last(_on_device(x, device, b)), t)
            ids = torch.arange(seen, seen + x.shape[0])
            images = x.detach().cpu()
            for one, (top, bottom) in zip(each, best, strict=True):
                s = one.scores(a).double().cpu()
                top.update(s, ids, images)
                bottom.update(-s, ids, images)
            seen += x.shape[0]
    if seen == 0:
        raise SVDWidgetsError("data yielded no inputs")
    out = []
    for one, (top, bottom) in zip(each, best, strict=True):
        assert top.images is not None and bottom.images is not None
        out.append(
            TopActivating(
                layer=layer,
                index=one.indices[0],
                side=side,
                kind=kind,
                top_indices=top.indices,
                top_scores=top.scores,
                top_images=top.images,
                bottom_indices=bottom.indices,
                bottom_scores=-bottom.scores,
                bottom_images=bottom.images,
                count=seen,
            )
        )
    return out
