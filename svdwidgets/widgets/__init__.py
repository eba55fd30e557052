"""Jupyter widgets over the core's spectra; the front end lives in ``labextension/``.

Needs the ``widgets`` extra (``pip install svdwidgets[widgets]``): ipywidgets and JupyterLab.
"""

from svdwidgets.widgets.export import export_html
from svdwidgets.widgets.frequency_map import FrequencyMap
from svdwidgets.widgets.hypergraph_view import HypergraphView
from svdwidgets.widgets.spectrum_view import SpectrumView

__all__ = ["FrequencyMap", "HypergraphView", "SpectrumView", "export_html"]
