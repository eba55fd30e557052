"""HypergraphView in a real JupyterLab and in an exported page: render, click, highlight, themes.

The notebook builds the class hypergraph of the bundled MNIST model on every third test digit
(the digits are sorted by label, so a prefix would hold only the first classes). Screenshots in
the light and dark themes go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NOTEBOOK = "hypergraph.ipynb"

BUILD = """\
import svdwidgets
from svdwidgets.zoo import load_default

b = load_default()
prof = svdwidgets.profile(b.model, (1, 28, 28), progress=False)
hg = svdwidgets.class_hypergraph(prof, b.images[::3], b.labels[::3], class_names={names})
"""

SETUP = (
    BUILD.format(names="b.class_names")
    + """
import ipywidgets as ipw
from svdwidgets.widgets import HypergraphView

view = HypergraphView.from_hypergraph(hg)
echo = ipw.Label("py: none")

def on_select(change):
    echo.value = f"py: nodes={view.selected_nodes} classes={view.selected_classes}"

view.observe(on_select, ["selected_nodes", "selected_classes"])
ipw.VBox([view, echo])
"""
)

# A node in some classes but not all: its highlighted classes are a proper subset.
FACTS = """\
import json
ids = view.node_ids
deg = (hg.incidence > 0).sum(axis=0)
pick = next(n for n in ids if 2 <= deg[n] < len(hg.class_names))
print(json.dumps({"n": len(ids), "classes": hg.class_names, "pick": ids.index(pick),
                  "pick_id": pick,
                  "pick_classes": [c for c in hg.class_names if hg.incidence.at[c, pick] > 0]}))
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

JS_MARKED = """([root, what, cls]) => [...document.querySelectorAll(
  `${root} .svdw-hg-${what}.${cls}`)].map(e => Number(e.dataset[what]))"""


# The graph is drawn to the panel's width again (and fits in it).
JS_FITS = """w => {
  const el = document.querySelector('.svdw-hypergraph');
  const svg = Number(el.querySelector('svg.svdw-hg-svg').getAttribute('width'));
  return svg === w && svg <= el.clientWidth;
}"""


def _marked(page: Any, what: str, cls: str, root: str = ".svdw-hypergraph") -> list[int]:
    return list(page.evaluate(JS_MARKED, [root, what, cls]))


