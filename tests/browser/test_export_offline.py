"""An exported FrequencyMap renders from a file:// page with no network, and clicks work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as ipw

import svdwidgets as sw
from svdwidgets.widgets import FrequencyMap, export_html
from svdwidgets.zoo import load_default

JS_SELECTED = """async () => {
  const manager = window.svdwidgetsManagers[0];
  const models = await Promise.all(Object.values(manager._models));
  return models.filter(m => m.get('_model_name') === 'FrequencyMapModel')
               .map(m => m.get('selected_frequency'));
}"""


def test_exported_html_renders_offline(tmp_path: Path, browser: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    layer = load_default().model.block.conv1
    spectrum = sw.conv_svd(layer.weight, (14, 14), padding=1, padding_mode="circular")
    assert isinstance(spectrum, sw.FFTSpectrum)
    fmap = FrequencyMap.from_spectrum(spectrum, layer_name="block.conv1 (exported)")
    fmap.selected_frequency = (1, 1)
    out = export_html(tmp_path / "figure.html", ipw.VBox([ipw.HTML("<b>Figure 1</b>"), fmap]))

    context = browser.new_context(viewport={"width": 900, "height": 800})
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
    finally:
        context.close()
    assert requests == [], requests
    assert errors == [], errors
