"""Jupyter widgets over the core's spectra; the front end lives in ``labextension/``.

Needs the ``widgets`` extra (``pip install svdwidgets[widgets]``): ipywidgets and JupyterLab.
Views that share a :class:`Selection` link with each other (the :class:`~svdwidgets.Explorer`
composes them all).
"""

from svdwidgets.widgets.cayley_view import OrthogonalityGapView
from svdwidgets.widgets.conv_operator_view import ConvOperatorView
from svdwidgets.widgets.export import export_html
from svdwidgets.widgets.frequency_map import FrequencyMap
from svdwidgets.widgets.hypergraph_view import HypergraphView
from svdwidgets.widgets.lowrank_view import RankView
from svdwidgets.widgets.selection import Selection, SpectrumLink
from svdwidgets.widgets.sparse_view import SparsePathView
from svdwidgets.widgets.spectrum_view import SpectrumView
from svdwidgets.widgets.sweep_view import SweepView
from svdwidgets.widgets.vector_gallery import VectorGallery

__all__ = [
    "ConvOperatorView",
    "FrequencyMap",
    "HypergraphView",
    "OrthogonalityGapView",
    "RankView",
    "Selection",
    "SparsePathView",
    "SpectrumLink",
    "SpectrumView",
    "SweepView",
    "VectorGallery",
    "export_html",
]
