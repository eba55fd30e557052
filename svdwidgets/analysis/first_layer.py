"""Which layer a dashboard opens on: the one most worth reading first.

A zero-padded conv layer's ``fft`` spectrum is the *circular* convolution's (Sedghi et al.
2019): exact only for circular padding. Where the profile also computed the operator's exact
σ_max (:mod:`svdwidgets.core.sigma_max`), the gap between the two says how far the frequency
picture is from what the layer does, which is what a reader should see first. The rule:

1. among the conv layers with an ``fft`` spectrum (they have a frequency map), the one whose
   circular σ_max is furthest off the exact σ_max, relatively (``|σ_circ − σ_exact| / σ_exact``,
   the first in forward order on a tie);
2. when every such layer is exact (circular padding: no gap), the first of them;
3. with no ``fft`` conv layer at all, the first analysed layer.

So a layer with an empty frequency map (an ``exact``-only layer, a Linear layer) is never chosen
while an ``fft`` conv layer exists. The reason comes back in words for the status line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from svdwidgets.errors import SVDWidgetsError

if TYPE_CHECKING:
    from svdwidgets.model.profile import Profile

__all__ = ["circular_gap", "first_layer"]


def circular_gap(prof: Profile, layer: str) -> float | None:
    """``|σ_circ − σ_exact| / σ_exact`` of ``layer`` (0 for an exact ``fft`` spectrum), or None
    when the layer has no ``fft`` conv spectrum (no frequency map) or no exact σ_max."""
    from svdwidgets.core.spectrum import FFTSpectrum

    entry = prof.entry(layer)
    spec = entry.spectrum
    if not isinstance(spec, FFTSpectrum) or entry.record.kind == "linear":
        return None
    if spec.exact:
        return 0.0
    if entry.sigma_max is None or not float(entry.sigma_max.value) > 0:
        return None
    exact = float(entry.sigma_max.value)
    return abs(float(spec.values[0]) - exact) / exact


def first_layer(prof: Profile) -> tuple[str, str]:
    """``(layer, why)``: the layer to open on by the rule of the module docstring."""
    if not prof.layers:
        raise SVDWidgetsError(f"no layer of the model could be analysed; skipped: {prof.skipped}")
    gaps = {name: circular_gap(prof, name) for name in prof.layers}
    ranked = [(gap, name) for name, gap in gaps.items() if gap is not None]
    if not ranked:
        name = prof.layers[0]
        return name, f"{name}: the first layer (none has an fft spectrum to map)"
    best = max(ranked, key=lambda pair: pair[0])  # max keeps the first of equal gaps
    gap, name = best
    if gap == 0.0:
        return name, f"{name}: the first layer with an exact frequency map"
    entry = prof.entry(name)
    assert entry.spectrum is not None and entry.sigma_max is not None
    circular, exact = float(entry.spectrum.values[0]), float(entry.sigma_max.value)
    return name, (
        f"{name}: its circular approximation is furthest off (σ_max {circular:.4g} vs exact "
        f"{exact:.4g}, {100 * gap:.1f}% off)"
    )
