"""svdwidgets: read convolutional networks through the SVD of their layers.

The engine is :func:`conv_svd` (see ``DESIGN.md`` for the methods and their papers).
"""

from svdwidgets.core.conv_svd import METHODS, conv_svd
from svdwidgets.core.spectrum import FFTSpectrum, FrequencyDirection, Spectrum
from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning
from svdwidgets.model.profile import LayerProfile, Profile, profile

__all__ = [
    "METHODS",
    "FFTSpectrum",
    "FrequencyDirection",
    "LayerProfile",
    "Profile",
    "SVDWidgetsError",
    "SVDWidgetsWarning",
    "Spectrum",
    "conv_svd",
    "profile",
]

__version__ = "0.1.0"
