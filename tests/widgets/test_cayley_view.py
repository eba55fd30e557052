"""OrthogonalityGapView's state: the plotted gaps and values are zero_padding_gap's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.neighbours.cayley import CayleyConv2d, zero_padding_gap
from svdwidgets.widgets.cayley_view import WAYS, OrthogonalityGapView


@pytest.fixture(scope="module")
def view() -> OrthogonalityGapView:
    torch.manual_seed(0)
    return OrthogonalityGapView(CayleyConv2d(3, 4, 3, bias=False), [4, 6, 8])


def test_circular_is_orthogonal_and_zero_padding_is_not(view: OrthogonalityGapView) -> None:
    for n in view.sizes:
        circ = view.gap(("circular", "full"), n)
        assert circ.method == "fft" and circ.values.numel() == 3 * n * n  # c_in n² values
        assert circ.max_error < 1e-5
        zeros = view.gap(("zeros", "kernel"), n)
        assert zeros.method == "exact" and zeros.max_error > 1e-2
    gap_y = np.asarray(view._gap_lines["zeros", "full"].y, dtype=float)
    expected = [view.gap(("zeros", "full"), n).max_error for n in view.sizes]
    np.testing.assert_allclose(gap_y, expected)


def test_the_size_toggle_shows_that_sizes_values(view: OrthogonalityGapView) -> None:
    assert view.size == 8
    view._picker.value = 6  # a click on the toggle
    assert view.size == 6
    for way in WAYS:
        y = np.asarray(view._values_lines[way].y, dtype=float)
        np.testing.assert_allclose(y, view.gap(way, 6).values.double().numpy())
    assert "n = 6" in view._values_fig.title
    # the values are the layer's own: recomputed independently, they agree
    torch.manual_seed(0)
    layer = CayleyConv2d(3, 4, 3, bias=False)
    ref = zero_padding_gap(layer, 6, padding_mode="zeros", support="kernel")
    np.testing.assert_allclose(
        view.gap(("zeros", "kernel"), 6).values.numpy(), ref.values.numpy(), rtol=1e-10
    )


def test_the_state_serialises(view: OrthogonalityGapView) -> None:
    from ipywidgets.embed import dependency_state

    state = dependency_state(view)
    assert view.model_id in state and view._values_fig.model_id in state


def test_bad_input(view: OrthogonalityGapView) -> None:
    with pytest.raises(SVDWidgetsError, match=r"size 5 was not computed.*\[4, 6, 8\]"):
        view.size = 5
    with pytest.raises(SVDWidgetsError, match="CayleyConv2d"):
        OrthogonalityGapView(torch.nn.Conv2d(3, 4, 3), [4])  # type: ignore[arg-type]
    with pytest.raises(SVDWidgetsError, match=r"positive ints, got \[0\]"):
        OrthogonalityGapView(CayleyConv2d(1, 1, 3), [4, 0])
    with pytest.raises(SVDWidgetsError, match="unknown way"):
        OrthogonalityGapView(CayleyConv2d(1, 1, 3), [4], ways=[("reflect", "full")])
    with pytest.raises(SVDWidgetsError, match="no values"):
        view.gap(("zeros", "full"), 7)
