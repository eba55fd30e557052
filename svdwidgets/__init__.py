"""svdwidgets: read convolutional networks through the SVD of their layers.

The engine is :func:`conv_svd` (see ``DESIGN.md`` for the methods and their papers).
"""

from svdwidgets.core.bounds import SpectralNormBound, spectral_norm_bound
from svdwidgets.core.conv_svd import METHODS, conv_svd
from svdwidgets.core.spectrum import FFTSpectrum, FrequencyDirection, Spectrum
from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning
from svdwidgets.hypergraph.classes import ClassHypergraph, class_hypergraph
from svdwidgets.model.profile import LayerProfile, Profile, profile
from svdwidgets.model.projection import Projections

__all__ = [
    "METHODS",
    "ClassHypergraph",
    "FFTSpectrum",
    "FrequencyDirection",
    "LayerProfile",
    "Profile",
    "Projections",
    "SVDWidgetsError",
    "SVDWidgetsWarning",
    "SpectralNormBound",
    "Spectrum",
    "class_hypergraph",
    "conv_svd",
    "profile",
    "spectral_norm_bound",
]

__version__ = "0.1.0"
