"""Spectra of the *weight tensor*, kept to compare with the operator's (they are other objects).

- ``unfolded``: the SVD of ``W`` reshaped to ``c_out x (c_in/groups * kh * kw)``, the definition
  DeepDataProfiler uses (Praggastis et al., "The SVD of Convolutional Weights: A CNN
  Interpretability Framework", 2022). Its right singular vectors are kernel-sized patches.
- ``slices``: WeightWatcher's treatment of conv layers (Martin & Mahoney): the ``kh * kw``
  per-tap matrices ``W[:, :, i, j]`` (each ``c_out x c_in/groups``), their singular values
  pooled. Unnormalised.

Neither is the spectrum of the layer's linear operator: ``exact`` is False for both.
"""

from __future__ import annotations

import torch

from svdwidgets.core.geometry import ConvGeometry
from svdwidgets.core.solvers import single_threaded_lapack
from svdwidgets.core.spectrum import Spectrum

__all__ = ["SlicesSpectrum", "UnfoldedSpectrum", "slices_spectrum", "unfolded_spectrum"]


class UnfoldedSpectrum(Spectrum):
    """``vector(i)`` gives ``v`` of shape ``(c_in/groups, kh, kw)`` and ``u`` of ``(c_out,)``."""

    def __init__(self, weight: torch.Tensor, geometry: ConvGeometry, k: int | None) -> None:
        matrix = weight.reshape(weight.shape[0], -1)
        with single_threaded_lapack():
            left, values, right_h = torch.linalg.svd(matrix, full_matrices=False)
        cut = slice(None) if k is None else slice(0, k)
        super().__init__(
            values[cut].cpu(),
            method="unfolded",
            exact=False,
            geometry=geometry,
            solver="dense-gesdd",
        )
        self._left = left[:, cut].cpu()
        self._right = right_h[cut].cpu()
        self._patch = tuple(weight.shape[1:])

    def vector(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = self._check_index(i)
        return self._right[i].reshape(self._patch), self._left[:, i]


class SlicesSpectrum(Spectrum):
    """``vector(i)`` gives the slice's ``v`` (``(c_in/groups,)``) and ``u`` (``(c_out,)``);
    ``tap_of(i)`` names the tap ``(i, j)`` it belongs to."""

    def __init__(self, weight: torch.Tensor, geometry: ConvGeometry, k: int | None) -> None:
        slices = weight.permute(2, 3, 0, 1).reshape(-1, weight.shape[0], weight.shape[1])
        with single_threaded_lapack():
            left, values, right_h = torch.linalg.svd(slices, full_matrices=False)
        flat, order = torch.sort(values.reshape(-1), descending=True, stable=True)
        if k is not None:
            flat, order = flat[:k], order[:k]
        super().__init__(
            flat.cpu(), method="slices", exact=False, geometry=geometry, solver="dense-gesdd"
        )
        self._left, self._right_h = left.cpu(), right_h.cpu()
        self._order = order.cpu()
        self._r = values.shape[1]
        self._kw = weight.shape[3]

    def tap_of(self, i: int) -> tuple[int, int]:
        tap = int(self._order[self._check_index(i)]) // self._r
        return divmod(tap, self._kw)

    def vector(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        tap, rank = divmod(int(self._order[self._check_index(i)]), self._r)
        return self._right_h[tap, rank], self._left[tap, :, rank]


def unfolded_spectrum(
    weight: torch.Tensor, geometry: ConvGeometry, *, k: int | None
) -> UnfoldedSpectrum:
    return UnfoldedSpectrum(weight, geometry, k)


def slices_spectrum(
    weight: torch.Tensor, geometry: ConvGeometry, *, k: int | None
) -> SlicesSpectrum:
    return SlicesSpectrum(weight, geometry, k)
