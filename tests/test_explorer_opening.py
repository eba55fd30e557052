"""The Explorer opens at once and fills in (issue #15, item 3): the frame returns before the
profile is done, progress arrives in order, the first layer follows the circular-gap rule, the
selection survives a layer switch where its index exists, and close() during filling leaves no
thread behind."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import svdwidgets as sw
from svdwidgets.analysis import first_layer
from svdwidgets.zoo import load_default


@pytest.fixture(autouse=True)
def _fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVDWIDGETS_CACHE", str(tmp_path / "cache"))  # every profile is cold


def _slow_net(width: int = 16, depth: int = 3) -> nn.Module:
    """Zero-padded convs on a large grid: seconds of profile (exact σ_max per layer)."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1)]
    for _ in range(depth - 1):
        layers += [nn.ReLU(), nn.Conv2d(width, width, 3, padding=1)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 3)]
    return nn.Sequential(*layers)


def _analysis_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("svdwidgets")]


def test_it_returns_before_the_profile_is_done_and_wait_fills_everything() -> None:
    net = _slow_net(width=32, depth=4)
    x, y = torch.rand(24, 3, 96, 96), torch.arange(24) % 3
    started = time.perf_counter()
    ex = sw.Explorer(net, x, y, ["a", "b", "c"], autostart=False)
    returned = time.perf_counter() - started
    try:
        assert not ex.filled  # the profile still runs on the analysis's worker
        assert ex._spectrum is None and ex._hypergraph_view is None
        assert ex._picker.disabled and "profil" in ex._status.value + ex._placeholder.value
        assert ex.wait(120)
        assert ex.filled and ex.timings["profile"] > 2 * returned, (returned, ex.timings)
        assert ex.timings["open"] < 0.5
        # everything is in: the views are in the tree, the hypergraph view too
        assert ex.spectrum in ex._spectrum_slot.children
        assert ex.gallery in ex._middle.children and ex.frequency_map is not None
        assert ex.hypergraph_view in ex._graph_slot.children
        assert ex.hypergraph is ex.analysis.hypergraph()
        assert not ex._picker.disabled and list(ex._picker.options) == ex.layers
        assert ex._bar.value == 1.0 and "filled in" in ex._status.value
        # progress in order: the profile layer by layer, then projections, then the hypergraph
        log = ex.progress_log
        stages = [s for s, _, _, _ in log]
        last_profile = max(i for i, s in enumerate(stages) if s == "profile")
        assert stages.index("projections") > last_profile
        assert stages.index("hypergraph") > last_profile
        assert log[-1][:3] == ("hypergraph", 1, 1)
        n = len(ex.layers)
        per_layer = [(d, name) for s, d, t, name in log if s == "profile" and t == 2 * n]
        # each layer named as the profile reaches it: its spectrum, then (costliest first, two
        # at a time) its exact σ_max
        assert per_layer[:n] == list(enumerate(ex.layers))
        assert sorted(name for _, name in per_layer[n:]) == sorted(
            f"{x} (σ_max)" for x in ex.layers
        )
    finally:
        ex.close()


def _dense(conv: nn.Conv2d, size: int, padding_mode: str) -> torch.Tensor:
    """The conv's operator as a dense matrix (bias excluded), built column by column."""
    c = conv.in_channels
    basis = torch.eye(c * size * size, dtype=torch.float64).reshape(-1, c, size, size)
    w = conv.weight.detach().double()
    if padding_mode == "circular":
        out = F.conv2d(F.pad(basis, (1, 1, 1, 1), mode="circular"), w)
    else:
        out = F.conv2d(basis, w, padding=1)
    return out.reshape(basis.shape[0], -1).T


