"""Re-export of :mod:`svdwidgets.core.esd` (it moved to the core: plots use it without widgets)."""

from svdwidgets.core.esd import (
    Histogram,
    LayerFits,
    block_shape,
    curve_indices,
    esd_histogram,
    expected_count,
    layer_fits,
    mp_bin_counts,
    mp_density,
    mp_support,
    power_law_density,
)

__all__ = [
    "Histogram",
    "LayerFits",
    "block_shape",
    "curve_indices",
    "esd_histogram",
    "expected_count",
    "layer_fits",
    "mp_bin_counts",
    "mp_density",
    "mp_support",
    "power_law_density",
]
