"""The Explorer's kernel side: one selection shared by every view, layer switching, bad input.

The browser side (clicks in each view update the others, in the page) is in
tests/browser/test_explorer_lab.py; here the same links are driven through the widgets' state,
as messages from the browser would set it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from ipywidgets.embed import dependency_state
from ipywidgets.widgets.widget import _instances

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.zoo import load_default

FAST = {"steps": 8}


@pytest.fixture(scope="module")
def bundle() -> Any:
    return load_default()


@pytest.fixture(scope="module")
def explorer(bundle: Any) -> Any:
    ex = sw.Explorer(
        bundle.model,
        bundle.images[::5],
        bundle.labels[::5],
        bundle.class_names,
        layer="block.conv2",
        render_options=FAST,
        n_examples=3,
    )
    yield ex
    ex.close()


def test_every_view_shares_one_selection(explorer: Any) -> None:
    ex = explorer
    assert ex.layers == ["stem.conv", "down.conv", "block.conv1", "block.conv2", "fc"]
    sel = ex.selection
    assert ex.spectrum.link.selection is sel
    assert ex.frequency_map.selection is sel
    assert ex.gallery.selection is sel
    assert ex.hypergraph_view.selection is sel
    assert ex.wait(300) and ex.gallery.error == ""
    # the spectrum's browser link knows which singular index each point is
    np.testing.assert_array_equal(ex.spectrum.link.indices, ex.spectrum.curve_indices)
    assert ex.spectrum.link.layer == "block.conv2"


def test_a_selection_from_the_browser_reaches_every_kernel_view(explorer: Any) -> None:
    ex = explorer
    ex.selection.set_state({"layer": "block.conv2", "indices": [7]})  # as the browser sends it
    assert ex.spectrum.selected == [7]
    assert 7 in ex.gallery.indices or any(7 in c["aliases"] for c in ex.gallery.items)
    spec = ex.profile["block.conv2"]
    # the browser finds where to draw index 7 from the map's values (frequency_order.ts)
    from svdwidgets.widgets.frequency_map import value_order

    assert ex.frequency_map.n_values == len(spec)
    assert tuple(value_order(ex.frequency_map.frequency_values)[7]) == spec.frequency_of(7)
    # a brush (a kernel-side gesture on the spectrum) writes the shared selection
    ex.spectrum.select_range(2, 5)
    assert ex.selection.indices == [2, 3, 4, 5] and ex.selection.layer == "block.conv2"
    ex.select("block.conv2", [0])
    assert ex.spectrum.selected == [0]


def test_a_node_of_another_layer_switches_every_view(explorer: Any) -> None:
    ex = explorer
    hv = ex.hypergraph_view
    j = int(np.flatnonzero(hv.node_layers == hv.layer_names.index("down.conv"))[0])
    index = int(hv.node_indices[j])
    # node indices are operator singular indices: the same σ the spectrum shows
    assert hv.node_sigmas[j] == pytest.approx(float(ex.profile["down.conv"].values[index]))
    ex.selection.set_state({"layer": "down.conv", "indices": [index]})
    assert ex.layer == "down.conv" and ex.spectrum.layer == "down.conv"
    assert ex.gallery.layer == "down.conv" and ex.frequency_map.layer_name == "down.conv"
    assert ex.spectrum.selected == [index]  # the switch kept the selection
    assert ex.selection.layer == "down.conv" and ex.selection.indices == [index]
    # a layer without a frequency map (every conv here is fft: the Linear head, method dense):
    # the map hides and says why
    ex.show_layer("fc")
    assert ex.profile["fc"].method == "dense"
    assert ex.frequency_map.layout.display == "none"
    assert "No frequency map for fc" in ex._fmap_note.value
    assert "a Linear layer" in ex._fmap_note.value
    # the selection is kept across the switch where the layer has a direction of that index
    kept = [index] if index < len(ex.profile["fc"].values) else []
    assert ex.selection.layer == "fc" and ex.selection.indices == kept
    assert "fc" in ex.gallery.status  # the gallery says which layer it shows
    ex.show_layer("block.conv2")
    assert ex.frequency_map.layout.display is None


def test_state_is_small_and_has_no_stray_widgets(explorer: Any) -> None:
    state = dependency_state(explorer, drop_defaults=True)
    size = len(json.dumps(state, default=str))
    assert size < 2_000_000, size
    names = {s["model_name"] for s in state.values()}
    assert {"SelectionModel", "SpectrumLinkModel", "VectorGalleryModel"} <= names


def test_without_data_it_shows_spectra_and_renders(bundle: Any) -> None:
    ex = sw.Explorer(bundle.model, input_shape=(1, 28, 28), autostart=False)
    assert ex.hypergraph is None and ex.hypergraph_view is None
    assert ex.gallery.items and ex.gallery.items[0]["examples"] == []
    ex.close()


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("model",), {}, "must be a torch.nn.Module"),
        ((None,), {}, "pass input_shape"),
        ((None, torch.zeros(4, 28, 28)), {}, r"\(N, C, H, W\) tensor, got shape \(4, 28, 28\)"),
        ((None, torch.zeros(2, 1, 28, 28, dtype=torch.uint8)), {}, "floating point"),
        ((None, torch.full((2, 1, 28, 28), float("nan"))), {}, "NaN"),
        ((None, torch.zeros(2, 1, 28, 28), [0, 1, 2]), {}, "labels must be 2 integers"),
        ((None, torch.zeros(2, 1, 28, 28), [0, 1], ["zero"]), {}, "label 1 has no name"),
        ((None, torch.zeros(2, 1, 28, 28)), {"input_shape": (1, 32, 32)}, "input_shape is"),
        ((None,), {"input_shape": (1, 28)}, "three positive ints"),
        ((None,), {"input_shape": (3, 28, 28)}, "expects in_channels=1"),
        ((None,), {"input_shape": (1, 28, 28), "layer": "nope"}, "unknown layer 'nope'"),
        ((None,), {"input_shape": (1, 28, 28), "k": 0}, "k must be a positive int"),
    ],
)
def test_bad_input_fails_before_any_widget_is_drawn(
    bundle: Any, args: tuple[Any, ...], kwargs: dict[str, Any], match: str
) -> None:
    args = tuple(bundle.model if a is None and i == 0 else a for i, a in enumerate(args))
    before = len(_instances)
    with pytest.raises(SVDWidgetsError, match=match):
        sw.Explorer(*args, **kwargs)
    assert len(_instances) == before


def test_select_checks_its_arguments(explorer: Any) -> None:
    with pytest.raises(SVDWidgetsError, match="unknown layer"):
        explorer.select("nope", 0)
    with pytest.raises(SVDWidgetsError, match=r"\[10\] are out of range: layer 'fc' has 10"):
        explorer.select("fc", [10])
