"""Static figures: the drawn data are the computed values; files are valid PNG/SVG/PDF.

The example figures of the bundled model go to ``test-artifacts/plots/`` (git-ignored).
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle, StepPatch

import svdwidgets as sw
from svdwidgets import plots
from svdwidgets.core import esd
from svdwidgets.errors import SVDWidgetsError

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "plots"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def bundle() -> Any:
    from svdwidgets.zoo import load_default

    return load_default()


@pytest.fixture(scope="module")
def prof(bundle: Any) -> sw.Profile:
    return sw.profile(bundle.model, (1, 28, 28), progress=False, cache=False)


@pytest.fixture(scope="module")
def hg(bundle: Any, prof: sw.Profile) -> sw.ClassHypergraph:
    return sw.class_hypergraph(
        prof, bundle.images[::5], bundle.labels[::5], class_names=bundle.class_names
    )


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _by_gid(fig: Figure, gid: str) -> Any:
    found = [a for a in fig.findobj() if a.get_gid() == gid]
    assert len(found) == 1, f"{len(found)} artists with gid {gid!r}"
    return found[0]


def _svg_text(path: Path) -> str:
    root = ET.parse(path).getroot()  # parses: well-formed XML
    assert root.tag == SVG_NS + "svg"
    return " ".join("".join(t.itertext()) for t in root.iter(SVG_NS + "text"))


def test_import_svdwidgets_leaves_matplotlib_alone() -> None:
    code = (
        "import sys, svdwidgets\n"
        "assert 'matplotlib' not in sys.modules, 'import svdwidgets imported matplotlib'\n"
        "import svdwidgets.plots\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'svdwidgets.plots imported pyplot'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_plot_layer_draws_the_spectrum_its_esd_and_fits(prof: sw.Profile, artifacts: Path) -> None:
    entry = prof.entry("block.conv1")
    values = entry.spectrum.values.double().numpy()  # type: ignore[union-attr]
    fig = plots.plot_layer(entry, selected=[0, 7], methods=["unfolded"], log_index=True)

    idx = esd.curve_indices(values.size, head=2000, tail=2000)
    line = _by_gid(fig, "sorted-values")
    np.testing.assert_array_equal(line.get_xdata(), idx + 1)
    np.testing.assert_allclose(line.get_ydata(), values[idx], rtol=1e-12)
    pts = _by_gid(fig, "selected-values").get_offsets()
    np.testing.assert_allclose(pts, [[1, values[0]], [8, values[7]]], rtol=1e-12)

    unfolded = sw.conv_svd(entry.weight, (14, 14), padding=1, method="unfolded")
    over = _by_gid(fig, "overlay-unfolded")
    np.testing.assert_allclose(over.get_ydata(), unfolded.values.double().numpy(), rtol=1e-5)
    assert "32×288 (not the operator)" in over.get_label()

    hist = esd.esd_histogram(values**2, bins=60)
    stairs = _by_gid(fig, "esd")
    assert isinstance(stairs, StepPatch)
    drawn = stairs.get_data()
    np.testing.assert_allclose(drawn.edges, hist.edges, rtol=1e-12)
    expected = np.where(hist.counts > 0, hist.counts / (values.size * np.diff(hist.edges)), np.nan)
    np.testing.assert_allclose(drawn.values, expected, rtol=1e-12)

    fits = esd.layer_fits(values, entry.geometry, complete=True)
    assert fits.mp is not None and fits.tail is not None
    mp = _by_gid(fig, "mp-bulk")
    x = np.asarray(mp.get_xdata())
    assert x.size > 100 and x.min() >= hist.edges[0] * (1 - 1e-12)
    np.testing.assert_allclose(mp.get_ydata(), esd.mp_density(x, fits.mp, fits.big, values.size))
    tail = _by_gid(fig, "power-law")
    x = np.asarray(tail.get_xdata())
    assert x[0] == pytest.approx(fits.tail.xmin)
    np.testing.assert_allclose(
        tail.get_ydata(), esd.power_law_density(x, fits.tail, values.size), rtol=1e-12
    )
    assert f"α = {fits.tail.alpha:.2f}" in tail.get_label()
    sel = _by_gid(fig, "selected-esd").get_offsets()
    np.testing.assert_allclose(sel[:, 0], values[[0, 7]] ** 2, rtol=1e-12)
    np.testing.assert_allclose(sel[:, 1], hist.density[hist.bin_of(values[[0, 7]] ** 2)])

    out = plots.save_figure(fig, artifacts / "layer_block.conv1.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = plots.save_figure(fig, artifacts / "layer_block.conv1.svg")
    text = _svg_text(svg)  # text kept as text
    assert "block.conv1: method fft (approx.)" in text and "sorted singular values" in text


def test_plot_layer_of_a_spectrum_with_given_overlays(prof: sw.Profile, artifacts: Path) -> None:
    # 784 values, exact (auto now takes fft here: the dense SVD costs 7.7e9 flops)
    spec = sw.conv_svd(prof.entry("stem.conv").record.module, (28, 28), method="exact")
    fft = sw.conv_svd(prof.entry("stem.conv").record.module, (28, 28), method="fft")
    fig = plots.plot_layer(spec, name="stem", methods={"fft": fft}, selected=range(100, 300))
    np.testing.assert_allclose(
        _by_gid(fig, "sorted-values").get_ydata(), spec.values.double().numpy(), rtol=1e-12
    )
    np.testing.assert_allclose(
        _by_gid(fig, "overlay-fft").get_ydata(), fft.values.double().numpy(), rtol=1e-12
    )
    assert len(_by_gid(fig, "selected-values").get_offsets()) == 200
    assert fig.get_suptitle().startswith("stem: method exact, 784 values")
    plots.save_figure(fig, artifacts / "layer_stem.conv.png")


def test_plot_layer_bad_input(prof: sw.Profile) -> None:
    entry = prof.entry("block.conv1")
    with pytest.raises(SVDWidgetsError, match="selected index 6272 is out of range"):
        plots.plot_layer(entry, selected=[6272])
    with pytest.raises(SVDWidgetsError, match=r"unknown method\(s\) \['dense'\]"):
        plots.plot_layer(entry, methods=["dense"])
    with pytest.raises(SVDWidgetsError, match="needs a LayerProfile"):
        plots.plot_layer(prof["block.conv1"], methods=["exact"])
    with pytest.raises(SVDWidgetsError, match="got ndarray"):
        plots.plot_layer(np.ones(4))
    with pytest.raises(SVDWidgetsError, match="bins must be an int >= 1; got 0"):
        plots.plot_layer(entry, bins=0)


def _operator_sigma_max(conv: torch.nn.Conv2d, size: tuple[int, int]) -> float:
    """σ_max of the bias-free conv as PyTorch runs it, by ARPACK on conv2d / its adjoint."""
    from scipy.sparse.linalg import LinearOperator, svds

    w = conv.weight.detach().double()
    c_in = conv.in_channels
    kw = {"stride": conv.stride, "padding": conv.padding}
    out = torch.nn.functional.conv2d(torch.zeros(1, c_in, *size, dtype=torch.float64), w, **kw)

    def mv(x: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(x).reshape(1, c_in, *size))
        return torch.nn.functional.conv2d(x, w, **kw).reshape(-1).numpy()

    def rmv(y: np.ndarray) -> np.ndarray:
        y = torch.from_numpy(np.ascontiguousarray(y).reshape(out.shape))
        x = torch.nn.grad.conv2d_input((1, c_in, *size), w, y, **kw)  # type: ignore[arg-type]
        return x.reshape(-1).numpy()

    op = LinearOperator(
        (out.numel(), c_in * size[0] * size[1]), matvec=mv, rmatvec=rmv, dtype=np.float64
    )
    return float(svds(op, k=1, return_singular_vectors=False, tol=1e-10)[0])


def test_plot_profile_shows_each_layers_numbers(
    prof: sw.Profile, bundle: Any, artifacts: Path
) -> None:
    fig = plots.plot_profile(prof)
    df = prof.to_dataframe()
    layers = list(df.index)
    exact = _by_gid(fig, "sigma-exact").get_offsets()
    fft = _by_gid(fig, "sigma-fft").get_offsets()
    np.testing.assert_array_equal(exact[:, 1], np.arange(len(layers)))
    # fc is a matrix (fft exact): the profile's own value; stem.conv (auto now takes fft there:
    # the dense SVD costs 7.7e9 flops) gets its exact value, inside the profile's interval
    assert exact[layers.index("fc"), 0] == pytest.approx(prof["fc"].sigma_max, rel=1e-12)
    stem = prof.entry("stem.conv").sigma_max
    assert stem is not None
    assert exact[layers.index("stem.conv"), 0] == pytest.approx(stem.value, rel=1e-4)
    # block.conv2 (zero padding) ran fft: the circular value overstates the operator's norm
    j = layers.index("block.conv2")
    assert fft[j, 0] == pytest.approx(prof["block.conv2"].sigma_max, rel=1e-12)
    truth = _operator_sigma_max(bundle.model.block.conv2, (14, 14))
    assert exact[j, 0] == pytest.approx(truth, rel=1e-5)
    assert fft[j, 0] > 1.02 * truth
    np.testing.assert_allclose(
        _by_gid(fig, "stable-rank").get_offsets()[:, 0], df["stable_rank"], rtol=1e-12
    )
    np.testing.assert_allclose(_by_gid(fig, "alpha").get_offsets()[:, 0], df["alpha"])
    np.testing.assert_allclose(
        _by_gid(fig, "unfolded-alpha").get_offsets()[:, 0], df["unfolded_alpha"]
    )
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == layers
    plots.save_figure(fig, artifacts / "profile.png")
    with pytest.raises(SVDWidgetsError, match=r"need a Profile.*got DataFrame"):
        plots.plot_profile(df)


def test_plot_frequency_map_is_the_centred_spectrum(prof: sw.Profile, artifacts: Path) -> None:
    spec = prof["block.conv1"]
    fv = spec.frequency_values.double().numpy()  # type: ignore[attr-defined]
    fig = plots.plot_frequency_map(spec, rank=1, selected=(2, 11), name="block.conv1")
    image = _by_gid(fig, "frequency-map")
    assert isinstance(image, AxesImage)
    np.testing.assert_allclose(image.get_array(), np.fft.fftshift(fv[..., 1]), rtol=1e-12)
    assert image.get_array()[7, 7] == pytest.approx(fv[0, 0, 1])  # (0, 0) in the middle
    assert tuple(image.get_extent()) == (-7.5, 6.5, 6.5, -7.5)  # f_h down, signed frequencies
    sel, conj = _by_gid(fig, "selected-frequency"), _by_gid(fig, "conjugate-frequency")
    assert isinstance(sel, Rectangle)
    assert sel.get_xy() == (-3.5, 1.5)  # (f_h, f_w) = (2, 11) is drawn at (2, -3)
    assert conj.get_xy() == (2.5, -2.5)  # its conjugate (-2, 3)
    plots.save_figure(fig, artifacts / "frequency_map_block.conv1.png")

    with pytest.raises(SVDWidgetsError, match="rank 32 is out of range"):
        plots.plot_frequency_map(spec, rank=32)
    with pytest.raises(SVDWidgetsError, match=r"selected frequency \(14, 0\) is outside"):
        plots.plot_frequency_map(spec, selected=(14, 0))
    with pytest.raises(SVDWidgetsError, match="DenseSpectrum from method 'exact'"):
        plots.plot_frequency_map(
            sw.conv_svd(prof.entry("stem.conv").record.module, (28, 28), method="exact")
        )
    with pytest.raises(SVDWidgetsError, match=r"shape \(N_h, N_w, r\).*\(14, 14\)"):
        plots.plot_frequency_map(fv[..., 0])


def test_plot_hypergraph_draws_one_curve_per_incidence(
    hg: sw.ClassHypergraph, artifacts: Path
) -> None:
    inc = hg.incidence.to_numpy()
    node = (
        str(hg.nodes.loc[hg.incidence.columns[3], "layer"]),
        int(hg.nodes.loc[hg.incidence.columns[3], "index"]),
    )
    fig = plots.plot_hypergraph(hg, highlight=node)
    edges = _by_gid(fig, "hypergraph-edges")
    assert isinstance(edges, PathCollection)
    assert len(edges.get_paths()) == np.count_nonzero(inc)
    widths = np.asarray(edges.get_linewidths())
    weights = np.sort(inc[inc > 0])
    np.testing.assert_allclose(widths, 0.35 + 2.6 * weights / weights.max())  # lightest first
    nodes = _by_gid(fig, "hypergraph-nodes").get_offsets()
    assert len(nodes) == inc.shape[1] and np.all(nodes[:, 0] == 1.0)
    # grouped by layer in network order, a header row between layers: y grows down the column
    layer_of = hg.nodes.loc[hg.incidence.columns, "layer"].to_numpy()
    order = np.argsort(nodes[:, 1])
    network = [x for x in dict.fromkeys(hg.nodes["layer"]) if x in set(layer_of)]
    assert list(dict.fromkeys(layer_of[order])) == network
    assert len(_by_gid(fig, "hypergraph-classes").get_offsets()) == len(hg.class_names)
    ring = [a for a in fig.findobj() if a.get_gid() == "hypergraph-highlight"]
    np.testing.assert_allclose(ring[-1].get_offsets()[0], nodes[3])
    svg = plots.save_figure(fig, artifacts / "hypergraph_bipartite.svg")
    assert "Class hypergraph (threshold 0.5)" in _svg_text(svg)
    plots.save_figure(fig, artifacts / "hypergraph_bipartite.png")

    euler = plots.plot_hypergraph(hg, style="euler")
    bands = [c for c in euler.findobj(PolyCollection) if len(c.get_paths()) == len(inc)]
    assert bands, "no rubber band per class"
    plots.save_figure(euler, artifacts / "hypergraph_euler.png")

    with pytest.raises(SVDWidgetsError, match="style must be one of"):
        plots.plot_hypergraph(hg, style="circle")
    with pytest.raises(SVDWidgetsError, match=r"highlight \('fc', 999\) is not a node"):
        plots.plot_hypergraph(hg, highlight=("fc", 999))
    with pytest.raises(SVDWidgetsError, match=r"needs a ClassHypergraph.*got dict"):
        plots.plot_hypergraph({"a": [1]})


def test_the_figure_and_the_view_draw_the_same_layout(
    hg: sw.ClassHypergraph, artifacts: Path
) -> None:
    """The node and class coordinates of the figure are the HypergraphView's traits."""
    from svdwidgets.widgets import HypergraphView

    for max_nodes in (None, 5):
        view = HypergraphView.from_hypergraph(hg, max_nodes=max_nodes)
        fig = plots.plot_view(view)
        shown = view.shown_nodes
        assert len(shown) == (len(view.node_ids) if max_nodes is None else 5)
        nodes = _by_gid(fig, "hypergraph-nodes").get_offsets()
        np.testing.assert_allclose(nodes, view.node_xy[shown], rtol=1e-6)
        classes = _by_gid(fig, "hypergraph-classes").get_offsets()
        np.testing.assert_allclose(classes, view.class_xy, rtol=1e-6)
        edges = _by_gid(fig, "hypergraph-edges")
        assert len(edges.get_paths()) == np.count_nonzero(view.incidence[:, shown])
        ends = np.array([p.vertices[-1] for p in edges.get_paths()])
        assert {round(float(y), 3) for y in ends[:, 1]} <= {
            round(float(y), 3) for y in view.node_xy[shown, 1]
        }
        # a layer with one drawn direction has no header: its node's label names the layer
        texts = {t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))}
        for j in shown:
            layer = int(view.node_layers[j])
            name = view.layer_names[layer]
            if np.isnan(view.layer_y[layer]):
                assert any(t.endswith(f" · {name}") for t in texts), name
            else:
                assert any(t.startswith(f"{name} (") for t in texts), name
    # the same cut from a ClassHypergraph directly
    again = plots.plot_hypergraph(hg, max_nodes=5)
    np.testing.assert_allclose(
        _by_gid(again, "hypergraph-nodes").get_offsets(), view.node_xy[shown], rtol=1e-6
    )
    with pytest.raises(SVDWidgetsError, match="max_nodes must be an int >= 1, None or 'auto'"):
        plots.plot_hypergraph(hg, max_nodes=0)


