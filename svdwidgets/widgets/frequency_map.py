"""FrequencyMap: one singular value per frequency of a circular convolution, as a heat map.

For circular padding the ``fft`` method (Sedghi, Gupta & Long, ICLR 2019) block-diagonalises a
conv layer: each frequency ``(f_h, f_w)`` of the ``N_h x N_w`` grid has its own ``c_out x c_in``
matrix, whose singular values are ``FFTSpectrum.frequency_values[f_h, f_w]``. The map shows
``σ_max`` (``rank=0``) or the ``rank``-th largest value of each frequency; clicking a frequency
selects it, and :attr:`FrequencyMap.selected_indices` lists the singular values of the layer
(indices into ``spectrum.values``) that belong to that frequency or its conjugate
``(-f_h, -f_w)``, which has the same singular values for real weights.

The front end is ``FrequencyMapModel`` / ``FrequencyMapView`` in
``labextension/src/frequency_map.ts``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import traitlets
from ipywidgets import DOMWidget

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._errors import TraitValueError
from svdwidgets.widgets._frontend import MODULE_NAME, MODULE_VERSION
from svdwidgets.widgets.serialization import NDArray, array_serialization

if TYPE_CHECKING:
    from svdwidgets.core.spectrum import FFTSpectrum

__all__ = ["FrequencyMap", "frequency_table"]


class FrequencyMap(DOMWidget):
    """Heat map of each frequency's singular value; click a frequency to select it.

    Build it with :meth:`from_spectrum`. Frequencies are DFT indices ``0 <= f_h < N_h``,
    ``0 <= f_w < N_w``, as ``FFTSpectrum.frequency_of`` returns them; the view draws them
    centred (signed frequencies, ``(0, 0)`` in the middle).
    """

    _model_name = traitlets.Unicode("FrequencyMapModel").tag(sync=True)
    _model_module = traitlets.Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = traitlets.Unicode("FrequencyMapView").tag(sync=True)
    _view_module = traitlets.Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)

    layer_name = traitlets.Unicode("", help="Title: the layer's name.").tag(sync=True)
    frequency_values = NDArray(
        "float32", 3, help="(N_h, N_w, r): each frequency's singular values, descending."
    ).tag(sync=True, **array_serialization)
    rank = traitlets.Int(0, help="Which value to show per frequency: 0 is σ_max.").tag(sync=True)
    log_scale = traitlets.Bool(False, help="Logarithmic colour scale.").tag(sync=True)
    selected_frequency = traitlets.Tuple(
        traitlets.Int(),
        traitlets.Int(),
        default_value=None,
        allow_none=True,
        help="DFT indices (f_h, f_w) of the selected frequency, or None.",
    ).tag(sync=True)
    selected_indices = NDArray(
        "int32", 1, help="Indices into spectrum.values at the selected frequency or its conjugate."
    ).tag(sync=True, **array_serialization)

    def __init__(self, *, frequencies: np.ndarray | None = None, **kwargs: Any) -> None:
        """Traits as keywords; ``frequencies`` is :func:`frequency_table` of the spectrum.

        Without ``frequencies`` a selection has no singular values (``selected_indices`` stays
        empty): use :meth:`from_spectrum`.
        """
        self._frequencies = (
            np.zeros((0, 2), dtype=np.int64) if frequencies is None else np.asarray(frequencies)
        )
        super().__init__(**kwargs)

    @classmethod
    def from_spectrum(
        cls,
        spectrum: FFTSpectrum,
        *,
        layer_name: str = "",
        rank: int = 0,
        log_scale: bool = False,
        **kwargs: Any,
    ) -> FrequencyMap:
        """The map of an ``fft`` spectrum (``svdwidgets.conv_svd(..., method="fft")``)."""
        from svdwidgets.core.spectrum import FFTSpectrum

        if not isinstance(spectrum, FFTSpectrum):
            method = getattr(spectrum, "method", None)
            raise SVDWidgetsError(
                "FrequencyMap needs the per-frequency values of the 'fft' method (an "
                f"FFTSpectrum), got {type(spectrum).__name__}"
                + (f" from method {method!r}" if method is not None else "")
                + ": call svdwidgets.conv_svd(..., method='fft')"
            )
        values = np.asarray(spectrum.frequency_values, dtype=np.float32)
        return cls(
            frequencies=frequency_table(spectrum),
            frequency_values=values,
            layer_name=layer_name,
            rank=rank,
            log_scale=log_scale,
            **kwargs,
        )

    @property
    def grid(self) -> tuple[int, int]:
        """The frequency grid ``(N_h, N_w)``."""
        nh, nw, _ = self.frequency_values.shape
        return int(nh), int(nw)

    @traitlets.validate("rank")
    def _check_rank(self, proposal: traitlets.Bunch) -> int:
        rank = proposal["value"]
        r = int(self.frequency_values.shape[2])
        if not 0 <= rank < r:
            raise TraitValueError(
                f"rank {rank} is out of range: each frequency has {r} singular values, "
                f"so rank must be in [0, {r - 1}]"
            )
        return int(rank)

    @traitlets.validate("selected_frequency")
    def _check_frequency(self, proposal: traitlets.Bunch) -> tuple[int, int] | None:
        f = proposal["value"]
        if f is None:
            return None
        nh, nw = self.grid
        if not (0 <= f[0] < nh and 0 <= f[1] < nw):
            raise TraitValueError(
                f"selected_frequency {tuple(f)} is outside the {nh}x{nw} frequency grid: "
                f"use DFT indices 0 <= f_h < {nh}, 0 <= f_w < {nw}"
            )
        return int(f[0]), int(f[1])

    @traitlets.observe("selected_frequency")
    def _select(self, change: traitlets.Bunch) -> None:
        self.selected_indices = selected_indices(self._frequencies, change["new"], self.grid)


def frequency_table(spectrum: FFTSpectrum) -> np.ndarray:
    """``(n, 2)`` int array: row ``i`` is ``spectrum.frequency_of(i)``.

    Computed once per widget, so that a click only compares integers (no FFT, no SVD).
    """
    return spectrum.frequencies.numpy().astype(np.int64)


def selected_indices(
    frequencies: np.ndarray, frequency: tuple[int, int] | None, grid: tuple[int, int]
) -> np.ndarray:
    """Indices ``i`` with ``frequencies[i]`` equal to ``frequency`` or its conjugate."""
    if frequency is None or len(frequencies) == 0:
        return np.zeros(0, dtype=np.int32)
    nh, nw = grid
    fh, fw = frequency
    hits = np.zeros(len(frequencies), dtype=bool)
    for h, w in {(fh, fw), ((-fh) % nh, (-fw) % nw)}:
        hits |= (frequencies[:, 0] == h) & (frequencies[:, 1] == w)
    return np.flatnonzero(hits).astype(np.int32)
