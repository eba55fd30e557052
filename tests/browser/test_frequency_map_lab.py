"""FrequencyMap in a real JupyterLab: render, click, the kernel sees the selection, themes.

The notebook reads the bundled model's ``block.conv1`` through ``svdwidgets.conv_svd`` (circular
padding, 14x14 input: the ``fft`` method, exact). Prints and saves (``test-artifacts/``) the
click-to-update latency and screenshots in the light and dark themes.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

NOTEBOOK = "frequency_map.ipynb"
GRID = 14

SETUP = """\
import ipywidgets as ipw
import svdwidgets as sw
from svdwidgets.widgets import FrequencyMap
from svdwidgets.zoo import load_default

layer = load_default().model.block.conv1
spectrum = sw.conv_svd(layer.weight, (14, 14), padding=1, padding_mode="circular")
fmap = FrequencyMap.from_spectrum(spectrum, layer_name="block.conv1 · circular padding, 14×14")
echo = ipw.Label("py: none")

def on_select(change):
    echo.value = f"py: {fmap.selected_frequency} n={len(fmap.selected_indices)}"

fmap.observe(on_select, "selected_frequency")
ipw.VBox([fmap, echo])
"""

CHECK = """\
import json
f = fmap.selected_frequency
conj = ((-f[0]) % 14, (-f[1]) % 14)
brute = [i for i in range(len(spectrum)) if spectrum.frequency_of(i) in (f, conj)]
print(json.dumps({"frequency": list(f), "indices": fmap.selected_indices.tolist(),
                  "brute": brute, "method": spectrum.method, "exact": spectrum.exact}))
