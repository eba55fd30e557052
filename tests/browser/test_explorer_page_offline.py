"""The exported Explorer page: every control it shows works in a browser with no kernel.

One page of the bundled model, opened offline (file://, every other request aborted): the
layer dropdown (the spectrum's points become that layer's singular values, compared with the
profile's own numbers), the brush (a range of ranks selected, the status lines say so), the
compare-methods boxes (an overlay with the exported curve appears), a hypergraph node of another
layer (every view switches to it), a card click and "clear selection". Screenshots in a light
page and in a dark host; the median click-to-linked-views time over 20 clicks is printed.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import bqplot as bq
import numpy as np
import pytest

import svdwidgets as sw
from svdwidgets._palette import COLORS
from svdwidgets.core import esd
from svdwidgets.zoo import load_default
from tests.browser.test_export_offline import offline_page

JS_MODEL = """async ([id, names]) => {
  const m = await window.svdwidgetsManagers[0].get_model(id);
  const out = {};
  for (const n of names) {
    const v = m.get(n);
    out[n] = v && typeof v === 'object' && 'length' in v && typeof v !== 'string'
      ? Array.from(v, Number) : v;
  }
  return out;
}"""

# how many of the matching images decoded to a picture (a missing example would not)
JS_IMAGES_LOADED = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter(img => img.complete && img.naturalWidth > 0).length"""

JS_DOTS = """async ([id, n]) => {
  // the scatter's own view draws one SVG dot per point
  const m = await window.svdwidgetsManagers[0].get_model(id);
  const views = await Promise.all(Object.values(m.views));
  return views.length === 1 && views[0].el.querySelectorAll('.dot').length === n;
}"""

JS_VISIBLE = """async (id) => {
  const m = await window.svdwidgetsManagers[0].get_model(id);
  return !!m.get('visible');
}"""

JS_PATHS = """async (id) => {
  // the lengths of the paths the mark's view drew
  const m = await window.svdwidgetsManagers[0].get_model(id);
  const views = await Promise.all(Object.values(m.views));
  return views.flatMap(v => Array.from(v.el.querySelectorAll('path.line'))
                              .map(p => (p.getAttribute('d') || '').length));
}"""

JS_HAS_POINTS = """async ([id, n]) => {
  const m = await window.svdwidgetsManagers[0].get_model(id);
  const x = m.get('x');
  return !!x && x.length === n;
}"""

JS_CONTROLLER_APPLIED = """async () => {
  const manager = window.svdwidgetsManagers[0];
  const models = await Promise.all(Object.values(manager._models));
  const c = models.find(m => m.get('_model_name') === 'PageControllerModel');
  await c.applied;
  return c.layer;
}"""

#: JupyterLab Dark's main variables: the page's views are written in them (a dark host)
DARK = """:root {
  --jp-layout-color0: #111111; --jp-layout-color1: #212121; --jp-layout-color2: #424242;
  --jp-layout-color3: #616161; --jp-ui-font-color0: #ffffff; --jp-ui-font-color1: #e0e0e0;
  --jp-ui-font-color2: #bdbdbd; --jp-ui-font-color3: #9e9e9e; --jp-content-font-color0: #ffffff;
  --jp-content-font-color1: #e0e0e0; --jp-content-font-color2: #bdbdbd;
  --jp-border-color0: #616161; --jp-border-color1: #616161; --jp-border-color2: #424242;
  --jp-widgets-color: #e0e0e0; --jp-widgets-input-color: #e0e0e0;
  --jp-widgets-input-background-color: #212121; --jp-widgets-input-border-color: #616161;
  --jp-widgets-label-color: #e0e0e0; --jp-widgets-readout-color: #e0e0e0;
}"""

JS_CLICK_TIMES = """async ([cardsSel, n]) => {
  // a card click -> the spectrum's point, the hypergraph's node and the status line follow
  const manager = window.svdwidgetsManagers[0];
  const cards = Array.from(document.querySelectorAll(cardsSel));
  const times = [];
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  for (let k = 0; k < n; k++) {
    const card = cards[k % cards.length];
    const want = card.dataset.index;
    const t0 = performance.now();
    card.click();
    for (let f = 0; f < 120; f++) {
      const status = document.querySelector('.svdw-ex-summary')?.textContent || '';
      const marked = document.querySelector('.svdw-gl-card.svdw-gl-selected');
      if (status.includes('selected i = ' + want + ',') && marked?.dataset.index === want) break;
      await frame();
    }
    times.push(performance.now() - t0);
    await frame();
  }
  return times;
}"""


