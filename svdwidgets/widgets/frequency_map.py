"""FrequencyMap: one singular value per frequency of a circular convolution, as a heat map.

For circular padding the ``fft`` method (Sedghi, Gupta & Long, ICLR 2019) block-diagonalises a
conv layer: each frequency ``(f_h, f_w)`` of the ``N_h x N_w`` grid has its own ``c_out x c_in``
matrix, whose singular values are ``FFTSpectrum.frequency_values[f_h, f_w]``. The map shows
``σ_max`` (``rank=0``) or the ``rank``-th largest value of each frequency; clicking a frequency
selects it, and :attr:`FrequencyMap.selected_indices` lists the singular values of the layer
(indices into ``spectrum.values``) that belong to that frequency or its conjugate
``(-f_h, -f_w)``, which has the same singular values for real weights.

Given a shared :class:`~svdwidgets.widgets.selection.Selection`, the map links with other views
in the browser: clicking a frequency selects the direction shown there (the ``rank``-th value of
that frequency, :attr:`FrequencyMap.rank_indices`, and its conjugate twin), and a direction
selected elsewhere outlines its frequency (looked up in :attr:`FrequencyMap.index_frequencies`
for the top :data:`INDEX_FREQUENCIES` values).

The front end is ``FrequencyMapModel`` / ``FrequencyMapView`` in
``labextension/src/frequency_map.ts``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import traitlets
from ipywidgets import DOMWidget, widget_serialization

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._errors import TraitValueError
from svdwidgets.widgets._frontend import MODULE_NAME, MODULE_VERSION
from svdwidgets.widgets.selection import Selection
from svdwidgets.widgets.serialization import NDArray, array_serialization

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "INDEX_FREQUENCIES",
    "FrequencyMap",
    "FrequencySpectrum",
    "frequency_table",
    "rank_index_table",
]


class FrequencySpectrum(Protocol):
    """What the map reads of an ``fft`` spectrum (:class:`svdwidgets.FFTSpectrum`)."""

    @property
    def frequency_values(self) -> Any: ...  # (N_h, N_w, r) array-like: σ per frequency
    @property
    def frequencies(self) -> Any: ...  # (n, 2) array-like: the frequency of each value


INDEX_FREQUENCIES = 16384
"""How many of the top values' frequencies the browser gets (64 kB as 16-bit pairs), to outline a
selection."""


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
        "int32",
        1,
        help="Indices into spectrum.values at the selected frequency or its conjugate "
        "(kernel side only: the browser has its own rank_indices).",
    )
    selection = traitlets.Instance(
        Selection, allow_none=True, help="A selection shared with linked views, or None."
    ).tag(sync=True, **widget_serialization)
    rank_indices = NDArray(
        "int32",
        3,
        help="(N_h, N_w, 2): the index of each frequency's rank-th value and of its conjugate "
        "twin (-1: none), what a click selects.",
    ).tag(sync=True, **array_serialization)
    index_frequencies = NDArray(
        "uint16", 2, help="(K, 2): the half-plane frequency of values[i], i < K."
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
        self._update_index_tables()

    @classmethod
    def from_spectrum(
        cls,
        spectrum: FrequencySpectrum,
        *,
        layer_name: str = "",
        rank: int = 0,
        log_scale: bool = False,
        **kwargs: Any,
    ) -> FrequencyMap:
        """The map of an ``fft`` spectrum (``svdwidgets.conv_svd(..., method="fft")``)."""
        _check_fft(spectrum)
        values = np.asarray(spectrum.frequency_values, dtype=np.float32)
        return cls(
            frequencies=frequency_table(spectrum),
            frequency_values=values,
            layer_name=layer_name,
            rank=rank,
            log_scale=log_scale,
            **kwargs,
        )

    def show_spectrum(self, spectrum: FrequencySpectrum, *, layer_name: str = "") -> None:
        """Show another ``fft`` spectrum (a dashboard switching layers); clears the selection."""
        _check_fft(spectrum)
        with self.hold_sync():
            self._frequencies = frequency_table(spectrum)
            self.selected_frequency = None  # type: ignore[assignment]
            self.frequency_values = np.asarray(spectrum.frequency_values, dtype=np.float32)
            self.rank = 0
            self.layer_name = layer_name
            self._update_index_tables()

    def figure(self, **kwargs: Any) -> Figure:
        """:func:`svdwidgets.plots.plot_frequency_map` of what the view shows.

        Its ``frequency_values`` at its ``rank``, ``selected_frequency`` and ``log_scale``;
        ``kwargs`` go to the drawing function.
        """
        from svdwidgets.plots.frequency import plot_frequency_map

        options = {
            "rank": self.rank,
            "selected": self.selected_frequency,
            "log_scale": self.log_scale,
            "name": self.layer_name,
        }
        return plot_frequency_map(self.frequency_values, **{**options, **kwargs})

    def save(self, path: str | Path, **kwargs: Any) -> Path:
        """Save what the view shows as a static figure (.png, .svg or .pdf, by the suffix).

        :meth:`figure`, drawn with matplotlib without a browser; ``dpi=`` for PNG.
        """
        from svdwidgets.plots.save import save_view

        return save_view(self, path, **kwargs)

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

    @traitlets.observe("rank")
    def _on_rank(self, change: traitlets.Bunch) -> None:
        self._update_index_tables()

    def _update_index_tables(self) -> None:
        table = self._frequencies
        nh, nw, r = self.frequency_values.shape
        with self.hold_sync():
            if len(table) == 0 or r == 0:
                self.rank_indices = np.full((nh, nw, 2), -1, dtype=np.int32)
                self.index_frequencies = np.zeros((0, 2), dtype=np.uint16)
                return
            if max(nh, nw) > np.iinfo(np.uint16).max:
                raise SVDWidgetsError(
                    f"a frequency grid of {nh}x{nw} does not fit the map's 16-bit frequency indices"
                )
            self.rank_indices = rank_index_table(table, (nh, nw), self.rank)
            self.index_frequencies = table[:INDEX_FREQUENCIES].astype(np.uint16)


def _check_fft(spectrum: object) -> None:
    # an FFTSpectrum, read through its arrays (the widgets import no torch)
    if not all(hasattr(spectrum, a) for a in ("frequency_values", "frequencies")):
        method = getattr(spectrum, "method", None)
        raise SVDWidgetsError(
            "FrequencyMap needs the per-frequency values of the 'fft' method (an "
            f"FFTSpectrum), got {type(spectrum).__name__}"
            + (f" from method {method!r}" if method is not None else "")
            + ": call svdwidgets.conv_svd(..., method='fft')"
        )


def frequency_table(spectrum: FrequencySpectrum) -> np.ndarray:
    """``(n, 2)`` int array: row ``i`` is ``spectrum.frequency_of(i)``.

    Computed once per widget, so that a click only compares integers (no FFT, no SVD).
    """
    return np.asarray(spectrum.frequencies).astype(np.int64)


def rank_index_table(frequencies: np.ndarray, grid: tuple[int, int], rank: int) -> np.ndarray:
    """``(N_h, N_w, 2)`` int32: the index of the ``rank``-th value at every frequency, and twin.

    ``frequencies`` is :func:`frequency_table` (half-plane frequencies, values descending). The
    full-plane frequency ``g`` reads its values from the half-plane frequency ``h(g)`` (``g``
    itself, or ``-g`` in the upper columns). A half-plane frequency with ``0 < f_w < N_w/2``
    stands for ``f`` and ``-f``: each of its values appears twice (the real and imaginary parts
    of one complex vector, :meth:`svdwidgets.FFTSpectrum.twin`); in the columns ``f_w = 0`` and
    ``N_w/2`` the twin is the same rank at the conjugate frequency. ``-1`` where there is none
    (a self-conjugate frequency, or a top-``k`` spectrum that does not reach that value).
    """
    nh, nw = grid
    half_w = nw // 2 + 1
    n = len(frequencies)
    key = frequencies[:, 0].astype(np.int64) * half_w + frequencies[:, 1]
    order = np.lexsort((np.arange(n), key))  # by frequency, then by value (descending)
    starts = np.searchsorted(key[order], np.arange(nh * half_w))
    ends = np.searchsorted(key[order], np.arange(nh * half_w), side="right")
    fw_half = np.arange(half_w)
    mult = np.where((fw_half > 0) & (2 * fw_half < nw), 2, 1)

    def nth(h_fh: np.ndarray, h_fw: np.ndarray, copy: int) -> np.ndarray:
        k = h_fh * half_w + h_fw
        pos = starts[k] + rank * mult[h_fw] + copy
        ok = pos < ends[k]
        return np.where(ok, order[np.minimum(pos, n - 1)], -1)

    fh = np.arange(nh)[:, None].repeat(nw, axis=1)
    fw = np.arange(nw)[None, :].repeat(nh, axis=0)
    upper = fw > nw // 2
    h_fh = np.where(upper, (-fh) % nh, fh)
    h_fw = np.where(upper, nw - fw, fw)
    first = nth(h_fh, h_fw, 0)
    paired = mult[h_fw] == 2
    second_same = nth(h_fh, h_fw, 1)
    c_fh, c_fw = (-h_fh) % nh, h_fw  # the conjugate of a column frequency is in the same column
    second_col = np.where((c_fh == h_fh), -1, nth(c_fh, c_fw, 0))
    second = np.where(paired, second_same, second_col)
    return np.stack([first, second], axis=-1).astype(np.int32)


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
