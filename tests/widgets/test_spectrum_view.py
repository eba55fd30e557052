"""SpectrumView's Python state: decimated curves, ESD histogram and fits, selection, methods."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

import svdwidgets as sw
from svdwidgets.core import rmt
from svdwidgets.core.esd import (
    curve_indices,
    esd_histogram,
    mp_bin_counts,
    mp_density,
    power_law_density,
)
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets import SpectrumView
from svdwidgets.widgets.spectrum_view import brush_to_indices


@pytest.fixture(scope="module")
def prof() -> sw.Profile:
    from svdwidgets.zoo import load_default

    return sw.profile(load_default().model, (1, 28, 28), progress=False, cache=False)


@pytest.fixture(scope="module")
def big_spectrum() -> sw.Spectrum:
    """802,816 values: a 64 -> 64 3x3 circular conv on 112x112 inputs (fft, exact)."""
    torch.manual_seed(0)
    spec = sw.conv_svd(
        torch.randn(64, 64, 3, 3) / 24, (112, 112), padding=1, padding_mode="circular"
    )
    assert len(spec) == 64 * 112 * 112
    return spec


def _array(mark: Any, name: str) -> np.ndarray:
    return np.asarray(getattr(mark, name), dtype=np.float64)


def test_the_sorted_curve_is_the_spectrum_at_the_sent_indices(prof: sw.Profile) -> None:
    view = SpectrumView(prof, "block.conv1")
    values = prof["block.conv1"].values.double().numpy()
    idx = view.curve_indices
    assert idx.size == 2000 and idx[0] == 0 and idx[-1] == values.size - 1
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(idx[:1000], np.arange(1000))  # every top value
    main = view._main_line
    np.testing.assert_array_equal(_array(main, "x"), idx + 1)
    np.testing.assert_allclose(_array(main, "y"), values[idx], rtol=1e-12)
    assert main.labels == ["block.conv1: fft (approx.)"]  # zero padding: fft is approximate
    small = SpectrumView(prof, "stem.conv")  # 784 values: all of them
    np.testing.assert_array_equal(small.curve_indices, np.arange(784))


def test_histogram_counts_every_eigenvalue_and_densities_integrate(prof: sw.Profile) -> None:
    view = SpectrumView(prof, "down.conv")
    values = prof["down.conv"].values.double().numpy()
    for log_bins in (True, False):
        view.log_bins = log_bins
        hist = view.histogram
        assert hist.log_bins is log_bins and hist.counts.size == 60
        assert hist.total == values.size == int(hist.counts.sum()) + hist.n_zero
        np.testing.assert_allclose(hist.edges[[0, -1]], [values.min() ** 2, values.max() ** 2])
        assert np.sum(hist.density * np.diff(hist.edges)) == pytest.approx(
            hist.counts.sum() / values.size
        )
        # what the ESD plot draws: the histogram's outline, one step per bin
        x, y = _array(view._hist, "x"), _array(view._hist, "y")
        assert x.size == y.size == 2 * hist.counts.size
        positive = hist.density > 0
        np.testing.assert_allclose(y[::2][positive], hist.density[positive])


def test_the_mp_overlay_carries_the_bulk_mass(prof: sw.Profile) -> None:
    view = SpectrumView(prof, "block.conv1")
    fits = view.fits
    values = prof["block.conv1"].values.double()
    # the same fits as the profile's table (same block shape, same functions)
    row = prof.entry("block.conv1").fits()
    assert fits.mp is not None and fits.tail is not None
    assert fits.mp.sigma_mp == pytest.approx(row["mp_sigma"])
    assert fits.mp.num_spikes == row["mp_spikes"]
    assert fits.tail.alpha == pytest.approx(row["alpha"])
    assert fits.big == 32  # one 32 x 32 frequency block
    n = values.numel()
    # density of λ = σ² per unit λ: integrates to the bulk's share of all eigenvalues
    lo, hi = fits.mp.lambda_minus * fits.big, fits.mp.lambda_plus * fits.big
    t = np.linspace(0, math.pi, 20001)  # λ = lo + (hi - lo)(1 - cos t)/2 tames the edges
    lam = lo + (hi - lo) * (1 - np.cos(t)) / 2
    mass = np.trapezoid(mp_density(lam, fits.mp, fits.big, n) * (hi - lo) * np.sin(t) / 2, t)
    assert mass == pytest.approx(fits.mp.num_bulk / n, rel=1e-3)
    # in histogram units: expected bulk counts per bin sum to the bulk (bins cover it)
    edges = np.linspace(0, hi * 1.01, 61)
    assert mp_bin_counts(edges, fits.mp, fits.big).sum() == pytest.approx(fits.mp.num_bulk)
    # the plotted curve is that density, labelled with the fit
    x, y = _array(view._mp_line, "x"), _array(view._mp_line, "y")
    np.testing.assert_allclose(y, mp_density(x, fits.mp, fits.big, n))
    assert view._mp_line.labels == [
        f"MP bulk: σ_mp={fits.mp.sigma_mp:.3g}, q=1, spikes={fits.mp.num_spikes}"
    ]
    assert view._mp_line.labels[0] in view._legend_esd.value


def test_the_power_law_line_has_slope_minus_alpha_and_the_tail_mass(prof: sw.Profile) -> None:
    view = SpectrumView(prof, "block.conv2")
    tail = view.fits.tail
    assert tail is not None
    x, y = _array(view._tail_line, "x"), _array(view._tail_line, "y")
    assert x[0] == pytest.approx(tail.xmin) and x[-1] == pytest.approx(tail.lambda_max)
    slopes = np.diff(np.log(y)) / np.diff(np.log(x))
    np.testing.assert_allclose(slopes, -tail.alpha)
    n = len(prof["block.conv2"])
    lam = np.geomspace(tail.xmin, tail.xmin * 1e9, 200001)
    mass = np.trapezoid(power_law_density(lam, tail, n), lam)
    assert mass == pytest.approx(tail.n_tail / n, rel=1e-2)
    assert "α=" in view._tail_line.labels[0] and "α̂=" in view._tail_line.labels[0]
    assert view._tail_line.labels[0] in view._legend_esd.value


def test_click_and_brush_select_the_right_indices(prof: sw.Profile) -> None:
    view = SpectrumView(prof, "block.conv1")
    sent = view.curve_indices
    seen: list[list[int]] = []
    view.observe(lambda c: seen.append(c["new"]), "selected")
    # a click on the scatter's 1500th point (a log-spaced one) selects that value's index
    view._on_click(view._points, {"event": "element_click", "data": {"index": 1500}})
    assert view.selected == [int(sent[1500])] and seen == [[int(sent[1500])]]
    np.testing.assert_array_equal(_array(view._sel_points, "x"), [sent[1500] + 1])
    # a brush over ranks [10.5, 20.2] selects indices 10 … 19, once the gesture settles
    view.mode = "brush"
    assert view._fig_sorted.interaction is view._brush
    view._brush.brushing = True
    view._brush.selected = np.array([10.5, 20.2])
    assert len(seen) == 1  # nothing while the mouse moves
    view._brush.brushing = False
    assert view.selected == list(range(10, 20)) and len(seen) == 2
    assert brush_to_indices(20.2, 10.5, 6272) == (10, 19)
    assert brush_to_indices(0.1, 1.0, 6272) == (0, 0)
    assert brush_to_indices(1.2, 1.8, 6272) is None
    assert brush_to_indices(6000, 9000, 6272) == (5999, 6271)
    # selections are sorted and unique; the ESD marks the selected eigenvalues
    view.select([5, 3, 5])
    assert view.selected == [3, 5]
    values = prof["block.conv1"].values.double().numpy()
    np.testing.assert_allclose(_array(view._sel_esd, "x"), values[[3, 5]] ** 2)
    view.select_range(7, 4)
    assert view.selected == [4, 5, 6, 7]
    # switching layers clears the selection (indices of another layer mean nothing)
    view.layer = "down.conv"
    assert view.selected == [] and view._picker.value == "down.conv"
    view._picker.value = "fc"
    assert view.layer == "fc" and view._fig_sorted.title == "fc: sorted singular values"


def test_a_large_selection_draws_only_the_sent_points(prof: sw.Profile) -> None:
    view = SpectrumView(prof, "block.conv1")
    view.select_range(0, 6271)
    assert len(view.selected) == 6272
    assert _array(view._sel_points, "x").size == view.curve_indices.size


def test_bad_input_names_the_value(prof: sw.Profile) -> None:
    view = SpectrumView(prof)
    assert view.layer == "stem.conv"
    with pytest.raises(SVDWidgetsError, match="unknown layer 'nope'"):
        view.layer = "nope"
    with pytest.raises(SVDWidgetsError, match="unknown layer 'nope'"):
        SpectrumView(prof, "nope")
    with pytest.raises(SVDWidgetsError, match="index 784 is out of range"):
        view.select([1, 784])
    with pytest.raises(SVDWidgetsError, match="index -1 is out of range"):
        view.select_range(-1, 3)
    with pytest.raises(SVDWidgetsError, match="unknown method"):
        view.methods = ["svd"]
    with pytest.raises(SVDWidgetsError, match="no analysed layers"):
        SpectrumView(sw.Profile([], {}, torch.nn.ReLU()))
    with pytest.raises(SVDWidgetsError, match="empty dict"):
        SpectrumView({})
    with pytest.raises(SVDWidgetsError, match="got int"):
        SpectrumView(3)
    with pytest.raises(SVDWidgetsError, match="layer 'x'"):
        SpectrumView({"x": np.array([1.0, np.nan])})
    with pytest.raises(SVDWidgetsError, match="needs a Profile"):
        SpectrumView({"x": np.array([2.0, 1.0])}, methods=["fft"])
    assert view.selected == [] and view.layer == "stem.conv"


def test_method_comparison_uses_conv_svd(prof: sw.Profile) -> None:
    view = SpectrumView(prof, "block.conv2", k=8)
    layer = prof.entry("block.conv2")
    module, size = layer.record.module, layer.record.input_size
    view.methods = ["unfolded", "exact", "fft"]
    assert view.methods == ["fft", "exact", "unfolded"]
    assert [box.value for box in view._method_boxes.values()] == [True, True, True]
    # unfolded: the c_out x c_in·kh·kw weight matrix
    weight = module.weight.detach()
    unfolded = torch.linalg.svdvals(weight.reshape(weight.shape[0], -1).double()).numpy()
    line = view._overlays["unfolded"]
    np.testing.assert_allclose(_array(line, "y"), unfolded, rtol=1e-5)
    assert line.labels == ["unfolded W 32×288 (not the operator)"] and line.visible
    # exact top-k of the operator, and fft, as conv_svd computes them
    exact = sw.conv_svd(module, size, method="exact", k=8)
    line = view._overlays["exact"]
    np.testing.assert_allclose(_array(line, "y"), exact.values.double().numpy(), rtol=1e-5)
    assert line.labels == ["exact top-8 (exact)"]
    assert "exact top-8 (exact)" in view._legend_sorted.value
    fft = sw.conv_svd(module, size, method="fft")
    idx = curve_indices(len(fft))
    np.testing.assert_allclose(
        _array(view._overlays["fft"], "y"), fft.values.double().numpy()[idx], rtol=1e-6
    )
    assert view._overlays["fft"].labels == ["fft (approx.)"]
    # cached per (layer, method, k): no recomputation when the boxes toggle back on
    before = view.compare_spectrum("exact")
    view.methods = ["unfolded"]
    assert not view._overlays["exact"].visible
    assert "exact top-8" not in view._legend_sorted.value
    view.methods = ["exact", "unfolded"]
    assert view.compare_spectrum("exact") is before
    view.k = 4  # a new k is a new exact computation, drawn at once
    assert _array(view._overlays["exact"], "y").size == 4
    assert "exact: " in view._status.value


def test_state_stays_small_for_800k_values(big_spectrum: sw.Spectrum) -> None:
    view = SpectrumView({"conv": big_spectrum})
    size = view.state_size()
    print("state of an 802,816-value layer:", size)
    assert size["buffers"] < 1_000_000 and size["json"] < 1_000_000
    assert view.curve_indices.size <= 2000
    hist = view.histogram
    assert hist.total == 802_816 and hist.counts.size == 60
    assert view.fits.mp is not None and view.fits.tail is not None  # circular: complete spectrum
    view.select_range(0, 802_815)  # a brush over everything: only the drawn points go out
    assert view.state_size()["buffers"] < 1_000_000


def test_helpers_check_their_input() -> None:
    with pytest.raises(SVDWidgetsError, match="eigenvalues"):
        esd_histogram(np.array([-1.0, 2.0]))
    with pytest.raises(SVDWidgetsError, match="all 3 eigenvalues are zero"):
        esd_histogram(np.zeros(3))
    hist = esd_histogram(np.array([0.0, 1.0, 4.0, 9.0]), bins=3)
    assert hist.n_zero == 1 and hist.counts.sum() == 3 and hist.total == 4
    mp = rmt.marchenko_pastur_fit(np.ones(4), 4, 4)
    assert mp_bin_counts([0.0, 10.0], mp, 4)[0] == pytest.approx(mp.num_bulk)


def test_the_selection_is_drawn_above_the_points_larger_and_outlined(prof: sw.Profile) -> None:
    from svdwidgets.widgets.selection import Selection

    view = SpectrumView(prof, prof.layers[0], selection=Selection(layer=prof.layers[0]))
    marks = view._fig_sorted.marks
    assert marks[-1] is view._sel_points  # drawn last: above the points
    assert view._sel_points.default_size >= 6 * view._points.default_size  # ~2.5x across
    assert view._sel_points.stroke == "black" and view._sel_points.stroke_width >= 1.5
    assert view._fig_esd.marks[-1] is view._sel_esd and view._sel_esd.stroke == "black"
    # a point clicked in the browser (no kernel): opaque, red, outlined; the others fade
    style = view._points.selected_style
    assert style["fill"] == "#d62728" and style["stroke"] == "black" and style["opacity"] == 1
    assert view._points.unselected_style["opacity"] < 0.55
