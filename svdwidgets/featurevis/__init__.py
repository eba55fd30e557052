"""Feature visualization of singular vectors, through Lucent.

The adapter between the SVD of a layer (:mod:`svdwidgets.core`, :mod:`svdwidgets.model`) and
Lucent's feature visualization (Olah et al. 2017, "Feature Visualization", Distill;
greentfrapp/lucent): objectives that score activations against singular vectors
(:mod:`.objectives`), batched rendering of many vectors in one optimisation (:mod:`.render`), a
cache of rendered images (:mod:`.cache`), render jobs on a background thread (:mod:`.jobs`), and
the dataset images that drive a singular direction most (:mod:`.examples`). Needs
``torch-lucent`` (installed without its torchvision requirement).
"""

from svdwidgets.featurevis.cache import ImageCache
from svdwidgets.featurevis.examples import TopActivating, top_activating, top_activating_each
from svdwidgets.featurevis.jobs import RenderEvent, RenderQueue
from svdwidgets.featurevis.objectives import SingularObjective, singular_objective
from svdwidgets.featurevis.render import RenderCancelled, Rendering, render_singular_vectors
from svdwidgets.featurevis.transforms import Jitter

__all__ = [
    "ImageCache",
    "Jitter",
    "RenderCancelled",
    "RenderEvent",
    "RenderQueue",
    "Rendering",
    "SingularObjective",
    "TopActivating",
    "render_singular_vectors",
    "singular_objective",
    "top_activating",
    "top_activating_each",
]
