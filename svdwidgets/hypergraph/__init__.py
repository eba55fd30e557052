"""Classes x singular directions as a HyperNetX hypergraph (HyperNetX is imported on use)."""

from svdwidgets.hypergraph.classes import (
    DEFAULT_THRESHOLD,
    ClassHypergraph,
    class_hypergraph,
    node_id,
)
from svdwidgets.hypergraph.influence import influential, influential_mask

__all__ = [
    "DEFAULT_THRESHOLD",
    "ClassHypergraph",
    "class_hypergraph",
    "influential",
    "influential_mask",
    "node_id",
]
