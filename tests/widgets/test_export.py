"""export_html writes one self-contained file: state, views and our renderer, nothing remote.

bqplot figures (SpectrumView's, or any) export too: the renderer bundles the bqplot and bqscales
front ends, at versions the Python packages' module-version ranges accept; widgets of other
front-end packages are refused before a page is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import bqplot as bq
import bqscales
import ipywidgets as ipw
import numpy as np
import pytest
import torch
import traitlets

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets import FrequencyMap, SpectrumView, export_html
from svdwidgets.widgets.export import EMBED_BUNDLE, _manifest, _satisfies
from svdwidgets.zoo import load_default

VENDOR = Path(__file__).resolve().parents[2] / "labextension" / "embed" / "vendor"

pytestmark = pytest.mark.skipif(not EMBED_BUNDLE.exists(), reason="embed bundle not built")


def _map() -> FrequencyMap:
    torch.manual_seed(0)
    spec = sw.conv_svd(torch.randn(4, 3, 3, 3), (6, 6), padding=1, padding_mode="circular")
    assert isinstance(spec, sw.FFTSpectrum)
    return FrequencyMap.from_spectrum(spec, layer_name="conv </script> & co", rank=1)


def _state(page: str) -> dict:
    state_json = re.search(
        r'<script type="application/vnd.jupyter.widget-state\+json">\n(.*?)\n</script>', page, re.S
    )
    assert state_json is not None
    return json.loads(state_json.group(1).replace("<\\/script", "</script"))["state"]


def test_export_is_self_contained(tmp_path: Path) -> None:
    w = _map()
    w.selected_frequency = (1, 2)
    out = export_html(tmp_path / "figure.html", ipw.VBox([ipw.Label("caption"), w]), title="Fig 1")
    page = out.read_text(encoding="utf-8")
    assert "<title>Fig 1</title>" in page
    assert not re.search(r"<script[^>]+src=", page), "no external scripts"
    assert not re.search(r"<link[^>]+href=", page), "no external stylesheets"
    models = _state(page)
    fmap = next(m for m in models.values() if m["model_name"] == "FrequencyMapModel")
    assert fmap["model_module"] == "svdwidgets"
    assert fmap["state"]["rank"] == 1
    assert fmap["state"]["selected_frequency"] == [1, 2]
    # arrays stay binary: base64 buffers with dtype and shape, not lists of floats
    paths = {tuple(b["path"]): b for b in fmap["buffers"]}
    assert paths.keys() == {("frequency_values", "buffer")}  # no index table: the page derives it
    assert ("selected_indices", "buffer") not in paths  # kernel side only: not on the page
    assert {b["encoding"] for b in paths.values()} == {"base64"}
    # the half plane of the 6x6 grid (f_w <= 3), with the width to restore the rest
    assert fmap["state"]["frequency_values"]["shape"] == [6, 4, 3]
    assert fmap["state"]["frequency_values"]["width"] == 6
    assert page.count('<script type="application/vnd.jupyter.widget-view+json">') == 1
    # VBox, Label, FrequencyMap, their 3 layouts and the label style: nothing else
    assert len(models) == 7
    assert "</script> & co" not in page  # the layer name cannot close the state script
    assert len(page.encode()) > EMBED_BUNDLE.stat().st_size  # the renderer is inlined


def test_export_bad_input(tmp_path: Path) -> None:
    with pytest.raises(SVDWidgetsError, match="got nothing"):
        export_html(tmp_path / "x.html", [])
    with pytest.raises(SVDWidgetsError, match=r"\['ndarray'\]"):
        export_html(tmp_path / "x.html", [np.zeros(3)])  # type: ignore[list-item]


def test_spectrum_view_exports_with_its_bqplot_models(tmp_path: Path) -> None:
    prof = sw.profile(load_default().model, (1, 28, 28), progress=False, cache=False)
    view = SpectrumView(prof)
    view.select([0, 3, 5])
    out = export_html(tmp_path / "spectrum.html", view)
    page = out.read_text(encoding="utf-8")
    models = _state(page)
    by_module: dict[str, set[str]] = {}
    for m in models.values():
        by_module.setdefault(m["model_module"], set()).add(m["model_name"])
    assert {"FigureModel", "ScatterModel", "LinesModel", "AxisModel"} <= by_module["bqplot"]
    assert {"LinearScaleModel", "LogScaleModel"} <= by_module["bqscales"]  # 0.13: its own module
    sorted_fig, _ = view.figures
    points = next(m for m in sorted_fig.marks if isinstance(m, bq.Scatter) and len(m.x) > 3)
    scatter = models[points.model_id]
    assert scatter["model_module_version"] == bq.Scatter()._model_module_version
    # bqplot's arrays cross as binary buffers too, not lists of floats
    assert {tuple(b["path"]) for b in scatter["buffers"]} >= {("x", "value"), ("y", "value")}
    assert len(page.encode()) < EMBED_BUNDLE.stat().st_size + 2_000_000


def test_the_renderer_stays_within_its_size_budget() -> None:
    # 2.31 MB with bqplot 0.6.1 and bqscales 0.3.7 (1.0 MB of it), the html-manager and our
    # views; a second copy of a library or a full icon-font set would break the budget
    assert EMBED_BUNDLE.stat().st_size < 2_500_000


def test_bundle_carries_the_front_ends_the_python_packages_ask_for() -> None:
    modules, builtin = _manifest(EMBED_BUNDLE.read_text(encoding="utf-8"))
    assert builtin == {f"@jupyter-widgets/{m}" for m in ("base", "controls", "output")}
    for name in ("bqplot", "bqscales"):  # the vendored copies are what the build bundled
        assert modules[name] == json.loads((VENDOR / name / "package.json").read_text())["version"]
    assert _satisfies(modules["bqplot"], bq.Scatter()._model_module_version)
    assert _satisfies(modules["bqplot"], bq.Figure()._view_module_version)
    assert _satisfies(modules["bqscales"], bqscales.LinearScale()._model_module_version)
    assert _satisfies(modules["svdwidgets"], FrequencyMap._model_module_version.default_value)


class _Foreign(ipw.DOMWidget):
    _model_module = traitlets.Unicode("ipyleaflet").tag(sync=True)
    _model_module_version = traitlets.Unicode("^0.19.0").tag(sync=True)
    _model_name = traitlets.Unicode("LeafletMapModel").tag(sync=True)
    _view_module = traitlets.Unicode("ipyleaflet").tag(sync=True)
    _view_module_version = traitlets.Unicode("^0.19.0").tag(sync=True)
    _view_name = traitlets.Unicode("LeafletMapView").tag(sync=True)


def test_export_refuses_front_ends_it_does_not_bundle(tmp_path: Path) -> None:
    out = tmp_path / "x.html"
    with pytest.raises(SVDWidgetsError, match=r"LeafletMapModel \(ipyleaflet@\^0\.19\.0\): mod"):
        export_html(out, ipw.VBox([ipw.Label("map"), _Foreign()]))
    sx, sy = bq.LinearScale(), bq.LinearScale()
    scatter = bq.Scatter(x=[1.0, 2.0], y=[3.0, 4.0], scales={"x": sx, "y": sy})
    scatter._model_module_version = "^0.7.0"  # a newer bqplot than the bundled 0.6.1
    with pytest.raises(SVDWidgetsError, match=r"bqplot@\^0\.7\.0\): bqplot 0\.6\.\d+ is bundled"):
        export_html(out, bq.Figure(marks=[scatter]))
    assert not out.exists()  # nothing written


@pytest.mark.parametrize(
    ("version", "spec", "ok"),
    [
        ("0.6.1", "^0.6.1", True),
        ("0.6.9", "^0.6.1", True),
        ("0.7.0", "^0.6.1", False),
        ("0.6.0", "^0.6.1", False),
        ("0.3.7", "^0.3", True),
        ("0.4.0", "^0.3", False),
        ("1.9.0", "^1.2.3", True),
        ("2.0.0", "^1.2.3", False),
        ("0.0.3", "^0.0.3", True),
        ("0.0.4", "^0.0.3", False),
        ("1.2.9", "~1.2.3", True),
        ("1.3.0", "~1.2.3", False),
        ("2.0.0", "2.0.0", True),
        ("2.0.1", "2.0.0", False),
        ("1.5.0", "1.x", True),
        ("2.0.0", "1.x", False),
        ("3.1.4", "*", True),
        ("0.6.1", "^0.5 || ^0.6", True),
        ("0.2.0-alpha.0", "^0.2.0", False),
    ],
)
def test_module_version_ranges_follow_npm_semver(version: str, spec: str, ok: bool) -> None:
    assert _satisfies(version, spec) is ok


def test_an_unreadable_version_range_raises() -> None:
    with pytest.raises(SVDWidgetsError, match=r"'>=0\.6'"):
        _satisfies("0.6.1", ">=0.6")
