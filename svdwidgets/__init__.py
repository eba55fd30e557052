"""svdwidgets: read convolutional networks through the SVD of their layers.

The engine is :func:`conv_svd` (see ``DESIGN.md`` for the methods and their papers).
"""

from typing import TYPE_CHECKING

from svdwidgets._version import __version__
from svdwidgets.analysis import Analysis
from svdwidgets.core.bounds import SpectralNormBound, spectral_norm_bound
from svdwidgets.core.conv_svd import METHODS, conv_svd
from svdwidgets.core.sigma_max import SigmaMaxInterval, exact_sigma_max
from svdwidgets.core.spectrum import FFTSpectrum, FrequencyDirection, Spectrum
from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning
from svdwidgets.hypergraph.classes import ClassHypergraph, class_hypergraph
from svdwidgets.model.profile import LayerProfile, Profile, profile
from svdwidgets.model.projection import Projections
from svdwidgets.sweeps import Sweep, sweep

if TYPE_CHECKING:  # imported on first use (needs the widgets extra): see __getattr__
    from svdwidgets.explorer import Explorer

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
    "spectral_norm_bound",
    "sweep",
]


def __getattr__(name: str) -> object:
    # The dashboard needs the widgets extra (ipywidgets, bqplot): imported on first use, so that
    # the core imports without it.
    if name == "Explorer":
        from svdwidgets.explorer import Explorer

        return Explorer
    raise AttributeError(f"module 'svdwidgets' has no attribute {name!r}")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where JupyterLab finds our prebuilt extension (``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "svdwidgets"}]
