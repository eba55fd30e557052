"""Selection and SpectrumLink: the shared selection's traits, and how SpectrumView links to it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets import Selection, SpectrumLink, SpectrumView
from svdwidgets.zoo import load_default


@pytest.fixture(scope="module")
def prof() -> sw.Profile:
    return sw.profile(load_default().model, (1, 28, 28), progress=False, cache=False)


def test_selection_keeps_sorted_distinct_indices_and_rejects_bad_ones() -> None:
    sel = Selection()
    sel.select("a", [5, 2, 5])
    assert sel.layer == "a" and sel.indices == [2, 5]
    with pytest.raises(SVDWidgetsError, match=r"non-negative ints, got \[-1\]"):
        sel.indices = [1, -1]
    assert sel.indices == [2, 5]  # rolled back
    sel.set_state({"indices": [9, 3]})  # from the browser
    assert sel.indices == [3, 9]
    sel.clear()
    assert sel.indices == [] and sel.layer == "a"
    assert sel.get_state()["_model_name"] == "SelectionModel"


def test_a_standalone_spectrum_view_has_no_link(prof: sw.Profile) -> None:
    view = SpectrumView(prof, "block.conv1")
    assert view.link is None
    assert "click" not in view._points.interactions  # the kernel alone handles clicks


def test_a_linked_spectrum_view_writes_gestures_and_draws_changes(prof: sw.Profile) -> None:
    sel = Selection()
    view = SpectrumView(prof, "block.conv1", selection=sel)
    link = view.link
    assert isinstance(link, SpectrumLink) and link.selection is sel
    assert link.scatter is view._points and view._points.interactions["click"] == "select"
    np.testing.assert_array_equal(link.indices, view.curve_indices)  # point j is index j's
    # a click is the browser link's to write (the kernel's click message would race it)
    view._on_click(view._points, {"event": "element_click", "data": {"index": 3}})
    assert (sel.layer, sel.indices) == ("", []) and view.selected == []
    # the kernel's gestures (a brush, select) write the shared selection
    view.select_range(10, 12)
    assert sel.indices == [10, 11, 12]
    # a change made elsewhere is drawn, and not written back
    sel.select("block.conv1", [40])
    assert view.selected == [40]
    sel.select("fc", [1])  # another layer: nothing of this one is selected
    assert view.selected == [] and (sel.layer, sel.indices) == ("fc", [1])
    # switching the view to that layer shows the selection there, and the link follows
    view.layer = "fc"
    assert view.selected == [1] and link.layer == "fc"
    np.testing.assert_array_equal(link.indices, np.arange(10))


def test_spectrum_view_rejects_a_selection_of_the_wrong_type(prof: sw.Profile) -> None:
    with pytest.raises(SVDWidgetsError, match=r"must be a svdwidgets\.widgets\.Selection"):
        SpectrumView(prof, selection="a")  # type: ignore[arg-type]


def _state(w: Any) -> dict[str, Any]:
    return dict(w.get_state())


def test_the_link_travels_with_the_view(prof: sw.Profile) -> None:
    from ipywidgets.embed import dependency_state

    sel = Selection()
    view = SpectrumView(prof, "block.conv2", selection=sel)
    state = dependency_state(view)
    assert view.link.model_id in state and sel.model_id in state  # exported with the view
    assert _state(view.link)["scatter"] == f"IPY_MODEL_{view._points.model_id}"
