"""The Explorer in a real JupyterLab: every view renders, and a click in one selects in all.

The notebook opens the Explorer on the bundled MNIST model with every third test digit. The test
waits for the gallery's renders, then clicks a singular value in the spectrum, a gallery card, a
frequency and a hypergraph node of another layer, and checks after each click that every view
shows the same selection (in the DOM) and that the kernel's ``explorer.selection`` agrees; then
the layer dropdown, the brush and the compare-methods boxes, in the light and the dark theme. It
prints and saves (``test-artifacts/``) the click-to-linked-update latency with the images
cached, the time to open the Explorer, the widget state size, and screenshots in both themes.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from tests.browser.test_explorer_page_offline import brush_sorted_values

NOTEBOOK = "explorer.ipynb"

SETUP = """\
import time
t0 = time.perf_counter()
import svdwidgets as sw
from svdwidgets.zoo import load_default

b = load_default()
ex = sw.Explorer(b.model, b.images[::3], b.labels[::3], b.class_names, layer="block.conv2")
open_seconds = time.perf_counter() - t0
ex
"""

STATE = """\
import json

def _frequency_pick():
    # what a click on the map's selected frequency must select, from the kernel's spectrum: the
    # first value at that frequency (its half-plane cell) and its twin
    f, spec = ex.frequency_map.selected_frequency, ex.profile[ex.layer]
    if f is None or not isinstance(spec, sw.FFTSpectrum):
        return None
    nh, nw = spec.grid
    cell = tuple(f) if 2 * f[1] <= nw else ((-f[0]) % nh, nw - f[1])
    first = next(i for i in range(len(spec)) if spec.frequency_of(i) == cell)
    twin = spec.twin(first)
    return [list(f), sorted({first} | ({twin} if twin is not None else set()))]

print(json.dumps({"layer": ex.layer, "selection": [ex.selection.layer, ex.selection.indices],
                  "spectrum": ex.spectrum.selected, "gallery": ex.gallery.indices,
                  "busy": ex.gallery.busy, "error": ex.gallery.error,
                  "frequency_pick": _frequency_pick(),
                  "open_s": open_seconds, "timings": ex.timings}))
