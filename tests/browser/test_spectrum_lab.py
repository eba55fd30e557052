"""SpectrumView in a real JupyterLab: render, click a singular value, switch layers, themes.

The notebook profiles the bundled model (``svdwidgets.zoo.load_default``) and shows
``block.conv1`` with a log rank axis (so the top values are well apart to click). Prints and
saves (``test-artifacts/``) the click-to-update latency and screenshots in both themes.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

NOTEBOOK = "spectrum_view.ipynb"

SETUP = """\
import ipywidgets as ipw
import svdwidgets
from svdwidgets.widgets import SpectrumView
from svdwidgets.zoo import load_default

b = load_default()
prof = svdwidgets.profile(b.model, (1, 28, 28), progress=False)
view = SpectrumView(prof, "block.conv1", log_index=True)
echo = ipw.Label("py: none")

def on_select(change):
    echo.value = f"py: {view.layer} {view.selected}"

view.observe(on_select, "selected")
ipw.VBox([view, echo])
"""

CHECK = """\
import json
print(json.dumps({"layer": view.layer, "selected": view.selected,
                  "sent": view.curve_indices[:8].tolist(), "state": view.state_size()}))
"""

# The sorted plot's dots: bqplot draws each Scatter as one group of path.dot, in mark order;
# the first Scatter is the clickable curve, the second the selected points.
JS_DOTS = """(i) => {
  const fig = document.querySelector('.svdw-sv-sorted');
  const groups = [...fig.querySelectorAll('g')].filter(g =>
      [...g.children].some(c => c.classList.contains('dot') || c.classList.contains('object_grp')));
  const dots = [...fig.querySelectorAll('.dot')];
  return {groups: groups.length, dots: dots.length};
}"""

# Click (dispatched in the page) -> bqplot element_click -> kernel -> Label text in the DOM.
JS_CLICK_LATENCY = """([j, want]) => new Promise((resolve, reject) => {
  const dot = document.querySelectorAll('.svdw-sv-sorted .dot')[j];
  const done = () => [...document.querySelectorAll('.widget-label')]
    .some(e => e.textContent === want);
  const obs = new MutationObserver(() => {
    if (done()) { obs.disconnect(); resolve(performance.now() - t0); }
  });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
  const t0 = performance.now();
  dot.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  setTimeout(() => { obs.disconnect(); reject(new Error('no kernel echo: ' + want)); }, 10000);
})"""


def test_spectrum_view_in_jupyterlab(
    lab_server: Any, browser: Any, artifacts: Path, notebook_js: Any
) -> None:
    from playwright.sync_api import expect

    lab_server.write_notebook(NOTEBOOK, SETUP)
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    try:
        t_start = time.monotonic()
        page.goto(lab_server.url(NOTEBOOK))
        page.wait_for_function(notebook_js.kernel_idle, timeout=90_000, polling=200)
        t_ready = time.monotonic()
        page.evaluate(notebook_js.run_all)
        view = page.locator(".svdw-spectrum-view")
        sorted_fig, esd_fig = view.locator(".svdw-sv-sorted"), view.locator(".svdw-sv-esd")
        expect(sorted_fig.locator(".mainheading")).to_have_text(
            "block.conv1: sorted singular values", timeout=90_000
        )
        dots = sorted_fig.locator(".dot")
        expect(dots).to_have_count(2000, timeout=30_000)
        t_rendered = time.monotonic()
        expect(esd_fig.locator(".mainheading")).to_contain_text("block.conv1: ESD of λ = σ²")
        legend = view.locator(".svdw-sv-legend .svdw-sv-key")
        expect(legend.filter(has_text="MP bulk: σ_mp=")).to_have_count(1)
        expect(legend.filter(has_text="power law: α=")).to_have_count(1)
        page.wait_for_timeout(500)
        view.scroll_into_view_if_needed()
        view.screenshot(path=str(artifacts / "20-spectrum-view-light.png"))
        print("DOM:", page.evaluate(JS_DOTS, 0))

        # A trusted mouse click on the dot of rank 3 (index 2): the kernel's `selected` changes.
        box = dots.nth(2).bounding_box()
        assert box is not None
        t0 = time.monotonic()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        expect(page.locator(".widget-label", has_text="py: block.conv1 [2]")).to_be_visible(
            timeout=10_000
        )
        playwright_click_ms = (time.monotonic() - t0) * 1000
        got = json.loads(page.evaluate(notebook_js.kernel_exec, CHECK))
        assert got["layer"] == "block.conv1" and got["selected"] == [2]
        expect(view.locator(".svdw-sv-status")).to_contain_text("selected i = 2")
        expect(sorted_fig.locator(".dot")).to_have_count(2001)  # + the highlighted one
        page.mouse.move(0, 0)  # bqplot's toolbar shows while the mouse is over a figure
        page.wait_for_timeout(300)
        view.screenshot(path=str(artifacts / "21-spectrum-view-selected.png"))

        # In-page click-to-update latency over a few more points.
        latency = []
        for j in (0, 1, 3, 5, 8, 13, 21, 34):
            want = f"py: block.conv1 [{j}]"  # the top 1000 values are all sent: dot j is i = j
            latency.append(page.evaluate(JS_CLICK_LATENCY, [j, want]))

        # Switch the layer picker: both plots redraw for the new layer.
        view.locator(".svdw-sv-picker select").select_option("fc")
        expect(sorted_fig.locator(".mainheading")).to_have_text("fc: sorted singular values")
        expect(sorted_fig.locator(".dot")).to_have_count(10)  # fc has 10 singular values
        expect(esd_fig.locator(".mainheading")).to_have_text("fc: ESD of λ = σ²")
        expect(legend.filter(has_text="ESD of 10 eigenvalues")).to_have_count(1)
        expect(page.locator(".widget-label", has_text="py: fc []")).to_be_visible()
        assert json.loads(page.evaluate(notebook_js.kernel_exec, CHECK))["layer"] == "fc"

        # Compare methods on down.conv (zero padding, stride 2): fft and unfolded overlaid.
        view.locator(".svdw-sv-picker select").select_option("down.conv")
        expect(sorted_fig.locator(".mainheading")).to_have_text("down.conv: sorted singular values")
        view.locator(".widget-checkbox", has_text="unfolded").locator("input").check()
        view.locator(".widget-checkbox", has_text="fft").locator("input").check()
        sorted_legend = view.locator(".svdw-sv-legend .svdw-sv-key")
        expect(sorted_legend.filter(has_text="unfolded W 32×144")).to_have_count(1)
        expect(sorted_legend.filter(has_text=re.compile(r"^fft \(approx\.\)"))).to_have_count(1)
        # Brush mode: drag over ranks ~2 … ~10; the kernel selects that range once, on release.
        view.locator(".widget-toggle-button", has_text="brush a range").click()
        page.wait_for_timeout(300)
        b0, b1 = dots.nth(1).bounding_box(), dots.nth(9).bounding_box()
        assert b0 is not None and b1 is not None
        y_mid = b0["y"] + 150
        page.mouse.move(b0["x"] - 1, y_mid)
        page.mouse.down()
        page.mouse.move((b0["x"] + b1["x"]) / 2, y_mid, steps=5)
        page.mouse.move(b1["x"] + b1["width"] + 1, y_mid, steps=5)
        page.mouse.up()
        expect(page.locator(".widget-label", has_text="py: down.conv [1, 2,")).to_be_visible(
            timeout=10_000
        )
        brushed = json.loads(page.evaluate(notebook_js.kernel_exec, CHECK))["selected"]
        assert brushed == list(range(brushed[0], brushed[-1] + 1)) and {1, 9} <= set(brushed)
        page.mouse.move(0, 0)
        page.wait_for_timeout(500)
        view.screenshot(path=str(artifacts / "22-spectrum-view-compare.png"))

        # Dark theme.
        page.evaluate(notebook_js.dark_theme)
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        page.wait_for_timeout(800)
        view.scroll_into_view_if_needed()
        view.screenshot(path=str(artifacts / "23-spectrum-view-dark.png"))

        state = json.loads(page.evaluate(notebook_js.kernel_exec, CHECK))["state"]
        timings = {
            "page_load_to_kernel_idle_s": round(t_ready - t_start, 2),
            "run_all_to_plots_rendered_s": round(t_rendered - t_ready, 2),
            "playwright_click_to_kernel_echo_ms": round(playwright_click_ms, 1),
            "inpage_click_to_kernel_echo_ms": [round(x, 1) for x in latency],
            "inpage_click_to_kernel_echo_median_ms": round(statistics.median(latency), 1),
            "widget_state_down_conv": state,
        }
        (artifacts / "spectrum-view-timings.json").write_text(json.dumps(timings, indent=1))
        print("SpectrumView timings:", json.dumps(timings))
        errors = [c for c in console if c.startswith(("error", "pageerror"))]
        assert errors == [], errors
    finally:
        (artifacts / "spectrum-view-console.log").write_text("\n".join(console))
        context.close()