"""

JS_KERNEL_IDLE = """() => {
  const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const session = nb && nb.sessionContext && nb.sessionContext.session;
  const k = session && session.kernel;
  return !!(k && k.connectionStatus === 'connected' && k.status === 'idle'
            && nb.content && nb.content.widgets.length === 1);
}"""

JS_KERNEL_EXEC = """async (code) => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = k.requestExecute({code, store_history: false});
  let out = '';
  future.onIOPub = msg => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return out.trim();
}"""

# Click (dispatched in the page) -> save_changes -> kernel observer -> Label text in the DOM.
JS_CLICK_LATENCY = """([fh, fw]) => new Promise((resolve, reject) => {
  const cell = document.querySelector(`rect.svdw-fm-cell[data-fh="${fh}"][data-fw="${fw}"]`);
  const want = `py: (${fh}, ${fw}) n=`;
  const done = () => [...document.querySelectorAll('.widget-label')]
    .some(e => e.textContent.startsWith(want));
  const obs = new MutationObserver(() => {
    if (done()) { obs.disconnect(); resolve(performance.now() - t0); }
  });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
  const t0 = performance.now();
  cell.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  setTimeout(() => { obs.disconnect(); reject(new Error('no kernel echo for ' + want)); }, 10000);
})"""


def test_frequency_map_in_jupyterlab(lab_server: Any, browser: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    lab_server.write_notebook(NOTEBOOK, SETUP)
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    try:
        t_start = time.monotonic()
        page.goto(lab_server.url(NOTEBOOK))
        page.wait_for_function(JS_KERNEL_IDLE, timeout=90_000, polling=200)
        t_ready = time.monotonic()
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        cells = page.locator("rect.svdw-fm-cell")
        expect(cells).to_have_count(GRID * GRID, timeout=60_000)
        t_rendered = time.monotonic()
        fmap = page.locator(".svdw-frequency-map")
        expect(fmap.locator(".svdw-fm-title")).to_have_text("block.conv1 · circular padding, 14×14")
        expect(fmap.locator(".svdw-fm-colorbar-fill")).to_have_count(1)
        assert "0" in fmap.locator(".svdw-fm-axes .svdw-fm-ticklabel").all_text_contents()
        page.wait_for_timeout(300)  # let the first resize redraw settle
        fmap.scroll_into_view_if_needed()
        fmap.screenshot(path=str(artifacts / "01-frequency-map-light.png"))

        # A trusted mouse click on (f_h, f_w) = (2, 11), drawn as (2, -3).
        target = page.locator('rect.svdw-fm-cell[data-fh="2"][data-fw="11"]')
        t0 = time.monotonic()
        target.click()
        expect(page.locator(".widget-label", has_text="py: (2, 11) n=64")).to_be_visible(
            timeout=10_000
        )
        playwright_click_ms = (time.monotonic() - t0) * 1000
        selected = fmap.locator("rect.svdw-fm-selected")
        expect(selected).to_have_count(2)  # the frequency and its conjugate (12, 3)
        marks = [(m.get_attribute("data-fh"), m.get_attribute("data-fw")) for m in selected.all()]
        assert marks == [("2", "11"), ("12", "3")]
        expect(fmap.locator(".svdw-fm-status")).to_contain_text("(2, −3)")

        # The kernel got the selection and computed exactly the brute-force indices.
        got = json.loads(page.evaluate(JS_KERNEL_EXEC, CHECK))
        assert got["frequency"] == [2, 11]
        assert got["indices"] == got["brute"] and len(got["indices"]) == 64
        assert (got["method"], got["exact"]) == ("fft", True)

        # Hover tooltip, then the screenshot of the selection.
        page.locator('rect.svdw-fm-cell[data-fh="0"][data-fw="1"]').hover()
        tooltip = fmap.locator(".svdw-fm-tooltip")
        expect(tooltip).to_be_visible()
        expect(tooltip).to_contain_text("(f_h, f_w) = (0, 1)")
        expect(tooltip).to_contain_text("σ_max = ")
        fmap.screenshot(path=str(artifacts / "02-frequency-map-selected-hover.png"))
        page.mouse.move(0, 0)

        # Click-to-update latency in the page: click -> kernel -> Label in the DOM.
        clicks = [(1, 1), (3, 0), (0, 5), (7, 7), (13, 2), (4, 9), (6, 12), (10, 10)]
        latency = [page.evaluate(JS_CLICK_LATENCY, list(f)) for f in clicks]
        assert json.loads(page.evaluate(JS_KERNEL_EXEC, CHECK))["frequency"] == [10, 10]

        # The log colour-scale toggle syncs to the kernel.
        fmap.locator(".svdw-fm-log input").check()
        expect(fmap.locator(".svdw-fm-colorbar")).to_contain_text("(log)")
        assert page.evaluate(JS_KERNEL_EXEC, "print(fmap.log_scale)") == "True"

        # Resizing the panel redraws the map to the new width.
        width_before = float(fmap.locator("svg.svdw-fm-svg").get_attribute("width") or 0)
        page.set_viewport_size({"width": 760, "height": 1000})
        page.wait_for_function(
            "w => Number(document.querySelector('svg.svdw-fm-svg').getAttribute('width')) < w",
            arg=width_before,
            timeout=10_000,
        )
        fmap.screenshot(path=str(artifacts / "03-frequency-map-log-narrow.png"))
        page.set_viewport_size({"width": 1200, "height": 1000})
        page.wait_for_function(
            "w => Number(document.querySelector('svg.svdw-fm-svg').getAttribute('width')) === w",
            arg=width_before,
            timeout=10_000,
        )
        page.wait_for_timeout(200)

        # Dark theme: text and lines follow the --jp-* variables.
        light_fill = fmap.locator(".svdw-fm-ticklabel").first.evaluate(
            "e => getComputedStyle(e).fill"
        )
        page.evaluate(
            "() => window.jupyterapp.commands.execute("
            "'apputils:change-theme', {theme: 'JupyterLab Dark'})"
        )
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        page.wait_for_timeout(500)
        dark_fill = fmap.locator(".svdw-fm-ticklabel").first.evaluate(
            "e => getComputedStyle(e).fill"
        )
        assert dark_fill != light_fill, (light_fill, dark_fill)
        fmap.scroll_into_view_if_needed()
        fmap.screenshot(path=str(artifacts / "04-frequency-map-dark.png"))
        page.screenshot(path=str(artifacts / "05-jupyterlab-dark.png"))

        timings = {
            "page_load_to_kernel_idle_s": round(t_ready - t_start, 2),
            "run_all_to_map_rendered_s": round(t_rendered - t_ready, 2),
            "playwright_click_to_kernel_echo_ms": round(playwright_click_ms, 1),
            "inpage_click_to_kernel_echo_ms": [round(x, 1) for x in latency],
            "inpage_click_to_kernel_echo_median_ms": round(statistics.median(latency), 1),
            "tick_label_fill": {"light": light_fill, "dark": dark_fill},
        }
        (artifacts / "frequency-map-timings.json").write_text(json.dumps(timings, indent=1))
        print("FrequencyMap timings:", json.dumps(timings))
        errors = [c for c in console if c.startswith(("error", "pageerror")) and "svdw" in c]
        assert errors == [], errors
    finally:
        (artifacts / "frequency-map-console.log").write_text("\n".join(console))
        context.close()
