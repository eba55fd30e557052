"""svdwidgets: read convolutional networks through the SVD of their layers.

The engine is :func:`conv_svd` (see ``DESIGN.md`` for the methods and their papers).

``import svdwidgets`` (and ``import svdwidgets.widgets``) imports neither torch nor the model
layer: each name below is imported from its module on first use (a module ``__getattr__``).
"""

from typing import TYPE_CHECKING

from svdwidgets._version import __version__
from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning

if TYPE_CHECKING:  # each imported on first use: see __getattr__
    from svdwidgets.analysis import Analysis
    from svdwidgets.core.bounds import SpectralNormBound, spectral_norm_bound
    from svdwidgets.core.conv_svd import METHODS, conv_svd
    from svdwidgets.core.sigma_max import SigmaMaxInterval, exact_sigma_max
    from svdwidgets.core.spectrum import FFTSpectrum, FrequencyDirection, Spectrum
    from svdwidgets.explorer import Explorer
    from svdwidgets.hypergraph.classes import ClassHypergraph, class_hypergraph
    from svdwidgets.model.profile import LayerProfile, Profile, profile
    from svdwidgets.model.projection import Projections, project
    from svdwidgets.sweeps import Sweep, sweep

_LAZY = {
    "Analysis": "svdwidgets.analysis",
    "METHODS": "svdwidgets.core.conv_svd",
    "conv_svd": "svdwidgets.core.conv_svd",
    "SpectralNormBound": "svdwidgets.core.bounds",
    "spectral_norm_bound": "svdwidgets.core.bounds",
    "SigmaMaxInterval": "svdwidgets.core.sigma_max",
    "exact_sigma_max": "svdwidgets.core.sigma_max",
    "FFTSpectrum": "svdwidgets.core.spectrum",
    "FrequencyDirection": "svdwidgets.core.spectrum",
    "Spectrum": "svdwidgets.core.spectrum",
    # the dashboard needs the widgets extra (ipywidgets, bqplot)
    "Explorer": "svdwidgets.explorer",
    "ClassHypergraph": "svdwidgets.hypergraph.classes",
    "class_hypergraph": "svdwidgets.hypergraph.classes",
    "LayerProfile": "svdwidgets.model.profile",
    "Profile": "svdwidgets.model.profile",
    "profile": "svdwidgets.model.profile",
    "Projections": "svdwidgets.model.projection",
    "project": "svdwidgets.model.projection",
    "Sweep": "svdwidgets.sweeps",
    "sweep": "svdwidgets.sweeps",
}
"""Public name -> the module that defines it (imported when the name is first read)."""

__all__ = [
    "METHODS",
    "Analysis",
    "ClassHypergraph",
    "Explorer",
    "FFTSpectrum",
    "FrequencyDirection",
    "LayerProfile",
    "Profile",
    "Projections",
    "SVDWidgetsError",
    "SVDWidgetsWarning",
    "SigmaMaxInterval",
    "SpectralNormBound",
    "Spectrum",
    "Sweep",
    "__version__",
    "class_hypergraph",
    "conv_svd",
    "exact_sigma_max",
    "profile",
    "project",
    "spectral_norm_bound",
    "sweep",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'svdwidgets' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next read is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where JupyterLab finds our prebuilt extension (``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "svdwidgets"}]
