"""RankView's state: sliders, ranks and the accuracy they give, against truncate_model."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import torch

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.neighbours.lowrank import RankEvaluator, accuracy, rank_curve, truncate_model
from svdwidgets.widgets.lowrank_view import RankView
from svdwidgets.zoo import load_default

LAYERS = ["down.conv", "block.conv2", "fc"]


@functools.lru_cache(maxsize=1)
def _data() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, pd.DataFrame]:
    b = load_default()
    images, labels = b.images[::4], b.labels[::4]  # 250 digits, every class (sorted split)
    curve = rank_curve(b.model, images, labels, layers=LAYERS, ranks=[1, 4, 16])
    return b.model, images, labels, curve


def _view(**kwargs: object) -> RankView:
    model, images, labels, curve = _data()
    return RankView(model, images, labels, curve=curve, **kwargs)  # type: ignore[arg-type]


def test_starts_at_full_rank_with_the_models_accuracy() -> None:
    model, images, labels, _ = _data()
    view = _view()
    assert view.layers == LAYERS
    assert view.full_ranks == {"down.conv": 32, "block.conv2": 32, "fc": 10}
    assert view.ranks == view.full_ranks
    assert view.accuracy == accuracy(model, images, labels)
    assert view.compression == 1.0 and view.macs_ratio == 1.0
    assert view.truncated_model() is model  # nothing truncated: the model itself
    for name, slider in view.sliders.items():
        assert (slider.min, slider.max, slider.value) == (1, view.full_ranks[name], slider.max)
        assert slider.continuous_update is False  # evaluate on release only


def test_moving_a_slider_gives_truncate_model_and_accuracy() -> None:
    model, images, labels, _ = _data()
    view = _view()
    view.sliders["block.conv2"].value = 4
    assert view.ranks == {"down.conv": 32, "block.conv2": 4, "fc": 10}
    expected = accuracy(truncate_model(model, {"block.conv2": 4}), images, labels)
    assert view.accuracy == expected
    assert view.accuracy < accuracy(model, images, labels) - 0.1  # rank 4 costs accuracy
    view.sliders["fc"].value = 2  # a second layer: both truncations at once
    both = accuracy(truncate_model(model, {"block.conv2": 4, "fc": 2}), images, labels)
    assert view.accuracy == both
    assert view.accuracy != expected
    # the costs are the truncated layers': 4 (32·9 + 32) + 2 (32 + 10) + 10 (biases) ...
    ev = view.evaluation
    assert ev.layer_params["block.conv2"] == 4 * (32 * 9 + 32)
    assert ev.layer_params["fc"] == 2 * 32 + 2 * 10 + 10
    assert ev.layer_macs["block.conv2"] == 4 * (32 * 9 + 32) * 14 * 14
    assert view.compression == pytest.approx(ev.base_params / ev.params)
    assert ev.base_params == 32 * 16 * 9 + 32 * 32 * 9 + 32 * 10 + 10
    assert view.compression > 1 and view.macs_ratio < 1
    # the marks sit at the sliders' fractions, at the joint accuracy
    np.testing.assert_allclose(np.asarray(view._marks.x, dtype=float), [1.0, 4 / 32, 2 / 10])
    np.testing.assert_allclose(np.asarray(view._marks.y, dtype=float), both)


def test_ranks_trait_moves_the_sliders_and_is_cached() -> None:
    model, images, labels, _ = _data()
    view = _view()
    view.ranks = {"down.conv": 16}  # missing layers: full rank
    assert view.ranks == {"down.conv": 16, "block.conv2": 32, "fc": 10}
    assert [s.value for s in view.sliders.values()] == [16, 32, 10]
    first = view.evaluation
    assert view.accuracy == accuracy(truncate_model(model, {"down.conv": 16}), images, labels)
    view.reset()
    assert view.accuracy == accuracy(model, images, labels)
    view.set_rank("down.conv", 16)
    assert view.evaluation is first  # back to a combination seen before: not re-evaluated
    assert "cached" in view._status.value


def test_the_curve_is_drawn_as_given() -> None:
    _, _, _, curve = _data()
    view = _view()
    x, y = view.curve_points("block.conv2")
    rows = curve[(curve.layer == "block.conv2") & curve.truncated].sort_values("rank")
    intact = curve[(curve.layer == "block.conv2") & ~curve.truncated]
    assert list(x) == [1 / 32, 4 / 32, 16 / 32, 1.0]  # the intact layer closes the line
    np.testing.assert_array_equal(x[:-1], rows["rank"].to_numpy() / 32)
    np.testing.assert_array_equal(y[:-1], rows["accuracy"].to_numpy())
    assert y[-1] == intact["accuracy"].iloc[0]
    np.testing.assert_array_equal(np.asarray(view._curves["block.conv2"].y, dtype=float), y)
    np.testing.assert_array_equal(np.asarray(view._curves["block.conv2"].x, dtype=float), x)


def test_without_a_curve_it_computes_one() -> None:
    model, images, labels, _ = _data()
    view = RankView(model, images[::5], labels[::5], layers=["fc"])
    assert view.layers == ["fc"]
    assert list(view.curve["rank"]) == [10, 1, 2, 4, 8, 10]


def test_the_state_serialises() -> None:
    """What a notebook or an HTML export sends: every child's state, arrays as buffers."""
    from ipywidgets.embed import dependency_state

    view = _view()
    view.set_rank("fc", 4)
    state = dependency_state(view)
    assert view.model_id in state and view.figure.model_id in state
    assert all(view.sliders[n].model_id in state for n in view.layers)
    slider = state[view.sliders["fc"].model_id]["state"]
    assert slider["value"] == 4 and slider["continuous_update"] is False