def test_hypergraph_in_jupyterlab(lab_server: Any, browser: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    lab_server.write_notebook(NOTEBOOK, SETUP)
    context = browser.new_context(viewport={"width": 1200, "height": 1100})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    try:
        page.goto(lab_server.url(NOTEBOOK))
        page.wait_for_function(JS_KERNEL_IDLE, timeout=90_000, polling=200)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        graph = page.locator(".svdw-hypergraph")
        expect(graph.locator(".svdw-hg-class")).to_have_count(10, timeout=90_000)
        facts = json.loads(page.evaluate(JS_KERNEL_EXEC, FACTS))
        expect(graph.locator(".svdw-hg-node")).to_have_count(facts["n"])
        expect(graph.locator(".svdw-hg-title")).to_have_text("Class hypergraph")
        expect(graph.locator(".svdw-hg-threshold")).to_have_text("threshold 0.5")
        labels = graph.locator(".svdw-hg-class-label").all_text_contents()
        assert labels == facts["classes"]
        page.wait_for_timeout(300)  # let the first resize redraw settle
        graph.scroll_into_view_if_needed()
        graph.screenshot(path=str(artifacts / "10-hypergraph-light.png"))

        # A trusted click on a node: Python receives it; its classes (and only they) light up.
        j = facts["pick"]
        graph.locator(f'.svdw-hg-node[data-node="{j}"] circle').click()
        expect(page.locator(".widget-label", has_text=f"py: nodes=[{j}] classes=[]")).to_be_visible(
            timeout=10_000
        )
        got = json.loads(
            page.evaluate(
                JS_KERNEL_EXEC,
                "import json; print(json.dumps([view.selected_nodes, view.highlighted_classes]))",
            )
        )
        assert got == [[j], facts["pick_classes"]]
        lit = [facts["classes"][c] for c in _marked(page, "class", "svdw-hg-highlighted")]
        assert lit == facts["pick_classes"]
        assert _marked(page, "node", "svdw-hg-selected") == [j]
        expect(graph.locator(".svdw-hg-status")).to_contain_text(f"selected {facts['pick_id']}")

        # Hover: the node's tooltip names its layer, index, σ and classes.
        graph.locator(f'.svdw-hg-node[data-node="{j}"] circle').hover()
        tooltip = graph.locator(".svdw-hg-tooltip")
        expect(tooltip).to_be_visible()
        expect(tooltip).to_contain_text(f"{facts['pick_id']}  σ = ")
        expect(tooltip).to_contain_text(", ".join(facts["pick_classes"]))
        graph.screenshot(path=str(artifacts / "11-hypergraph-node-selected-hover.png"))
        page.mouse.move(0, 0)

        # A class click selects the class and lights up exactly its hyperedge.
        graph.locator('.svdw-hg-class[data-class="3"] circle').click()
        expect(page.locator(".widget-label", has_text="py: nodes=[] classes=[3]")).to_be_visible(
            timeout=10_000
        )
        edge = json.loads(
            page.evaluate(
                JS_KERNEL_EXEC,
                "import json; print(json.dumps([view.node_ids.index(n) for n in hg.edges['3']]))",
            )
        )
        assert _marked(page, "node", "svdw-hg-highlighted") == edge

        # Python marks a direction (what the Explorer does when another view selects one).
        page.evaluate(
            JS_KERNEL_EXEC,
            f"layer, i = view.node_ids[{j}].rsplit(':', 1); view.highlight = (layer, int(i))",
        )
        expect(graph.locator(".svdw-hg-ring")).to_have_attribute("data-node", str(j))
        graph.screenshot(path=str(artifacts / "12-hypergraph-class-selected.png"))

        # Resizing the panel redraws to the new width.
        width_before = float(graph.locator("svg.svdw-hg-svg").get_attribute("width") or 0)
        page.set_viewport_size({"width": 700, "height": 1100})
        page.wait_for_function(
            "w => Number(document.querySelector('svg.svdw-hg-svg').getAttribute('width')) < w",
            arg=width_before,
            timeout=10_000,
        )
        graph.screenshot(path=str(artifacts / "13-hypergraph-narrow.png"))
        page.set_viewport_size({"width": 1200, "height": 1100})
        page.wait_for_function(JS_FITS, arg=width_before, timeout=10_000)

        # Dark theme: text follows the --jp-* variables.
        fill = "e => getComputedStyle(e).fill"
        light_fill = graph.locator(".svdw-hg-class-label").first.evaluate(fill)
        page.evaluate(
            "() => window.jupyterapp.commands.execute("
            "'apputils:change-theme', {theme: 'JupyterLab Dark'})"
        )
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        page.wait_for_timeout(500)
        page.wait_for_function(JS_FITS, arg=width_before, timeout=10_000)
        dark_fill = graph.locator(".svdw-hg-class-label").first.evaluate(fill)
        assert dark_fill != light_fill, (light_fill, dark_fill)
        graph.scroll_into_view_if_needed()
        graph.screenshot(path=str(artifacts / "14-hypergraph-dark.png"))
        errors = [c for c in console if c.startswith(("error", "pageerror")) and "svdw" in c]
        assert errors == [], errors
    finally:
        (artifacts / "hypergraph-console.log").write_text("\n".join(console))
        context.close()


JS_SELECTED_NODES = """async () => {
  const manager = window.svdwidgetsManagers[0];
  const models = await Promise.all(Object.values(manager._models));
  return models.filter(m => m.get('_model_name') === 'HypergraphModel')
               .map(m => m.get('selected_nodes'));
}"""

XSS = "<img src=x onerror=alert(1)>"


def test_exported_hypergraph_stays_interactive(
    tmp_path: Path, browser: Any, artifacts: Path
) -> None:
    """Offline page: a click still highlights the node's classes; names show as text."""
    from playwright.sync_api import expect

    from svdwidgets.widgets import HypergraphView, export_html

    names = [f"digit {i}" for i in range(9)] + [XSS]
    scope: dict[str, Any] = {}
    exec(BUILD.format(names=repr(names)), scope)
    hg = scope["hg"]
    view = HypergraphView.from_hypergraph(hg, title="Figure 2 </script> & classes")
    out = export_html(tmp_path / "hypergraph.html", view)
    deg = (hg.incidence > 0).sum(axis=0)
    pick = next(n for n in view.node_ids if 2 <= deg[n] < len(names))
    j = view.node_ids.index(pick)
    expected = [c for c in names if hg.incidence.at[c, pick] > 0]

    context = browser.new_context(viewport={"width": 1000, "height": 1000})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    def on_dialog(d: Any) -> None:  # an alert() would mean a class name ran as HTML
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    try:
        page.goto(out.as_uri())
        page.wait_for_function(
            "document.documentElement.dataset.svdwidgetsRendered", timeout=30_000
        )
        assert page.evaluate("document.documentElement.dataset.svdwidgetsRendered") == "true"
        expect(page.locator(".svdw-hg-node")).to_have_count(len(view.node_ids))
        expect(page.locator(".svdw-hg-title")).to_have_text("Figure 2 </script> & classes")
        label = page.locator('.svdw-hg-class[data-class="9"] .svdw-hg-class-label')
        expect(label).to_have_text(XSS[:17] + "…")
        assert page.locator(".svdw-hypergraph img").count() == 0

        page.locator(f'.svdw-hg-node[data-node="{j}"] circle').click()
        lit = _marked(page, "class", "svdw-hg-highlighted")
        assert [names[c] for c in lit] == expected
        assert page.evaluate(JS_SELECTED_NODES) == [[j]]
        if XSS in expected:
            expect(page.locator(".svdw-hg-status")).to_contain_text(XSS)
        page.locator('.svdw-hg-class[data-class="9"] circle').hover()
        expect(page.locator(".svdw-hg-tooltip")).to_contain_text(f"class {XSS}")
        page.screenshot(path=str(artifacts / "15-hypergraph-export-offline.png"))
    finally:
        context.close()
    assert requests == [], requests
    assert errors == [], errors
    assert dialogs == [], dialogs