JS_SWITCH_TIMES = """async ([layers, n]) => {
  // the dropdown -> every view drawn for that layer (the controller applied, one frame later)
  const manager = window.svdwidgetsManagers[0];
  const models = await Promise.all(Object.values(manager._models));
  const c = models.find(m => m.get('_model_name') === 'PageControllerModel');
  const select = document.querySelector('.svdw-ex-picker select');
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  const times = [];
  for (let k = 0; k < n; k++) {
    const layer = layers[k % layers.length];
    const t0 = performance.now();
    select.value = layer;
    select.dispatchEvent(new Event('change', { bubbles: true }));
    for (let f = 0; f < 600 && c.layer !== layer; f++) await frame();
    await c.applied;
    await frame();
    times.push(performance.now() - t0);
  }
  return times;
}"""


def brush_sorted_values(page: Any, root: Any) -> None:
    """Switch the spectrum view under ``root`` (a page or a locator) to "brush a range" and
    drag across the middle of its sorted-values plot, from 20% to 50% of its width."""
    root.get_by_role("button", name="brush a range").click()
    fig = root.locator(".svdw-sv-sorted svg.svg-figure").first
    page.wait_for_timeout(300)
    box = fig.bounding_box()
    assert box is not None
    y_mid = box["y"] + box["height"] * 0.5
    page.mouse.move(box["x"] + box["width"] * 0.2, y_mid)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.35, y_mid, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.5, y_mid, steps=5)
    page.mouse.up()


