"""Exported pages render from a file:// page with no network, and clicks work there.

A FrequencyMap (our own view), a SpectrumView (bqplot: its front end and bqscales' are in the
inlined renderer) and a plain bqplot Figure: each must draw real content, keep its front-end
interactions, and never reach for the network (no request, no remote URL in any stylesheet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as ipw
import numpy as np
import pytest

import svdwidgets as sw
from svdwidgets.widgets import FrequencyMap, SpectrumView, export_html
from svdwidgets.zoo import load_default

JS_SELECTED = """async () => {
  const manager = window.svdwidgetsManagers[0];
  const models = await Promise.all(Object.values(manager._models));
  return models.filter(m => m.get('_model_name') === 'FrequencyMapModel')
               .map(m => m.get('selected_frequency'));
}"""

JS_REMOTE_URLS = """() => {
  // anything the page could still fetch: url() in any stylesheet (fonts, images, @import),
  // src and href attributes
  // a URL with a host (http://, https://, //cdn...), not data:, blob:, file: or a fragment
  const remote = t => /^([a-z][a-z0-9+.-]*:)?\\/\\//i.test(t) && !/^file:/i.test(t);
  const found = [];
  for (const sheet of Array.from(document.styleSheets)) {
    for (const rule of Array.from(sheet.cssRules)) {
      const text = rule.cssText;
      // Chrome writes every reference as url("..."), an @import's too
      for (const m of text.matchAll(/url\\(([^)]*)\\)/g)) {
        const target = m[1].replace(/["']/g, '').trim();
        if (remote(target)) found.push(target);
      }
    }
  }
  for (const el of Array.from(document.querySelectorAll('[src], [href]'))) {
    const target = el.getAttribute('src') || el.getAttribute('href');
    if (remote(target)) found.push(el.tagName + ' ' + target);
  }
  return found;
}"""

JS_MARKS = """async () => {
  // per bqplot mark / axis model: its id and what its views drew
  const manager = window.svdwidgetsManagers[0];
  const models = await Promise.all(Object.values(manager._models));
  const out = {};
  for (const model of models) {
    const name = model.get('_model_name');
    if (name !== 'ScatterModel' && name !== 'AxisModel' && name !== 'LinesModel') continue;
    const views = await Promise.all(Object.values(model.views));
    out[model.model_id] = views.map(v => ({
      dots: v.el.querySelectorAll('.dot').length,
      ticks: Array.from(v.el.querySelectorAll('.tick text')).map(t => t.textContent),
      paths: Array.from(v.el.querySelectorAll('path.line'))
                  .map(p => (p.getAttribute('d') || '').length)
    }));
  }
  return out;
}"""

JS_SCATTER_SELECTED = """async (id) => {
  const model = await window.svdwidgetsManagers[0].get_model(id);
  const selected = model.get('selected');
  return selected === null || selected === undefined ? null : Array.from(selected);
}"""


@contextmanager
def offline_page(browser: Any, out: Path, width: int = 900) -> Iterator[tuple[Any, list[str]]]:
    """Open ``out`` with every non-file request aborted; yields (page, errors).

    On exit asserts that the page asked for nothing remote and that no stylesheet or attribute
    names a remote URL (a font is fetched only once text uses it). Console errors are collected
    in ``errors`` for the test to check.
    """
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:  # the page must not need the network
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(out.as_uri())
        page.wait_for_function(
            "document.documentElement.dataset.svdwidgetsRendered", timeout=30_000
        )
        yield page, errors
        remote = page.evaluate(JS_REMOTE_URLS)
    finally:
        context.close()
    assert requests == [], requests
    assert remote == [], remote


def test_exported_html_renders_offline(tmp_path: Path, browser: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    layer = load_default().model.block.conv1
    spectrum = sw.conv_svd(layer.weight, (14, 14), padding=1, padding_mode="circular")
    assert isinstance(spectrum, sw.FFTSpectrum)
    fmap = FrequencyMap.from_spectrum(spectrum, layer_name="block.conv1 (exported)")
    fmap.selected_frequency = (1, 1)
    out = export_html(tmp_path / "figure.html", ipw.VBox([ipw.HTML("<b>Figure 1</b>"), fmap]))

    with offline_page(browser, out) as (page, errors):
        rendered = page.evaluate("document.documentElement.dataset.svdwidgetsRendered")
        assert rendered == "true", errors
        expect(page.locator("rect.svdw-fm-cell")).to_have_count(14 * 14)
        expect(page.locator(".svdw-fm-colorbar-fill")).to_have_count(1)
        marks = page.locator("rect.svdw-fm-selected")
        expect(marks).to_have_count(2)
        assert marks.first.get_attribute("data-fh") == "1"
        assert page.evaluate(JS_SELECTED) == [[1, 1]]

        page.locator('rect.svdw-fm-cell[data-fh="3"][data-fw="12"]').click()
        expect(page.locator(".svdw-fm-status")).to_contain_text("(3, −2)")
        assert page.evaluate(JS_SELECTED) == [[3, 12]]
        assert [m.get_attribute("data-fw") for m in marks.all()] == ["12", "2"]
        page.locator(".svdw-fm-log input").check()
        expect(page.locator(".svdw-fm-colorbar")).to_contain_text("(log)")
        page.screenshot(path=str(artifacts / "06-export-offline.png"))
        assert errors == [], errors


def test_exported_spectrum_view_draws_its_bqplot_figures_offline(
    tmp_path: Path, browser: Any, artifacts: Path
) -> None:
    prof = sw.profile(load_default().model, (1, 28, 28), progress=False, cache=False)
    view = SpectrumView(prof)
    view.select([0, 3, 5])
    out = export_html(tmp_path / "spectrum.html", ipw.VBox([ipw.HTML("<b>Figure 2</b>"), view]))
    sorted_fig, esd_fig = view.figures
    # what Python sent: points per Scatter mark, and which axes there are
    sent = {
        m.model_id: len(m.x)
        for fig in (sorted_fig, esd_fig)
        for m in fig.marks
        if isinstance(m, bq.Scatter)
    }
    assert sorted(sent.values()) == [3, 3, view.curve_indices.size]  # the curve, two selections
    axes = [a.model_id for fig in (sorted_fig, esd_fig) for a in fig.axes]
    curves = [
        m.model_id
        for fig in (sorted_fig, esd_fig)
        for m in fig.marks
        if isinstance(m, bq.Lines) and m.visible and len(m.x) > 0
    ]

    with offline_page(browser, out, width=1200) as (page, errors):
        rendered = page.evaluate("document.documentElement.dataset.svdwidgetsRendered")
        assert rendered == "true", errors
        page.wait_for_function(
            "document.querySelectorAll('.svdw-sv-sorted .dot').length > 0", timeout=30_000
        )
        drawn = page.evaluate(JS_MARKS)
        for model_id, n in sent.items():  # every point sent is one SVG dot, in one view
            assert [v["dots"] for v in drawn[model_id]] == [n], (model_id, n)
        for model_id in axes:  # every axis has labelled ticks
            (ax,) = drawn[model_id]
            assert len(ax["ticks"]) >= 2 and all(t.strip() for t in ax["ticks"]), ax
        for model_id in curves:  # the curve, ESD histogram and fits are drawn paths
            (line,) = drawn[model_id]
            assert line["paths"] and min(line["paths"]) > 20, (model_id, line)
        assert page.locator(".svdw-sv-sorted svg").count() >= 1
        assert page.locator(".svdw-sv-esd svg").count() >= 1
        page.screenshot(path=str(artifacts / "07-export-spectrum-view-offline.png"), full_page=True)
        assert errors == [], errors


def test_exported_bqplot_click_selects_offline(
    tmp_path: Path, browser: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    x = np.arange(7.0)
    sx, sy = bq.LinearScale(min=0.0, max=6.0), bq.LinearScale(min=0.0, max=36.0)
    scatter = bq.Scatter(
        x=x,
        y=x**2,
        scales={"x": sx, "y": sy},
        default_size=200,
        interactions={"click": "select"},
        selected_style={"fill": "red"},
        unselected_style={"opacity": 0.4},
    )
    ax_x = bq.Axis(scale=sx, tick_values=[0, 2, 4, 6], label="x")
    ax_y = bq.Axis(scale=sy, side="left", tick_values=[0, 12, 24, 36], label="x²")
    fig = bq.Figure(marks=[scatter], axes=[ax_x, ax_y], title="click a point", animation_duration=0)
    out = export_html(tmp_path / "scatter.html", fig)

    with offline_page(browser, out) as (page, errors):
        rendered = page.evaluate("document.documentElement.dataset.svdwidgetsRendered")
        assert rendered == "true", errors
        dots = page.locator(".dot")
        expect(dots).to_have_count(7)
        drawn = page.evaluate(JS_MARKS)
        assert [v["ticks"] for v in drawn[ax_x.model_id]] == [["0", "2", "4", "6"]]
        assert [v["ticks"] for v in drawn[ax_y.model_id]] == [["0", "12", "24", "36"]]
        assert page.evaluate(JS_SCATTER_SELECTED, scatter.model_id) in (None, [])

        dots.nth(2).click()
        page.wait_for_function(
            f"() => ({JS_SCATTER_SELECTED})('{scatter.model_id}').then(s => !!s && s.length === 1)"
        )
        assert page.evaluate(JS_SCATTER_SELECTED, scatter.model_id) == [2]
        dots.nth(5).click()  # a click selects that point instead
        page.wait_for_function(
            f"() => ({JS_SCATTER_SELECTED})('{scatter.model_id}').then(s => !!s && s[0] === 5)"
        )
        assert page.evaluate(JS_SCATTER_SELECTED, scatter.model_id) == [5]
        fills = dots.evaluate_all("ds => ds.map(d => getComputedStyle(d).fill)")
        assert fills[5] == "rgb(255, 0, 0)" and fills.count("rgb(255, 0, 0)") == 1, fills
        # the figure's toolbar (pan/zoom, reset, save as PNG) shows its icons: the inlined font
        page.locator(".bqplot.figure").hover()
        icons = page.locator(".bqplot.figure i.fa")
        expect(icons).to_have_count(3)
        glyphs = icons.evaluate_all(
            "is => is.map(i => getComputedStyle(i, '::before').content.codePointAt(1))"
        )
        assert glyphs == [0xF0B2, 0xF021, 0xF0C7], glyphs
        page.wait_for_function("document.fonts.check('900 16px \"Font Awesome 5 Free\"')")
        assert page.evaluate("document.fonts.status") == "loaded"
        page.screenshot(path=str(artifacts / "08-export-bqplot-click-offline.png"))
        assert errors == [], errors


def _scatter_figure() -> Any:
    sx, sy = bq.LinearScale(), bq.LinearScale()
    return bq.Figure(marks=[bq.Scatter(x=[1.0, 2.0], y=[1.0, 2.0], scales={"x": sx, "y": sy})])


@pytest.mark.parametrize(
    ("make", "sent", "edited", "reason"),
    [
        pytest.param(
            _scatter_figure,
            '"model_module_version": "^0.6.1"',
            '"model_module_version": "^0.7.0"',  # as a page written for a newer bqplot
            "FigureModel: svdwidgets-embed: bqplot@^0.7.0 is wanted, 0.6.1 is bundled",
            id="bqplot-0.7",
        ),
        pytest.param(
            lambda: ipw.VBox([ipw.Label("caption")]),
            '"model_module_version": "2.0.0"',
            '"model_module_version": "1.5.0"',  # as ipywidgets 7 wrote it
            "ipywidgets 7 widget state is not supported",
            id="ipywidgets-7",
        ),
    ],
)
def test_a_front_end_the_bundle_lacks_is_reported_in_the_page(
    tmp_path: Path,
    browser: Any,
    artifacts: Path,
    make: Callable[[], Any],
    sent: str,
    edited: str,
    reason: str,
) -> None:
    """The page's loader checks versions as JupyterLab does, and says why above the views."""
    out = export_html(tmp_path / "page.html", make())
    html = out.read_text(encoding="utf-8")
    assert sent in html  # export_html itself refuses to write such a page: edit one
    out.write_text(html.replace(sent, edited), encoding="utf-8")
    with offline_page(browser, out) as (page, errors):
        assert page.evaluate("document.documentElement.dataset.svdwidgetsRendered") == "error"
        message = page.locator(".svdw-embed-error").inner_text()  # said in the page, once
        assert "could not render this page fully" in message, message
        assert reason in message, message
        assert any(reason.split(": ")[-1] in e for e in errors), errors
        if "bqplot" in reason:
            page.screenshot(path=str(artifacts / "09-export-version-mismatch.png"))


JS_OFFLINE_LINKED = """() => {
  const card = document.querySelector('.svdw-gl-card.svdw-gl-selected');
  return {
    card: card ? Number(card.dataset.index) : null,
    frequency_marks: document.querySelectorAll('.svdw-fm-selection-layer .svdw-fm-selected')
      .length,
    nodes: Array.from(document.querySelectorAll('.svdw-hg-node.svdw-hg-selected'))
      .map(n => Number(n.getAttribute('data-node')))
  };
}"""


def test_exported_explorer_keeps_its_links_offline(
    tmp_path: Path, browser: Any, artifacts: Path
) -> None:
    """The Explorer's page: a click on a singular value selects it in every view, no kernel."""
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
    cards = ex.gallery.indices
    hv = ex.hypergraph_view
    out = ex.export_html(tmp_path / "explorer.html")
    size = out.stat().st_size
    ex.close()

    with offline_page(browser, out, width=1300) as (page, errors):
        assert page.evaluate("document.documentElement.dataset.svdwidgetsRendered") == "true"
        expect(page.locator("img.svdw-gl-image")).to_have_count(len(cards))
        expect(page.locator(".svdw-fm-cell")).to_have_count(14 * 14)
        # a click on the spectrum's point of the second card's index: every view follows
        i = cards[1]
        page.locator(".svdw-sv-sorted .dot").nth(i).dispatch_event("click")
        expect(page.locator(".svdw-gl-card.svdw-gl-selected")).to_have_count(1)
        linked = page.evaluate(JS_OFFLINE_LINKED)
        assert linked["card"] == i and linked["frequency_marks"] >= 1, linked
        here = [
            j
            for j in range(len(hv.node_indices))
            if hv.layer_names[int(hv.node_layers[j])] == "block.conv2"
            and int(hv.node_indices[j]) == i
        ]
        assert linked["nodes"] == here
        # and a click on a card selects its point in the spectrum (bqplot's selected)
        page.locator(".svdw-gl-card").nth(2).click()
        linked = page.evaluate(JS_OFFLINE_LINKED)
        assert linked["card"] == cards[2], linked
        page.screenshot(path=str(artifacts / "43-explorer-exported-offline.png"), full_page=True)
        assert errors == [], errors
    assert size < 6_000_000, size


JS_CARD_IMAGES = """async () => Promise.all(
  Array.from(document.querySelectorAll('img.svdw-gl-image, img.svdw-gl-example')).map(
    async img => {
      await img.decode().catch(() => null);
      const type = (await (await fetch(img.src)).blob()).type;
      return [img.className, img.naturalWidth, type];
    }
  )
)"""


def test_a_pages_webp_cards_decode_offline(tmp_path: Path, browser: Any) -> None:
    """Photographic cards travel as WebP in a page (``page_card``); the browser decodes them at
    twice their shown size, and small digits stay PNG."""
    from sklearn.datasets import load_sample_images

    from svdwidgets.explorer_page import page_card
    from svdwidgets.widgets import VectorGallery
    from svdwidgets.widgets.images import png_bytes

    b = load_default()
    gallery = VectorGallery(sw.profile(b.model, (1, 28, 28)), "block.conv2", k=2, autostart=False)
    photo = load_sample_images().images[0]
    crop = png_bytes(photo[100:324, 200:424])  # a 224 px photograph
    digit = png_bytes(b.images[0])  # 28 px: the gallery upscales it
    cards = [
        {**gallery.items[0], "image": crop, "examples": [crop, digit], "example_ids": [0, 1]},
        {**gallery.items[1], "image": digit, "examples": [], "example_ids": []},
    ]
    gallery.items = [page_card(c, gallery.image_px) for c in cards]
    out = export_html(tmp_path / "cards.html", gallery)
    gallery.close()
    with offline_page(browser, out) as (page, errors):
        page.wait_for_function("document.querySelectorAll('img.svdw-gl-image').length == 2")
        got = sorted(page.evaluate(JS_CARD_IMAGES))
        thumb = 2 * ((gallery.image_px - 4) // 3)
        assert got == sorted(
            [
                ["svdw-gl-image", 2 * gallery.image_px, "image/webp"],
                ["svdw-gl-image", 28, "image/png"],
                ["svdw-gl-example", thumb, "image/webp"],
                ["svdw-gl-example", 28, "image/png"],
            ]
        ), got
        assert errors == [], errors
