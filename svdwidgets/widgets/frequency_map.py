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
that frequency and its conjugate twin), and a direction selected elsewhere outlines its
frequency. The browser derives both from the values themselves (:func:`value_order`: the
layer's values are every half-plane value, repeated by its multiplicity, sorted descending,
ties in position order, exactly as :class:`svdwidgets.FFTSpectrum` sorts them); the map checks
that this order is the spectrum's, so no index table travels.

On the wire the values of a conjugate-symmetric map (every map of a real layer) travel on the
half plane ``(N_h, N_w//2 + 1, r)`` with the full width beside them
(:func:`frequency_values_to_json`): half the bytes, nothing lost.

The front end is ``FrequencyMapModel`` / ``FrequencyMapView`` in
``labextension/src/frequency_map.ts``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import traitlets
from ipywidgets import DOMWidget, widget_serialization

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._errors import TraitValueError
from svdwidgets.widgets._frontend import MODULE_NAME, MODULE_VERSION
from svdwidgets.widgets.selection import Selection
from svdwidgets.widgets.serialization import NDArray, array_from_json, array_to_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FrequencyMap",
    "FrequencySpectrum",
    "frequency_table",
    "frequency_values_from_json",
    "frequency_values_to_json",
    "full_plane",
    "value_order",
]


class FrequencySpectrum(Protocol):
    """What the map reads of an ``fft`` spectrum (:class:`svdwidgets.FFTSpectrum`)."""

    @property
    def frequency_values(self) -> Any: ...  # (N_h, N_w, r) array-like: σ per frequency
    @property
    def frequencies(self) -> Any: ...  # (n, 2) array-like: the frequency of each value


def full_plane(half: np.ndarray, width: int) -> np.ndarray:
    """``(N_h, N_w, r)`` from the half plane ``(N_h, N_w//2 + 1, r)`` of a real layer's map:
    frequency ``(f_h, f_w)`` with ``f_w > N_w/2`` has the values of its conjugate
    ``(-f_h, N_w - f_w)``, which lies in the half plane."""
    nh, half_w = half.shape[:2]
    if half_w != width // 2 + 1:
        raise SVDWidgetsError(
            f"a half plane of {half_w} columns is not that of a {width}-wide frequency grid "
            f"({width // 2 + 1} columns)"
        )
    upper = half[(-np.arange(nh)) % nh][:, width - np.arange(half_w, width)]
    return np.concatenate([half, upper], axis=1)


def frequency_values_to_json(value: np.ndarray | None, widget: object = None) -> Any:
    """The map's values on the wire: the half plane plus ``width`` when the other half is its
    conjugate mirror (always, for a real layer), else the full plane (:func:`array_to_json`)."""
    if value is None:
        return None
    nw = value.shape[1]
    half = value[:, : nw // 2 + 1]
    if nw > 2 and np.array_equal(full_plane(half, nw), value):
        return {**cast(dict, array_to_json(half)), "width": nw}
    return array_to_json(value)


def frequency_values_from_json(value: dict[str, Any] | None, widget: object = None) -> Any:
    """:func:`frequency_values_to_json` back to the full plane."""
    if value is None:
        return None
    a = array_from_json(value)
    width = value.get("width")
    return a if a is None or width is None else full_plane(a, int(width))


def value_order(frequency_values: np.ndarray) -> np.ndarray:
    """``(n, 2)`` int64: the half-plane frequency of each singular value of the layer, in the
    order the browser names them (``labextension/src/frequency_order.ts``).

    The layer's values are the half plane's, each repeated by its multiplicity (2 for
    ``0 < f_w < N_w/2``, 1 in the columns ``f_w = 0`` and ``N_w/2``, which hold their own
    conjugates), sorted descending with ties in position order: what
    :class:`svdwidgets.FFTSpectrum` does with its blocks, so for a map made from a spectrum row
    ``i`` is ``spectrum.frequency_of(i)`` (equal values inside one frequency can trade places
    without changing any row).
    """
    fv = np.asarray(frequency_values)
    _, nw, r = fv.shape
    half_w = nw // 2 + 1
    flat = fv[:, :half_w].reshape(-1)
    order = np.argsort(-flat, kind="stable")
    cells = order // r
    fw = cells % half_w
    mult = np.where((fw == 0) | (2 * fw == nw), 1, 2)
    freqs = np.stack([cells // half_w, fw], axis=1).astype(np.int64)
    return np.repeat(freqs, mult, axis=0)


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
        ("float32", "float64"),
        3,
        help="(N_h, N_w, r): each frequency's singular values, descending (float64 stays "
        "float64, so that the browser orders the values as the spectrum does).",
    ).tag(sync=True, to_json=frequency_values_to_json, from_json=frequency_values_from_json)
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
    n_values = traitlets.Int(
        0,
        help="How many of the layer's values the browser names by index, in value_order (the "
        "spectrum's length; 0: no spectrum behind the map, a click selects nothing).",
    ).tag(sync=True)

    def __init__(self, *, frequencies: np.ndarray | None = None, **kwargs: Any) -> None:
        """Traits as keywords; ``frequencies`` is :func:`frequency_table` of the spectrum.

        Without ``frequencies`` a selection has no singular values (``selected_indices`` stays
        empty): use :meth:`from_spectrum`.
        """
        self._frequencies = (
            np.zeros((0, 2), dtype=np.int64) if frequencies is None else np.asarray(frequencies)
        )
        super().__init__(**kwargs)
        self._check_order()

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
        values = np.asarray(spectrum.frequency_values)
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
            self.frequency_values = np.asarray(spectrum.frequency_values)
            self.rank = 0
            self.layer_name = layer_name
            self._check_order()

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

    def _check_order(self) -> None:
        """Set :attr:`n_values` after checking that :func:`value_order` of the values, which is
        how the browser names them, gives the spectrum's frequency of every index."""
        table = self._frequencies
        if len(table) == 0 or self.frequency_values.size == 0:
            self.n_values = 0
            return
        derived = value_order(self.frequency_values)[: len(table)]
        if derived.shape != table.shape or not np.array_equal(derived, table):
            raise SVDWidgetsError(
                f"the {len(table)} frequencies given are not those of the map's "
                f"{self.frequency_values.shape} values in descending order: build the map "
                "with FrequencyMap.from_spectrum"
            )
        self.n_values = len(table)


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
