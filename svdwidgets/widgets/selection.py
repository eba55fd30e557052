"""Selection: the singular directions selected across linked views, shared in the front end.

A ``Selection`` is a widget model without a view (like ``ipywidgets.jslink``'s link model): a
layer name and indices into that layer's ``spectrum.values``. Views that hold a reference to
the same ``Selection`` (``FrequencyMap``, ``HypergraphView``, ``VectorGallery``, and a
``SpectrumView``'s plot through :class:`SpectrumLink`) write a user's click into it and redraw
their highlight when it changes, in the browser. The links therefore keep working in a page
exported without a kernel (:func:`svdwidgets.widgets.export_html`); the kernel observes the
same traits for what needs computing (rendering a singular vector, fetching dataset examples).

One rule keeps linked views free of feedback loops: a *gesture* on a view writes the selection;
a *change* of the selection only redraws highlights, never writes a view's own selection back.

The front end is ``SelectionModel`` and ``SpectrumLinkModel`` in
``labextension/src/selection.ts``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import traitlets
from ipywidgets import Widget, widget_serialization

from svdwidgets.widgets._errors import TraitValueError
from svdwidgets.widgets._frontend import MODULE_NAME, MODULE_VERSION
from svdwidgets.widgets.serialization import NDArray, array_serialization

__all__ = ["Selection", "SelectionObserver", "SpectrumLink"]


class Selection(Widget):
    """The selected singular directions: ``indices`` of layer ``layer``.

    ``indices`` are ascending, distinct, non-negative ints (into the layer's
    ``spectrum.values``). :meth:`select` sets both traits in one message.
    """

    _model_name = traitlets.Unicode("SelectionModel").tag(sync=True)
    _model_module = traitlets.Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)

    layer = traitlets.Unicode("", help="The layer the indices belong to.").tag(sync=True)
    indices = traitlets.List(
        traitlets.Int(), help="Selected indices into the layer's spectrum.values, ascending."
    ).tag(sync=True)

    @traitlets.validate("indices")
    def _check_indices(self, proposal: traitlets.Bunch) -> list[int]:
        values = proposal["value"]
        bad = [i for i in values if isinstance(i, bool) or int(i) != i or i < 0]
        if bad:
            raise TraitValueError(
                f"selected indices must be non-negative ints, got {bad} in {list(values)}"
            )
        return sorted({int(i) for i in values})

    def select(self, layer: str, indices: Iterable[int]) -> None:
        """Select ``indices`` of ``layer`` (one change, one message)."""
        with self.hold_sync(), self.hold_trait_notifications():
            self.layer = str(layer)
            self.indices = [int(i) for i in indices]

    def clear(self) -> None:
        """Select nothing (the layer stays)."""
        self.indices = []

    def __repr__(self) -> str:
        return f"Selection(layer={self.layer!r}, indices={self.indices})"


class SelectionObserver:
    """A kernel-side link: ``callback(change)`` on every change of ``selection``'s layer or
    indices, until :meth:`unlink` (like ``ipywidgets.link``: a link is an object you undo).

    What a view computes when the selection changes (a gallery rendering a selected direction)
    goes through one of these, so that closing the view removes its observer.
    """

    NAMES = ("layer", "indices")

    def __init__(self, selection: Selection, callback: Callable[[traitlets.Bunch], None]) -> None:
        self.selection: Selection | None = selection
        self._callback = callback
        selection.observe(callback, names=list(self.NAMES))

    @property
    def linked(self) -> bool:
        return self.selection is not None

    def unlink(self) -> None:
        """Stop observing (idempotent)."""
        selection, self.selection = self.selection, None
        if selection is not None:
            try:
                selection.unobserve(self._callback, names=list(self.NAMES))
            except ValueError:  # removed already (the selection was closed and cleared)
                pass


class SpectrumLink(Widget):
    """Links a bqplot ``Scatter`` of singular values to a :class:`Selection`, in the browser.

    Point ``j`` of ``scatter`` is the singular value ``indices[j]`` of ``layer``. Clicking a
    point (the scatter's ``'select'`` click interaction sets its ``selected``) selects that
    index; a selection of ``layer`` marks the points it contains (the scatter's ``selected``,
    drawn with its ``selected_style``). :class:`~svdwidgets.widgets.SpectrumView` makes one for
    its sorted-values plot when it is given a selection.
    """

    _model_name = traitlets.Unicode("SpectrumLinkModel").tag(sync=True)
    _model_module = traitlets.Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = traitlets.Unicode(MODULE_VERSION).tag(sync=True)

    scatter = traitlets.Instance(Widget, help="The bqplot Scatter of the values.").tag(
        sync=True, **widget_serialization
    )
    selection = traitlets.Instance(Selection, help="The shared selection.").tag(
        sync=True, **widget_serialization
    )
    layer = traitlets.Unicode("", help="The layer the scatter shows.").tag(sync=True)
    indices = NDArray("int32", 1, help="(P,): the singular index of each scatter point.").tag(
        sync=True, **array_serialization
    )

    def __init__(self, scatter: Widget, selection: Selection, **kwargs: Any) -> None:
        super().__init__(scatter=scatter, selection=selection, **kwargs)

    def unlink(self) -> None:
        """Undo the link: the front end stops writing clicks into the selection and marking
        points (the link's model closes; the scatter and the selection stay)."""
        self.close()

    def show(self, layer: str, indices: np.ndarray) -> None:
        """The scatter now shows ``indices`` of ``layer`` (point ``j`` is ``indices[j]``)."""
        with self.hold_sync():
            self.layer = layer
            self.indices = np.asarray(indices, dtype=np.int32)
