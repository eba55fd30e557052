"""σ per frequency of a circular convolution as a centred heat map (the FrequencyMap, for print).

For circular padding the ``fft`` method (Sedghi, Gupta & Long, ICLR 2019) block-diagonalises a
conv layer: frequency ``(f_h, f_w)`` of the ``N_h x N_w`` grid has its own ``c_out x c_in``
matrix, whose singular values are ``FFTSpectrum.frequency_values[f_h, f_w]`` (strided layers:
the polyphase blocks of Senderovich et al. 2022 on the coarse grid). The map shows the
``rank``-th largest value of each frequency (``rank=0``: ``σ_max``) with the conventions of
``labextension/src/frequency_map.ts``: signed frequencies, ``(0, 0)`` in the middle (fftshift),
``f_h`` down and ``f_w`` across. A selected frequency is outlined (solid) with its conjugate
``(-f_h, -f_w)`` (dashed), which has the same singular values for real weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.plots import _style as st

__all__ = ["plot_frequency_map", "shifted_map", "signed_frequency"]


def signed_frequency(k: int, n: int) -> int:
    """Signed frequency of DFT index ``k`` on an axis of ``n``, as drawn (``frequency_map.ts``)."""
    return (k + n // 2) % n - n // 2


def shifted_map(frequency_values: np.ndarray, rank: int) -> np.ndarray:
    """``fftshift`` of ``frequency_values[..., rank]``: row ``f_h + N_h//2``, column likewise."""
    return np.fft.fftshift(np.asarray(frequency_values[..., rank], dtype=np.float64))


