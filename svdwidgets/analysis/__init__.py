"""The one composition root: :class:`Analysis` owns what svdwidgets computes about a model.

The Explorer, ``svdwidgets report`` and ``python -m svdwidgets`` build their output from an
:class:`Analysis` (one layer table, one class hypergraph on operator directions, one
BatchNorm-folding default); long work runs on its :class:`JobRunner` with progress and cancel.
Imports no widgets.
"""

from svdwidgets.analysis.analysis import (
    COMPARE_METHODS,
    DEFAULT_HYPERGRAPH_K,
    DEFAULT_THRESHOLD,
    Analysis,
    Directions,
    MethodCurve,
)
from svdwidgets.analysis.first_layer import circular_gap, first_layer
from svdwidgets.analysis.jobs import Job, JobCancelled, JobContext, JobRunner
from svdwidgets.analysis.table import TEXT_COLUMNS, folding_caption, format_text, layer_table
from svdwidgets.model.folding import FOLD_BN_DEFAULT

__all__ = [
    "COMPARE_METHODS",
    "DEFAULT_HYPERGRAPH_K",
    "DEFAULT_THRESHOLD",
    "FOLD_BN_DEFAULT",
    "TEXT_COLUMNS",
    "Analysis",
    "Directions",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobRunner",
    "MethodCurve",
    "circular_gap",
    "first_layer",
    "folding_caption",
    "format_text",
    "layer_table",
]
