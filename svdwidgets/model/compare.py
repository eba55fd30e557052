"""A profiled layer's spectrum under another method, as plain arrays for the views and figures.

The SpectrumView's comparison boxes and :func:`svdwidgets.plots.plot_layer` overlay the same
layer's singular values under other methods of :func:`svdwidgets.conv_svd`: ``fft`` (Sedghi,
Gupta & Long, ICLR 2019; exact only for circular padding), ``exact`` (the top ``k`` values of the
operator as ``conv2d`` runs it) and ``unfolded`` (the ``c_out x c_in·kh·kw`` weight matrix, a
different object). The views import no torch: they are handed :func:`method_comparison`'s
callable, which returns a :class:`MethodCurve` (numpy values, legend label, timing note).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from svdwidgets.core.conv_svd import conv_svd, spectrum_of
from svdwidgets.core.esd import as_values
from svdwidgets.errors import SVDWidgetsError

__all__ = ["COMPARE_METHODS", "MethodCurve", "method_comparison", "overlay_label"]

COMPARE_METHODS = ("fft", "exact", "unfolded")
"""The methods a layer's spectrum can be compared under."""


@dataclass(frozen=True)
class MethodCurve:
    """One layer's singular values under one method, ready to draw."""

    values: np.ndarray
    """float64, descending (all of them, or the top ``k`` for ``exact``)."""
    label: str
    """The legend label, e.g. ``exact top-8 (exact)``."""
    exact: bool | None
    note: str
    """How long it took, with which solver, and any warning it raised."""


def overlay_label(method: str, spec: Any, entry: Any) -> str:
    """The legend label of a compared method (the SpectrumView's and plot_layer's wording)."""
    if method == "unfolded":
        w = getattr(entry, "weight", None)
        shape = f" {w.shape[0]}×{w[0].numel()}" if w is not None else ""
        return f"unfolded W{shape} (not the operator)"
    top = f" top-{len(spec)}" if method == "exact" else ""
    exact = getattr(spec, "exact", None)
    return f"{method}{top} ({'exact' if exact else ('approx.' if exact is False else 'given')})"


def method_comparison(prof: Any) -> Callable[[str, str, int | None], MethodCurve]:
    """``compare(layer, method, k)``: ``prof``'s layer recomputed under ``method``.

    Runs :func:`svdwidgets.conv_svd` on the profiled module and its recorded input size (on the
    BN-folded weight when the profile folded it); ``k`` is the number of top values of
    ``exact`` (None for all). Warnings the computation raises go into the note, not the log.
    """
    # a Profile (not imported: Profile.method_comparison calls this, and model/ has no cycles)
    if not callable(getattr(prof, "entry", None)) or not hasattr(prof, "layers"):
        raise SVDWidgetsError(f"expected a Profile (svdwidgets.profile), got {type(prof).__name__}")

    def compare(layer: str, method: str, k: int | None) -> MethodCurve:
        if method not in COMPARE_METHODS:
            raise SVDWidgetsError(f"unknown method {method!r}; compare one of {COMPARE_METHODS}")
        e = prof.entry(layer)
        if e.geometry is None or e.weight is None:
            raise SVDWidgetsError(f"layer {layer!r} was not analysed: {e.reason}")
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if e.folded:
                spec = spectrum_of(e.weight, e.geometry, method=method, k=k)
            else:
                spec = conv_svd(e.record.module, e.record.input_size, method=method, k=k)
        seconds = time.perf_counter() - start
        notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        note = f"{method}: {seconds:.2g} s ({spec.solver})" + (
            "; " + "; ".join(notes) if notes else ""
        )
        return MethodCurve(
            values=as_values(spec.values, f"{layer} ({method})"),
            label=overlay_label(method, spec, e),
            exact=spec.exact,
            note=note,
        )

    return compare
