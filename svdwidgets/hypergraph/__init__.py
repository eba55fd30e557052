"""Classes x singular directions as a HyperNetX hypergraph (HyperNetX is imported on use).

The names are loaded on first use, so that :mod:`svdwidgets.hypergraph.layout` (pure numpy,
used by the widgets) imports without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from svdwidgets.hypergraph.classes import (
        DEFAULT_THRESHOLD,
        ClassHypergraph,
        class_hypergraph,
        node_id,
    )
    from svdwidgets.hypergraph.influence import influential, influential_mask
    from svdwidgets.hypergraph.layout import BipartiteLayout, bipartite_layout

_WHERE = {
    "DEFAULT_THRESHOLD": "classes",
    "ClassHypergraph": "classes",
    "class_hypergraph": "classes",
    "node_id": "classes",
    "influential": "influence",
    "influential_mask": "influence",
    "BipartiteLayout": "layout",
    "bipartite_layout": "layout",
}

__all__ = [
    "DEFAULT_THRESHOLD",
    "BipartiteLayout",
    "ClassHypergraph",
    "bipartite_layout",
    "class_hypergraph",
    "influential",
    "influential_mask",
    "node_id",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'svdwidgets.hypergraph' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"svdwidgets.hypergraph.{module}"), name)
    globals()[name] = value
    return value