def _frequency_values(source: Any) -> np.ndarray:
    from svdwidgets.core.spectrum import FFTSpectrum, Spectrum

    if isinstance(source, FFTSpectrum):
        return np.asarray(source.frequency_values.double().numpy())
    if isinstance(source, Spectrum):
        raise SVDWidgetsError(
            "plot_frequency_map needs the per-frequency values of the 'fft' method (an "
            f"FFTSpectrum), got {type(source).__name__} from method {source.method!r}: call "
            "svdwidgets.conv_svd(..., method='fft')"
        )
    try:
        values = np.asarray(source, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise SVDWidgetsError(
            "plot_frequency_map needs an FFTSpectrum or its frequency_values array "
            f"(N_h, N_w, r); got {type(source).__name__}"
        ) from err
    if values.ndim != 3 or 0 in values.shape:
        raise SVDWidgetsError(
            f"frequency_values must have shape (N_h, N_w, r) with no empty axis; got {values.shape}"
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise SVDWidgetsError("frequency_values must be finite and non-negative")
    return values


def plot_frequency_map(
    fft_spectrum: Any,
    *,
    rank: int = 0,
    selected: tuple[int, int] | None = None,
    log_scale: bool = False,
    name: str = "",
) -> Figure:
    """Heat map of each frequency's ``rank``-th singular value, ``(0, 0)`` centred.

    Parameters
    ----------
    fft_spectrum:
        an :class:`~svdwidgets.FFTSpectrum` (``svdwidgets.conv_svd(..., method="fft")``), or its
        ``frequency_values`` array ``(N_h, N_w, r)`` (as a ``FrequencyMap`` holds it).
    rank:
        which value of each frequency: ``0`` is ``σ_max``.
    selected:
        DFT indices ``(f_h, f_w)``, ``0 <= f < N`` (``FFTSpectrum.frequency_of``), to outline
        with its conjugate; or None.
    log_scale:
        logarithmic colour scale.
    name:
        the layer's name, in the title.

    Sedghi, Gupta & Long, "The Singular Values of Convolutional Layers", ICLR 2019.
    """
    values = _frequency_values(fft_spectrum)
    nh, nw, r = values.shape
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or not 0 <= rank < r:
        raise SVDWidgetsError(
            f"rank {rank!r} is out of range: each frequency has {r} singular values, so rank "
            f"must be in [0, {r - 1}]"
        )
    if not isinstance(name, str):
        raise SVDWidgetsError(f"name must be a str; got {name!r}")
    sel = _check_selected(selected, nh, nw)
    shown = shifted_map(values, int(rank))
    if log_scale and not np.any(shown > 0):
        raise SVDWidgetsError(f"rank {rank}: every value is 0, no logarithmic colour scale")
    positive = shown[shown > 0] if log_scale else shown
    vmin, vmax = float(positive.min()), float(positive.max())
    norm = LogNorm(vmin=vmin, vmax=vmax) if log_scale else Normalize(vmin=vmin, vmax=vmax)

    # the map's width is what the tick labels and the colour bar leave of a column
    side = st.COLUMN - 1.2
    fig = st.new_figure(st.COLUMN, side * min(nh / nw, 1.4) + (0.95 if sel else 0.7))
    ax = fig.subplots()
    st.style_axes(ax, grid=False)
    for spine in ax.spines.values():
        spine.set_visible(True)
    lo_h, lo_w = -(nh // 2), -(nw // 2)
    image = ax.imshow(
        shown,
        cmap="viridis",
        norm=norm,
        origin="upper",
        interpolation="nearest",
        extent=(lo_w - 0.5, lo_w + nw - 0.5, lo_h + nh - 0.5, lo_h - 0.5),
    )
    image.set_gid("frequency-map")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=7, integer=True, symmetric=True))
    ax.set_xlabel("horizontal frequency $f_w$", fontsize=st.LABEL)
    ax.set_ylabel("vertical frequency $f_h$", fontsize=st.LABEL)
    what = r"$\sigma_{\max}$" if rank == 0 else f"$\\sigma_{{{int(rank) + 1}}}$"
    # the colour bar exactly as tall as the map (an inset follows the equal-aspect box)
    cax = ax.inset_axes((1.04, 0.0, 0.05, 1.0))
    bar = fig.colorbar(image, cax=cax)
    bar.ax.tick_params(which="both", labelsize=st.TICK, length=2, width=0.5)
    bar.outline.set_linewidth(0.5)
    if log_scale:
        st.readable_log_axis(bar.ax.yaxis, vmin, vmax)
    bar.set_label(what + (" (log scale)" if log_scale else ""), fontsize=st.LABEL)
    title = f"{name}: " if name else ""
    ax.set_title(f"{title}{what} by frequency, {nh}×{nw} grid", fontsize=st.LABEL)
    if sel is not None:
        handles = _outline(ax, sel, nh, nw)
        st.legend_below(ax, handles=handles, labels=[h.get_label() for h in handles])
    return fig


def _check_selected(selected: Any, nh: int, nw: int) -> tuple[int, int] | None:
    if selected is None:
        return None
    try:
        fh, fw = (int(v) for v in selected)
    except (TypeError, ValueError) as err:
        raise SVDWidgetsError(
            f"selected must be DFT indices (f_h, f_w) or None; got {selected!r}"
        ) from err
    if not (0 <= fh < nh and 0 <= fw < nw):
        raise SVDWidgetsError(
            f"selected frequency {(fh, fw)} is outside the {nh}x{nw} frequency grid: use DFT "
            f"indices 0 <= f_h < {nh}, 0 <= f_w < {nw}"
        )
    return fh, fw


def _outline(ax: Any, sel: tuple[int, int], nh: int, nw: int) -> list[Rectangle]:
    """Outline the selected frequency (solid) and its conjugate (dashed): the legend handles."""
    fh, fw = sel
    conj = ((-fh) % nh, (-fw) % nw)
    marks: list[tuple[tuple[int, int], Any, str, str]] = [
        (sel, "-", "selected-frequency", "selected")
    ]
    if conj != sel:
        marks.append((conj, (0, (2, 1.5)), "conjugate-frequency", "its conjugate"))
    handles = []
    for (h, w), style, gid, what in marks:
        x, y = signed_frequency(w, nw) - 0.5, signed_frequency(h, nh) - 0.5
        for color, width, z in (("white", 2.6, 5), (st.COLORS["selected"], 1.3, 6)):
            box = Rectangle(
                (x, y),
                1,
                1,
                fill=False,
                edgecolor=color,
                linewidth=width,
                linestyle=style,
                zorder=z,
            )
            ax.add_patch(box)
        box.set_gid(gid)
        pair = f"({_signed(signed_frequency(h, nh))}, {_signed(signed_frequency(w, nw))})"
        note = " (self-conjugate)" if conj == sel else ""
        box.set_label(f"{what} $(f_h, f_w)$ = {pair}{note}")
        handles.append(box)
    return handles


def _signed(n: int) -> str:
    """``−3`` with a true minus sign, ``3`` without a plus (``scale.ts::formatSigned``)."""
    return f"\u2212{-n}" if n < 0 else str(n)