"""

SIZE = """\
import json
from ipywidgets.embed import dependency_state
state = dependency_state(ex, drop_defaults=True)
print(json.dumps({"widgets": len(state), "json_bytes": len(json.dumps(state, default=str))}))
"""

# Dispatch a click on `selector` (the n-th match) and resolve with the ms until `done` holds.
JS_CLICK_UNTIL = """([selector, n, done]) => new Promise((resolve, reject) => {
  const target = document.querySelectorAll(selector)[n];
  if (!target) { reject(new Error('nothing matches ' + selector + ' #' + n)); return; }
  const check = new Function('return (' + done + ')();');
  const obs = new MutationObserver(() => {
    if (check()) { obs.disconnect(); resolve(performance.now() - t0); }
  });
  obs.observe(document.body, {subtree: true, childList: true, attributes: true});
  const t0 = performance.now();
  target.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  setTimeout(() => { obs.disconnect(); reject(new Error('no linked update: ' + done)); }, 10000);
})"""

# Every view agrees on (card index, frequency outline, hypergraph node) for singular index i.
JS_LINKED = """(i) => {
  const card = document.querySelector('.svdw-gl-card.svdw-gl-selected');
  const fm = document.querySelectorAll('.svdw-fm-selection-layer .svdw-fm-selected').length;
  const nodes = [...document.querySelectorAll('.svdw-hg-node.svdw-hg-selected')];
  return {card: card ? Number(card.dataset.index) : null, frequency_marks: fm,
          nodes: nodes.length, status: document.querySelector('.svdw-ex-summary').textContent};
}"""


# The spectrum's status line names a contiguous range: "selected N indices, i = a … b", N = b-a+1.
JS_BRUSH_SETTLED = r"""() => {
  const t = document.querySelector('.svdw-explorer .svdw-sv-status')?.textContent || '';
  const m = t.match(/selected ([\d,]+) indices, i = (\d+) … (\d+)/);
  return !!m && Number(m[1].replace(/,/g, '')) === Number(m[3]) - Number(m[2]) + 1;
}"""


def _state(page: Any, notebook_js: Any) -> dict[str, Any]:
    out = page.evaluate(notebook_js.kernel_exec, STATE)
    return dict(json.loads(out))


def _state_when(page: Any, notebook_js: Any, ready: Any, timeout: float = 15.0) -> dict[str, Any]:
    """The kernel's state once ``ready(state)`` holds (or the last one read after ``timeout``).

    The browser writes the selection first and ipywidgets throttles its messages to the kernel,
    so an execute request sent right after a click can overtake the click's own update.
    """
    deadline = time.monotonic() + timeout
    while True:
        s = _state(page, notebook_js)
        if ready(s) or time.monotonic() > deadline:
            return s
        page.wait_for_timeout(200)


def test_explorer_links_every_view_in_jupyterlab(
    lab_server: Any, browser: Any, artifacts: Path, notebook_js: Any
) -> None:
    from playwright.sync_api import expect

    lab_server.write_notebook(NOTEBOOK, SETUP)
    context = browser.new_context(viewport={"width": 1400, "height": 3200})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    try:
        page.goto(lab_server.url(NOTEBOOK))
        page.wait_for_function(notebook_js.kernel_idle, timeout=90_000, polling=200)
        t_run = time.monotonic()
        page.evaluate(notebook_js.run_all)
        ex = page.locator(".svdw-explorer")
        sorted_fig = ex.locator(".svdw-sv-sorted")
        expect(sorted_fig.locator(".mainheading")).to_have_text(
            "block.conv2: sorted singular values", timeout=120_000
        )
        cards = ex.locator(".svdw-gl-card")
        expect(cards).to_have_count(8, timeout=30_000)
        expect(ex.locator(".svdw-fm-cell")).to_have_count(14 * 14)
        expect(ex.locator(".svdw-hg-node").first).to_be_visible()
        # the renders arrive in the background: every card gets its image and examples
        expect(ex.locator("img.svdw-gl-image")).to_have_count(8, timeout=120_000)
        expect(ex.locator(".svdw-gl-examples").first.locator("img")).to_have_count(6)
        t_shown = time.monotonic()
        page.wait_for_function(
            "() => !document.querySelector('.svdw-gl-progress.svdw-gl-busy')", timeout=60_000
        )
        first = _state(page, notebook_js)
        assert first["error"] == "" and first["gallery"][0] == 0
        page.mouse.move(0, 0)
        page.wait_for_timeout(500)
        ex.screenshot(path=str(artifacts / "40-explorer-light.png"))

        # 1. Click the spectrum's top value (dot 0 is index 0): card, map and kernel follow.
        ms = page.evaluate(
            JS_CLICK_UNTIL,
            [".svdw-sv-sorted .dot", 0, "() => !!document.querySelector('.svdw-gl-selected')"],
        )
        linked = page.evaluate(JS_LINKED, 0)
        assert linked["card"] == 0 and linked["frequency_marks"] >= 1, linked
        expect(ex.locator(".svdw-ex-summary")).to_contain_text("selected i = 0")
        s = _state_when(page, notebook_js, lambda s: s["selection"] == ["block.conv2", [0]])
        assert s["selection"] == ["block.conv2", [0]] and s["spectrum"] == [0], s

        # 2. Click-to-linked-update latency, images cached: spectrum dots of shown cards.
        latency = [ms]
        for j in first["gallery"][1:6]:
            done = (
                f"() => {{ const c = document.querySelector('.svdw-gl-card.svdw-gl-selected');"
                f" return !!c && c.dataset.index === '{j}'; }}"
            )
            latency.append(page.evaluate(JS_CLICK_UNTIL, [".svdw-sv-sorted .dot", j, done]))

        # 3. Click a gallery card: the spectrum marks the point, the map outlines its frequency.
        card3 = first["gallery"][3]
        page.evaluate(
            JS_CLICK_UNTIL,
            [
                ".svdw-gl-card",
                3,
                f"() => document.querySelector('.svdw-ex-summary').textContent"
                f".includes('selected i = {card3}')",
            ],
        )
        want = ["block.conv2", [card3]]
        s = _state_when(page, notebook_js, lambda s: s["selection"] == want)
        assert s["selection"] == want, s
        assert page.evaluate(JS_LINKED, card3)["frequency_marks"] >= 1
        page.mouse.move(0, 0)
        page.wait_for_timeout(500)
        ex.screenshot(path=str(artifacts / "44-explorer-card-selected.png"))  # the README's

        # 4. Click a frequency of the map: its top direction (and twin) is selected everywhere,
        # the indices the browser derived from the map's values (frequency_order.ts) being the
        # kernel's (FFTSpectrum.frequency_of and twin)
        page.evaluate(
            JS_CLICK_UNTIL,
            [
                ".svdw-fm-cell",
                37,
                "() => document.querySelector('.svdw-ex-summary').textContent.includes('selected')",
            ],
        )
        s = _state_when(
            page,
            notebook_js,
            lambda s: s["selection"][1] != [card3] and s["frequency_pick"] is not None,
        )
        picked = s["selection"]
        assert picked[0] == "block.conv2" and 1 <= len(picked[1]) <= 2
        assert s["frequency_pick"] is not None and picked[1] == s["frequency_pick"][1], s
        assert s["frequency_pick"][0] != [0, 0]  # a frequency with a conjugate twin

        # 5. Click a hypergraph node of another layer: every view switches to that layer.
        node = ex.locator(".svdw-hg-node .svdw-hg-dot").first
        node_layer = page.evaluate(
            "() => document.querySelector('.svdw-hg-layer-label').firstChild.textContent"
        )
        node.click()
        page.wait_for_function(
            "() => document.querySelector('.svdw-sv-sorted .mainheading').textContent"
            f".startsWith({json.dumps(node_layer)})",
            timeout=20_000,
        )
        s = _state_when(page, notebook_js, lambda s: s["selection"][0] == node_layer)
        assert s["layer"] == node_layer and s["selection"][0] == node_layer, s
        expect(ex.locator(".svdw-hg-node.svdw-hg-selected")).to_have_count(1)
        expect(ex.locator(".svdw-gl-card.svdw-gl-selected")).to_have_count(1, timeout=60_000)
        expect(ex.locator("img.svdw-gl-image").first).to_be_visible(timeout=120_000)
        page.mouse.move(0, 0)
        page.wait_for_timeout(800)
        ex.screenshot(path=str(artifacts / "41-explorer-selected.png"))

        # 6. The layer dropdown: the kernel's layer, every view's title and the cards follow.
        picker = ex.locator(".svdw-ex-picker select")
        picker.select_option("block.conv1")
        expect(sorted_fig.locator(".mainheading")).to_have_text(
            "block.conv1: sorted singular values", timeout=30_000
        )
        expect(ex.locator(".svdw-sv-esd")).to_contain_text("block.conv1: ESD")
        expect(ex.locator(".svdw-gallery .svdw-gl-title")).to_contain_text("block.conv1")
        s = _state_when(page, notebook_js, lambda s: s["layer"] == "block.conv1")
        assert s["layer"] == "block.conv1", s
        expect(ex.locator("img.svdw-gl-image")).to_have_count(8, timeout=120_000)

        # 7. The brush: a drag over the sorted values selects a contiguous range of ranks,
        #    in the page's status lines and in the kernel.
        status = ex.locator(".svdw-sv-status")
        brush_sorted_values(page, ex)
        # while dragging, bqplot selects the drawn points (the curve is decimated); once the
        # gesture settles the kernel selects every rank in the range
        page.wait_for_function(JS_BRUSH_SETTLED, timeout=20_000)
        text = status.inner_text()
        first_i, last_i = (
            int(t) for t in text.split("indices, i = ")[1].split(" ·")[0].split(" … ")
        )
        assert last_i - first_i + 1 > 10, text
        s = _state_when(
            page, notebook_js, lambda s: s["selection"][1] == list(range(first_i, last_i + 1))
        )
        got = s["selection"][1]
        assert s["selection"][0] == "block.conv1", s
        assert got == list(range(first_i, last_i + 1)), (text, got[:3], got[-3:], len(got))
        page.mouse.move(0, 0)
        page.wait_for_timeout(500)
        ex.screenshot(path=str(artifacts / "46-explorer-brushed.png"))
        ex.get_by_role("button", name="click a point").click()
        ex.get_by_role("button", name="clear selection").click()
        expect(status).to_contain_text("nothing selected")

        # 8. Compare methods: the kernel computes the unfolded matrix's curve and draws it.
        ex.get_by_role("checkbox", name="unfolded").check()
        legend = ex.locator(".svdw-sv-legend").first
        expect(legend).to_contain_text("unfolded W 32×288 (not the operator)", timeout=60_000)
        page.mouse.move(0, 0)
        page.wait_for_timeout(500)
        ex.screenshot(path=str(artifacts / "47-explorer-compare.png"))

        page.evaluate(notebook_js.dark_theme)
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        page.wait_for_timeout(800)
        ex.screenshot(path=str(artifacts / "42-explorer-dark.png"))
        ex.get_by_role("checkbox", name="unfolded").uncheck()
        expect(legend).not_to_contain_text("unfolded W")
        picker.select_option("block.conv2")
        expect(sorted_fig.locator(".mainheading")).to_have_text(
            "block.conv2: sorted singular values", timeout=30_000
        )
        expect(ex.locator("img.svdw-gl-image")).to_have_count(8, timeout=120_000)
        page.evaluate(
            JS_CLICK_UNTIL,
            [".svdw-gl-card", 1, "() => !!document.querySelector('.svdw-gl-selected')"],
        )
        expect(ex.locator(".svdw-ex-summary")).to_contain_text(
            f"selected i = {first['gallery'][1]},"
        )
        page.mouse.move(0, 0)
        page.wait_for_timeout(800)
        ex.screenshot(path=str(artifacts / "48-explorer-dark-selected.png"))

        size = json.loads(page.evaluate(notebook_js.kernel_exec, SIZE))
        timings = {
            "explorer_open_in_kernel_s": round(first["open_s"], 2),
            "explorer_stages_s": {k: round(v, 3) for k, v in first["timings"].items()},
            "run_to_cards_rendered_s": round(t_shown - t_run, 2),
            "click_to_linked_views_ms": [round(x, 1) for x in latency],
            "click_to_linked_views_median_ms": round(statistics.median(latency), 1),
            "widget_state": size,
        }
        (artifacts / "explorer-timings.json").write_text(json.dumps(timings, indent=1))
        print("Explorer timings:", json.dumps(timings))  # the targets: under 200 ms and 5 s
        errors = [c for c in console if c.startswith(("error", "pageerror"))]
        assert errors == [], errors
    finally:
        (artifacts / "explorer-console.log").write_text("\n".join(console))
        context.close()


def test_the_quickstart_notebook_shows_a_working_explorer(
    lab_server: Any, browser: Any, artifacts: Path, notebook_js: Any
) -> None:
    """notebooks/01-quickstart.ipynb as shipped, run all in JupyterLab: the Explorer works."""
    import shutil

    from playwright.sync_api import expect

    source = Path(__file__).resolve().parents[2] / "notebooks" / "01-quickstart.ipynb"
    shutil.copy(source, lab_server.root / source.name)
    context = browser.new_context(viewport={"width": 1400, "height": 3000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(lab_server.url(source.name))
        page.wait_for_function(notebook_js.kernel_idle, timeout=90_000, polling=200)
        page.evaluate(notebook_js.run_all)
        ex = page.locator(".svdw-explorer")
        expect(ex.locator(".svdw-gl-card")).to_have_count(8, timeout=120_000)
        expect(ex.locator("img.svdw-gl-image")).to_have_count(8, timeout=120_000)
        expect(ex.locator(".svdw-hg-node").first).to_be_visible()
        # the last cell exported the page once the gallery was done
        expect(page.locator(".jp-OutputArea-output", has_text="explorer.html")).to_be_visible(
            timeout=60_000
        )
        assert (lab_server.root / "explorer.html").stat().st_size > 1_000_000
        # it works: a click on the spectrum's top value selects the first card
        page.locator(".svdw-sv-sorted .dot").first.dispatch_event("click")
        expect(ex.locator(".svdw-gl-card.svdw-gl-selected")).to_have_count(1)
        page.mouse.move(0, 0)
        page.wait_for_timeout(500)
        ex.screenshot(path=str(artifacts / "45-quickstart-explorer.png"))
        assert [e for e in errors if "svdw" in e.lower() or "Error" in e] == [], errors
    finally:
        context.close()
