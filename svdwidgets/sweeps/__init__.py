"""Sweeps: many checkpoints or models profiled on an executor (in process, any
``concurrent.futures`` executor, or a Dask distributed cluster), resumable.

The subpackage is ``sweeps`` so that ``svdwidgets.sweep`` stays the function.
"""

from svdwidgets.sweeps.result import Failure, Sweep
from svdwidgets.sweeps.run import PROFILE_OPTIONS, sweep
from svdwidgets.sweeps.sources import Source

__all__ = ["PROFILE_OPTIONS", "Failure", "Source", "Sweep", "sweep"]
