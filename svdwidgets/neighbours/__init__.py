"""The neighbouring systems: related constructions read through the same SVD engine.

One module per capability, each citing its paper:

- :mod:`~svdwidgets.neighbours.cayley`: orthogonal convolutions by the Cayley transform
  (Trockman & Kolter, ICLR 2021);
- :mod:`~svdwidgets.neighbours.lowrank`: low-rank truncation of layers and models (Yang et al.,
  CVPR-W 2020);
- :mod:`~svdwidgets.neighbours.sparse`: sparse linear decision layers over projections onto
  singular directions (Wong, Santurkar & Madry, ICML 2021);
- :mod:`~svdwidgets.neighbours.linear_networks`: linear convolutional networks as products of
  symbols (Kohn, Merkh, Montúfar & Trager, 2022);
- :mod:`~svdwidgets.neighbours.lmser`: Lmser-style auto-encoders with tied, transposed weights.
"""

from svdwidgets.neighbours.cayley import CayleyConv2d, OrthogonalityGap, cayley, zero_padding_gap
from svdwidgets.neighbours.linear_networks import (
    EndToEnd,
    compose_kernels,
    dense_composition,
    end_to_end,
    filter_power,
    filter_root,
)
from svdwidgets.neighbours.lmser import TiedAutoencoder, roundtrip_matrix, tied_transpose
from svdwidgets.neighbours.lowrank import (
    accuracy,
    rank_curve,
    truncate_fft,
    truncate_model,
    truncate_unfolded,
)
from svdwidgets.neighbours.sparse import (
    SparsePath,
    compare_incidence,
    fit_elastic_net,
    kkt_violation,
    regularization_path,
    sparse_decision_layer,
)

__all__ = [
    "CayleyConv2d",
    "EndToEnd",
    "OrthogonalityGap",
    "SparsePath",
    "TiedAutoencoder",
    "accuracy",
    "cayley",
    "compare_incidence",
    "compose_kernels",
    "dense_composition",
    "end_to_end",
    "filter_power",
    "filter_root",
    "fit_elastic_net",
    "kkt_violation",
    "rank_curve",
    "regularization_path",
    "roundtrip_matrix",
    "sparse_decision_layer",
    "tied_transpose",
    "truncate_fft",
    "truncate_model",
    "truncate_unfolded",
    "zero_padding_gap",
]