def test_the_first_layer_is_the_one_whose_circular_approximation_is_furthest_off() -> None:
    torch.manual_seed(3)
    size = 8
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, padding_mode="circular"),  # fft exact: no gap
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.Flatten(),
        nn.Linear(4 * size * size, 10),
    )
    with torch.no_grad():  # make the last conv's border matter: a big off-centre tap
        net[4].weight[:, :, 0, 0] += 3.0
    ex = sw.Explorer(net, input_shape=(2, size, size), method="fft", autostart=False)
    try:
        assert ex.wait(120)
        # brute force: dense zero-padded and circular operators, their spectral norms
        gaps = {}
        for name in ("2", "4"):
            conv = net.get_submodule(name)
            exact = torch.linalg.matrix_norm(_dense(conv, size, "zeros"), ord=2).item()
            circular = torch.linalg.matrix_norm(_dense(conv, size, "circular"), ord=2).item()
            gaps[name] = abs(circular - exact) / exact
        expected = max(gaps, key=gaps.__getitem__)
        assert gaps[expected] > 1e-3  # the rule has something to read
        assert ex.layer == expected != ex.layers[0]
        assert ex.selection.layer == expected and ex.spectrum.layer == expected
        assert ex.why.startswith(f"{expected}: its circular approximation is furthest off")
        assert f"{100 * gaps[expected]:.1f}% off" in ex.why and ex.why in ex._status.value
        assert first_layer(ex.profile) == (ex.layer, ex.why)
        # the one asked for wins
        named = sw.Explorer(net, input_shape=(2, size, size), method="fft", layer="6")
        assert named.wait(120) and named.layer == "6" and named.gallery.layer == "6"
        named.close()
    finally:
        ex.close()


def test_the_bundled_model_never_opens_on_a_layer_without_a_frequency_map() -> None:
    bundle = load_default()
    ex = sw.Explorer(bundle.model, input_shape=(1, 28, 28), autostart=False)
    try:
        assert ex.wait(120)
        assert ex.layer != "stem.conv"  # exact-only: its frequency map would be empty
        assert ex.frequency_map.layout.display is None and ex.frequency_map.layer_name == ex.layer
    finally:
        ex.close()


def test_the_selection_is_kept_across_a_switch_where_its_index_exists() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)
    )
    ex = sw.Explorer(net, input_shape=(1, 6, 6), layer="0", autostart=False)
    try:
        assert ex.wait(120)
        n_fc = len(ex.profile["3"].values)
        assert n_fc == 5 and len(ex.profile["0"].values) > 20
        ex.select("0", [2])
        ex.show_layer("3")
        assert ex.selection.layer == "3" and ex.selection.indices == [2]
        assert ex.spectrum.selected == [2] and "3" in ex.gallery.status
        assert "selected i = 2" in ex._summary.value
        ex.show_layer("0")
        ex.select("0", [1, 20])  # 20 does not exist in the Linear layer: only 1 survives
        ex.show_layer("3")
        assert ex.selection.layer == "3" and ex.selection.indices == [1]
    finally:
        ex.close()


def test_close_during_filling_cancels_and_leaves_no_thread() -> None:
    net = _slow_net(depth=4)
    x, y = torch.rand(8, 3, 64, 64), torch.arange(8) % 3
    ex = sw.Explorer(net, x, y, ["a", "b", "c"])
    time.sleep(0.3)
    assert not ex.filled
    started = time.perf_counter()
    ex.close()
    assert time.perf_counter() - started < 10
    assert not _analysis_threads(), _analysis_threads()
    assert ex.wait(1)  # nothing left to wait for
    assert ex._gallery is None  # the views were never made
    jobs = ex._jobs
    assert all(job.finished and job.state == "cancelled" for job in jobs), jobs
    time.sleep(0.5)
    assert not _analysis_threads()


def test_a_closed_analysis_is_refused_and_leaves_no_widget() -> None:
    from ipywidgets.widgets.widget import _instances

    bundle = load_default()
    a = sw.Analysis(bundle.model, input_shape=(1, 28, 28))
    a.close()
    before = len(_instances)
    with pytest.raises(sw.SVDWidgetsError, match="closed"):
        sw.Explorer(bundle.model, analysis=a)
    assert len(_instances) == before
