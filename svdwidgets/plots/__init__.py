"""Static, publication-quality figures of what the views show (matplotlib, headless).

Each function returns a :class:`matplotlib.figure.Figure` made without pyplot (no global
figure state, any backend, no display needed); :func:`save_figure` writes it as PNG, SVG or
PDF. ``import svdwidgets`` does not import this package (nor matplotlib).

* :func:`plot_layer` — a layer's sorted σ and the ESD of λ = σ² with the Marchenko–Pastur bulk
  and the power-law tail (the SpectrumView).
* :func:`plot_profile` — per layer: σ_max exact vs fft, stable rank, power-law α.
* :func:`plot_frequency_map` — σ per frequency, ``(0, 0)`` centred (the FrequencyMap).
* :func:`plot_hypergraph` — classes × singular directions, bipartite or Euler-style (the
  HypergraphView).
* :func:`plot_sweep` — a sweep's layers across checkpoints (σ_max, stable rank, α).
* :func:`plot_gallery` — a grid of images with titles (feature visualizations).
* :func:`save_view` / :func:`plot_view` — the figure of a widget's current state.
"""

from svdwidgets.plots.frequency import plot_frequency_map
from svdwidgets.plots.gallery import plot_gallery
from svdwidgets.plots.hypergraph import plot_hypergraph
from svdwidgets.plots.layer import plot_layer
from svdwidgets.plots.overview import plot_profile, sigma_max_table
from svdwidgets.plots.save import plot_view, save_figure, save_view
from svdwidgets.plots.sweep import plot_sweep

__all__ = [
    "plot_frequency_map",
    "plot_gallery",
    "plot_hypergraph",
    "plot_layer",
    "plot_profile",
    "plot_sweep",
    "plot_view",
    "save_figure",
    "save_view",
    "sigma_max_table",
]