def test_bad_input() -> None:
    model, images, labels, curve = _data()
    view = _view()
    with pytest.raises(SVDWidgetsError, match="unknown layer 'nope'"):
        view.set_rank("nope", 3)
    with pytest.raises(SVDWidgetsError, match=r"rank 11 for layer 'fc' is out of range.*1 … 10"):
        view.set_rank("fc", 11)
    with pytest.raises(SVDWidgetsError, match="rank 0"):
        view.set_rank("fc", 0)
    view.set_rank("fc", 4)
    with pytest.raises(SVDWidgetsError, match="rank 33"):
        view.ranks = {"down.conv": 33}
    assert view.ranks["fc"] == 4 and view.ranks["down.conv"] == 32  # rolled back
    with pytest.raises(SVDWidgetsError, match=r"unknown layer\(s\) \['nope'\]"):
        RankView(model, images, labels, layers=["nope"], curve=curve)
    with pytest.raises(SVDWidgetsError, match="no rows for layer"):
        RankView(model, images, labels, layers=["stem.conv"], curve=curve)
    with pytest.raises(SVDWidgetsError, match="lacks column"):
        RankView(model, images, labels, curve=curve.drop(columns="accuracy"))
    with pytest.raises(SVDWidgetsError, match="one label each"):
        RankView(model, images, labels[:3], curve=curve)


def test_a_given_evaluator_is_what_the_view_draws() -> None:
    model, images, labels, curve = _data()
    evaluator = RankEvaluator(model, images, labels, curve=curve)
    view = RankView(evaluator, ranks={"fc": 4, "down.conv": 8})
    cut = truncate_model(model, {"fc": 4, "down.conv": 8})
    assert view.accuracy == pytest.approx(accuracy(cut, images, labels))
    assert view.layers == LAYERS and view.full_ranks == evaluator.full_ranks
    x, y = view.curve_points("fc")
    assert x[-1] == 1.0 and np.all(np.diff(x) > 0) and y.shape == x.shape
    with pytest.raises(SVDWidgetsError, match=r"\['images', 'curve'\] belong to it"):
        RankView(evaluator, images, curve=curve)
    with pytest.raises(SVDWidgetsError, match=r"no rank for layer\(s\) \['fc'\]"):
        evaluator.evaluate({"down.conv": 8, "block.conv2": 4})