def _sent_curve(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the spectrum view sends for a layer: decimated ranks and their σ (dense reference)."""
    idx = esd.curve_indices(values.size, head=1000, tail=1000)
    idx = idx[values[idx] > 0]
    return idx + 1.0, values[idx]


def test_every_control_of_the_exported_explorer_works_offline(
    tmp_path: Path, browser: Any, artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from playwright.sync_api import expect

    b = load_default()
    ex = sw.Explorer(
        b.model,
        b.images[::5],
        b.labels[::5],
        b.class_names,
        layer="block.conv2",
        render_options={"steps": 16},
        n_examples=3,
    )
    assert ex.wait(300) and ex.gallery.error == ""
    cards = list(ex.gallery.indices)
    fft_layer = {name: isinstance(ex.profile[name], sw.FFTSpectrum) for name in ex.layers}
    fft_layer["fc"] = False  # a Linear layer has no frequency map
    sel_points = ex.spectrum.figures[0].marks[-1].model_id  # drawn last: above the points
    sel_esd = ex.spectrum.figures[1].marks[-1].model_id
    values = {name: np.asarray(ex.profile[name].values, dtype=np.float64) for name in ex.layers}
    scatter = ex.spectrum.link.scatter.model_id
    hv = ex.hypergraph_view
    assert hv is not None
    other = next(
        j
        for j in range(len(hv.node_indices))
        if hv.layer_names[int(hv.node_layers[j])] not in ("block.conv2", "block.conv1")
    )
    other_layer = hv.layer_names[int(hv.node_layers[other])]
    other_index = int(hv.node_indices[other])
    unfolded_values = np.asarray(ex.analysis.comparison("block.conv1", "unfolded").values)
    unfolded = next(
        m.model_id
        for m in ex.spectrum.figures[0].marks
        if isinstance(m, bq.Lines)
        and m.line_style == "dashed"
        and m.marker == "circle"
        and m.colors == [COLORS["unfolded"]]
    )
    # what a click on frequency (2, 11) of block.conv2's map selects, from the kernel's spectrum:
    # the first value of its half-plane cell (12, 3) and that value's twin
    spec2 = ex.profile["block.conv2"]
    first = next(i for i in range(len(spec2)) if spec2.frequency_of(i) == (12, 3))
    frequency_pick = sorted({first, spec2.twin(first)})
    selection_id = ex.selection.model_id
    examples = sum(len(c["examples"]) for c in ex.gallery.items)
    assert examples == 3 * len(cards)
    out = ex.export_html(tmp_path / "explorer.html")
    printed = capsys.readouterr().out
    size = out.stat().st_size
    assert f"({size / 1e6:.1f} MB)" in printed, printed
    assert ex.layer == "block.conv2" and ex.spectrum.layer == "block.conv2"  # left as it was
    ex.close()
    assert size <= 8_000_000, size

    def points() -> tuple[np.ndarray, np.ndarray]:
        got = page.evaluate(JS_MODEL, [scatter, ["x", "y"]])
        return np.asarray(got["x"]), np.asarray(got["y"])

    def check_points(layer: str) -> None:
        page.wait_for_function(JS_CONTROLLER_APPLIED)
        x, y = points()
        want_x, want_y = _sent_curve(values[layer])
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_allclose(y, want_y, rtol=1e-12)
        page.wait_for_function(JS_DOTS, arg=[scatter, int(want_x.size)])

    with offline_page(browser, out, width=1300) as (page, errors):
        assert page.evaluate("document.documentElement.dataset.svdwidgetsRendered") == "true"
        summary = page.locator(".svdw-ex-summary")
        status = page.locator(".svdw-sv-status")
        expect(page.locator("img.svdw-gl-image")).to_have_count(len(cards))
        check_points("block.conv2")
        # kernel-only controls are not shown
        expect(page.get_by_text("log rank axis", exact=True)).to_be_hidden()
        expect(page.get_by_text("exact top-k", exact=True)).to_be_hidden()

        # 1. the layer dropdown: the spectrum's points are block.conv1's values
        page.locator(".svdw-ex-picker select").select_option("block.conv1")
        check_points("block.conv1")
        expect(summary).to_contain_text(f"{values['block.conv1'].size:,} singular values")
        expect(page.locator(".svdw-sv-sorted")).to_contain_text("block.conv1: sorted")
        expect(page.locator(".svdw-sv-esd")).to_contain_text("block.conv1: ESD")
        gallery = page.locator(".svdw-gallery")
        expect(gallery.locator(".svdw-gl-title")).to_contain_text("block.conv1")
        expect(gallery.locator(".svdw-gl-status")).to_contain_text("needs the live kernel")
        expect(page.locator("img.svdw-gl-image")).to_have_count(0)  # none rendered in the kernel
        expect(page.locator(".svdw-fm-cell")).to_have_count(14 * 14)
        expect(status).to_contain_text("nothing selected")
        page.screenshot(path=str(artifacts / "60-page-layer-switched.png"), full_page=True)

        # 2. the brush: drag over ranks; a contiguous range is selected, the status lines say so
        brush_sorted_values(page, page)
        expect(status).to_contain_text("indices, i = ")
        expect(summary).to_contain_text("directions")
        text = status.inner_text()
        first, last = (int(s) for s in text.split("indices, i = ")[1].split(" ·")[0].split(" … "))
        count = int(text.split("selected ")[1].split(" indices")[0])
        assert count == last - first + 1 > 10, text
        page.screenshot(path=str(artifacts / "61-page-brushed.png"), full_page=True)
        page.get_by_role("button", name="click a point").click()
        page.get_by_role("button", name="clear selection").click()
        expect(status).to_contain_text("nothing selected")
        expect(summary).not_to_contain_text("selected")

        # 3. compare methods: block.conv1's unfolded-matrix curve appears, as exported
        page.get_by_role("checkbox", name="unfolded").check()
        legend = page.locator(".svdw-sv-legend").first
        expect(legend).to_contain_text(f"unfolded W 32×{32 * 9} (not the operator)")
        page.wait_for_function(JS_VISIBLE, arg=unfolded)
        got = page.evaluate(JS_MODEL, [unfolded, ["x", "y"]])
        want_x, want_y = _sent_curve(np.sort(unfolded_values)[::-1])
        np.testing.assert_array_equal(got["x"], want_x)
        np.testing.assert_allclose(got["y"], want_y, rtol=1e-6)
        drawn = page.evaluate(JS_PATHS, unfolded)
        assert drawn and min(drawn) > 20, drawn
        page.screenshot(path=str(artifacts / "62-page-compare-unfolded.png"), full_page=True)
        page.get_by_role("checkbox", name="unfolded").uncheck()
        expect(legend).not_to_contain_text("unfolded W")
        page.wait_for_function(JS_VISIBLE.replace("return !!", "return !"), arg=unfolded)

        # 4. a hypergraph node of another layer: every view switches to it, the node selected
        page.locator(f'.svdw-hg-node[data-node="{other}"]').first.dispatch_event("click")
        expect(page.locator(".svdw-ex-picker select")).to_have_value(other_layer)
        check_points(other_layer)
        expect(summary).to_contain_text(f"selected i = {other_index},")
        expect(status).to_contain_text(f"selected i = {other_index} (σ = ")
        if not fft_layer[other_layer]:  # no frequency map: hidden, and the note says why
            expect(page.locator(".svdw-fm-cell").first).to_be_hidden()
            expect(page.locator(".svdw-ex-note")).to_contain_text(
                f"No frequency map for {other_layer}"
            )

        # 5. back to block.conv2 (its rendered cards, their dataset examples put back from the
        # page's table of inputs); a frequency click selects the kernel's direction and twin; a
        # card click selects in every view
        page.locator(".svdw-ex-picker select").select_option("block.conv2")
        check_points("block.conv2")
        expect(page.locator("img.svdw-gl-image")).to_have_count(len(cards))
        expect(page.locator("img.svdw-gl-example")).to_have_count(examples)
        assert page.evaluate(JS_IMAGES_LOADED, "img.svdw-gl-example") == examples
        page.locator('rect.svdw-fm-cell[data-fh="2"][data-fw="11"]').dispatch_event("click")
        expect(summary).to_contain_text("selected 2 directions")
        assert page.evaluate(JS_MODEL, [selection_id, ["indices"]])["indices"] == frequency_pick
        page.locator(".svdw-gl-card").nth(2).click()
        sigma = values["block.conv2"][cards[2]]
        expect(summary).to_contain_text(f"selected i = {cards[2]}, σ = {sigma:.4g}")
        expect(page.locator(".svdw-gl-card.svdw-gl-selected")).to_have_count(1)
        # the selection's large markers: on the sorted plot and on the ESD (its bin's density)
        lam = sigma**2
        hist = esd.esd_histogram(values["block.conv2"] ** 2, bins=60, log_bins=True)
        density = hist.density[hist.bin_of([lam])[0]]
        page.wait_for_function(JS_HAS_POINTS, arg=[sel_esd, 1])
        marked = page.evaluate(JS_MODEL, [sel_points, ["x", "y"]])
        assert marked["x"] == [cards[2] + 1.0], marked
        np.testing.assert_allclose(marked["y"], [sigma], rtol=1e-6)
        marked = page.evaluate(JS_MODEL, [sel_esd, ["x", "y"]])
        np.testing.assert_allclose(marked["x"], [lam], rtol=1e-6)
        np.testing.assert_allclose(marked["y"], [density], rtol=1e-9)
        page.screenshot(path=str(artifacts / "63-page-card-selected.png"), full_page=True)

        times = page.evaluate(JS_CLICK_TIMES, [".svdw-gl-card", 20])
        median = statistics.median(times)
        print(f"exported Explorer: click -> linked views, median {median:.1f} ms over 20 clicks")
        assert median <= 50, times

        switches = page.evaluate(JS_SWITCH_TIMES, [["block.conv1", "block.conv2"], 20])
        print(
            "exported Explorer: layer dropdown -> every view switched, "
            f"median {statistics.median(switches):.1f} ms over 20 switches"
        )
        check_points("block.conv2")
        page.locator(".svdw-gl-card").nth(2).click()  # a selection to see in the dark
        expect(summary).to_contain_text(f"selected i = {cards[2]},")
        page.add_style_tag(content=DARK)
        page.wait_for_timeout(200)
        page.screenshot(path=str(artifacts / "64-page-dark.png"), full_page=True)
        assert errors == [], errors
