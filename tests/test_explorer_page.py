"""What an exported Explorer page carries for its controls (svdwidgets/explorer_page.py).

The browser test (tests/browser/test_explorer_page_offline.py) uses every control offline;
these check, without a browser, that the recorded state of each layer is what the kernel draws
(the spectrum's points against the profile's values), that exporting leaves the live Explorer
as it was, and that the budget and the kernel-only controls are honoured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ipywidgets.widgets.widget import _instances

import svdwidgets as sw
from svdwidgets.core import esd
from svdwidgets.explorer_page import page_controller
from svdwidgets.widgets.frequency_map import frequency_values_from_json
from svdwidgets.zoo import load_default
from tests.exported_page import widget_models, widget_state


@pytest.fixture(scope="module")
def explorer() -> Any:
    b = load_default()
    ex = sw.Explorer(
        b.model, b.images[::10], b.labels[::10], b.class_names, layer="block.conv2",
        autostart=False,
    )  # fmt: skip
    yield ex
    ex.close()


def _bq_array(value: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(value["value"], dtype=value["dtype"]).reshape(value["shape"])


def test_every_layer_is_recorded_as_the_kernel_draws_it(explorer: Any) -> None:
    ex = explorer
    ex.select("block.conv2", [3])
    before = (ex.layer, ex.spectrum.layer, ex.selection.indices, ex._summary.value)
    c = page_controller(ex, compare_budget_s=0.0)
    try:
        # the live Explorer is left as it was
        after = (ex.layer, ex.spectrum.layer, ex.selection.indices, ex._summary.value)
        assert after == before
        assert c.layers == ex.layers and len(c.snapshots) == len(ex.layers)
        points = c.targets.index(ex.spectrum.link.scatter)
        gallery = c.targets.index(ex.gallery)
        by_reference: set[str] = set()
        for layer, snap, values, base in zip(
            c.layers, c.snapshots, c.values, c.summary_base, strict=True
        ):
            v = np.asarray(ex.profile[layer].values, dtype=np.float64)
            idx = esd.curve_indices(v.size, head=1000, tail=1000)
            idx = idx[v[idx] > 0]
            y = _bq_array(snap[points]["y"])
            np.testing.assert_allclose(y, v[idx], rtol=1e-12)  # the page's points: its values
            # in float32, which is exact for ranks and float32 values (the bin edges stay float64)
            assert snap[points]["y"]["dtype"] == snap[points]["x"]["dtype"] == "float32"
            np.testing.assert_array_equal(_bq_array(snap[points]["x"]), idx + 1.0)
            if "from_target" in values:  # the page sorts the frequency map's values itself
                # the half plane travels: every value on the full plane, in the page's order
                fmap = snap[values["from_target"]][values["key"]]
                assert fmap["width"] == ex.profile[layer].grid[1]
                full = frequency_values_from_json(fmap)
                sent = np.sort(full.reshape(-1))[::-1][: values["n"]]
                by_reference.add(layer)
            else:
                sent = np.frombuffer(values["buffer"], dtype=values["dtype"])
            np.testing.assert_array_equal(sent, v.astype(np.float32))
            assert f"{v.size:,} singular values" in base and "selected" not in base
            cards = snap[gallery]
            assert cards["layer"] == layer and cards["items"] == []  # nothing rendered
            assert "needs the live kernel" in cards["status"]
        # the fft layers' values travel once, in their frequency maps; the others whole
        mapped = {
            n
            for n in ex.layers
            if ex.profile.entry(n).spectrum.method == "fft"
            and ex.profile.entry(n).record.kind != "linear"
        }
        assert mapped and by_reference == mapped
        # no time for comparisons: no overlays, and their boxes are hidden, not dead
        assert c.method_boxes == {} and all(s is None for v in c.curves.values() for s in v)
        hidden = {id(w) for w in c.hidden}
        assert all(id(b) in hidden for b in ex.spectrum._method_boxes.values())
        assert id(ex.spectrum._log_index_box) in hidden
    finally:
        c.close()
        ex.selection.clear()


def test_a_compared_curve_is_the_analysis_own(explorer: Any) -> None:
    c = page_controller(explorer, compare_budget_s=60.0)
    try:
        fc = c.layers.index("fc")
        curve = c.curves["unfolded"][fc]
        want = np.sort(np.asarray(explorer.analysis.comparison("fc", "unfolded").values))[::-1]
        np.testing.assert_allclose(_bq_array(curve["y"]), want[want > 0], rtol=1e-12)
        np.testing.assert_array_equal(_bq_array(curve["x"]), np.arange(1.0, want.size + 1))
        assert curve["visible"] and "unfolded W 10×32" in c.legend_keys["unfolded"][fc]
        assert set(c.method_boxes) == {"fft", "exact", "unfolded"}
    finally:
        c.close()


def test_the_page_carries_its_controller_and_the_dashboard_does_not(
    explorer: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alive = set(_instances)
    out = explorer.export_html(tmp_path / "page.html")
    size = out.stat().st_size
    assert f"Explorer page: {out} ({size / 1e6:.1f} MB)" in capsys.readouterr().out
    assert set(_instances) == alive  # the controller closed: none in the live kernel
    assert widget_models(out).count("PageControllerModel") == 1
    state = widget_state(out, "PageControllerModel")
    assert state["layers"] == explorer.layers
    assert size <= 8_000_000