def test_plot_gallery_shows_each_image(bundle: Any, artifacts: Path) -> None:
    # dataset examples as uint8 (N, H, W, C), the layout of featurevis' Rendering.images
    picked = np.arange(0, 1000, 100)
    images = (bundle.images[picked].permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    titles = [f"label {int(bundle.labels[i])}" for i in picked]
    fig = plots.plot_gallery(images, titles, title="bundled digits, one per class")
    shown = list(fig.findobj(AxesImage))
    assert len(shown) == 10
    rows = {round(a.get_position().bounds[1], 6) for a in fig.axes if a.images}
    assert len(rows) == 2  # 2 rows of 5
    for k, image in enumerate(shown):
        np.testing.assert_array_equal(image.get_array(), images[k, ..., 0])
        assert image.axes.get_title() == titles[k]
    plots.save_figure(fig, artifacts / "gallery_digits.png")
    images, titles = images[:4], titles[:4]

    with pytest.raises(SVDWidgetsError, match="need one title per image: 4 images, got 3"):
        plots.plot_gallery(images, titles[:3])
    with pytest.raises(SVDWidgetsError, match=r"must be uint8.*got dtype float32"):
        plots.plot_gallery(images.astype(np.float32), titles)
    with pytest.raises(SVDWidgetsError, match=r"got \(4, 28, 28, 2\)"):
        plots.plot_gallery(np.zeros((4, 28, 28, 2), dtype=np.uint8), titles)


def test_save_figure_formats_and_bad_paths(tmp_path: Path) -> None:
    fig = plots.plot_gallery(np.full((1, 4, 4, 3), 200, dtype=np.uint8), ["grey σ"])
    png = plots.save_figure(fig, tmp_path / "a.png", dpi=100)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "grey σ" in _svg_text(plots.save_figure(fig, tmp_path / "a.SVG"))
    assert plots.save_figure(fig, tmp_path / "a.pdf").read_bytes()[:5] == b"%PDF-"
    with pytest.raises(SVDWidgetsError, match=r"as '\.jpg'.*use one of \['\.pdf', '\.png'"):
        plots.save_figure(fig, tmp_path / "a.jpg")
    with pytest.raises(SVDWidgetsError, match=r"'\(no suffix\)'"):
        plots.save_figure(fig, tmp_path / "a")
    with pytest.raises(SVDWidgetsError, match=r"missing.*does not exist"):
        plots.save_figure(fig, tmp_path / "missing" / "a.png")
    with pytest.raises(SVDWidgetsError, match=r"need a matplotlib Figure.*got str"):
        plots.save_figure("fig", tmp_path / "b.png")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.SVG", "a.pdf", "a.png"]


def test_save_view_draws_what_each_widget_shows(
    prof: sw.Profile, hg: sw.ClassHypergraph, tmp_path: Path
) -> None:
    from svdwidgets.widgets import FrequencyMap, HypergraphView, SpectrumView

    view = SpectrumView(prof, "block.conv2", methods=["unfolded"], log_index=True)
    view.select([0, 3])
    fig = plots.plot_view(view)
    idx = esd.curve_indices(view.values.size, head=2000, tail=2000)
    np.testing.assert_allclose(_by_gid(fig, "sorted-values").get_ydata(), view.values[idx])
    np.testing.assert_allclose(
        _by_gid(fig, "selected-values").get_offsets(),
        [[1, view.values[0]], [4, view.values[3]]],
    )
    np.testing.assert_allclose(_by_gid(fig, "esd").get_data().edges, view.histogram.edges)
    assert "unfolded" in _by_gid(fig, "overlay-unfolded").get_label()
    assert "method fft (approx.)" in fig.get_suptitle()
    assert "block.conv2" in _svg_text(plots.save_view(view, tmp_path / "spectrum.svg"))

    fmap = FrequencyMap.from_spectrum(prof["down.conv"], layer_name="down.conv", rank=2)
    fmap.selected_frequency = (1, 3)
    fig = plots.plot_view(fmap)
    expected = np.fft.fftshift(np.asarray(fmap.frequency_values, dtype=np.float64)[..., 2])
    np.testing.assert_allclose(_by_gid(fig, "frequency-map").get_array(), expected)
    assert _by_gid(fig, "selected-frequency").get_xy() == (2.5, 0.5)
    plots.save_view(fmap, tmp_path / "fmap.png")

    hview = HypergraphView.from_hypergraph(hg)
    hview.highlight = (hview.layer_names[int(hview.node_layers[0])], int(hview.node_indices[0]))
    fig = plots.plot_view(hview)
    edges = _by_gid(fig, "hypergraph-edges")
    assert len(edges.get_paths()) == np.count_nonzero(hview.incidence)
    assert len([a for a in fig.findobj() if a.get_gid() == "hypergraph-highlight"]) == 2
    plots.save_view(hview, tmp_path / "hg.pdf")
    hview.highlight = (hview.layer_names[0], 10**6)  # not a node: the view marks nothing
    drawn = plots.plot_view(hview).findobj()
    assert not [a for a in drawn if a.get_gid() == "hypergraph-highlight"]

    with pytest.raises(SVDWidgetsError, match="got Profile"):
        plots.save_view(prof, tmp_path / "x.png")
