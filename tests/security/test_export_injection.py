"""Names that try to close the page's script elements (issue #14.1): exported pages escape them
in any letter case, and the page's data reads back to the exact names."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import ipywidgets
import pytest
import torch
from exported_page import STATE_TAG, widget_states

import svdwidgets as sw
from svdwidgets.widgets.export import export_html

HOSTILE = [
    "</SCRIPT><script>alert(1)//",
    "</script><script>alert(2)//",
    "</ScRiPt ><img src=x onerror=alert(3)>",
    "<!--<script>",
    "a & b > c",
]


class _Scripts(HTMLParser):
    """Counts the script elements a browser's tokenizer would open."""

    def __init__(self) -> None:
        super().__init__()
        self.types: list[str | None] = []
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.types.append(dict(attrs).get("type"))
        if tag == "img":
            self.images += 1


def _scripts(page: Path) -> _Scripts:
    parser = _Scripts()
    parser.feed(page.read_text())
    return parser


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_label_stays_data(tmp_path: Path, name: str) -> None:
    page = export_html(tmp_path / "p.html", ipywidgets.Label(value=name, description=name))
    found = _scripts(page)
    # the renderer, the widget state and one view: nothing else, and no injected <img>
    assert found.types == [
        None,
        "application/vnd.jupyter.widget-state+json",
        "application/vnd.jupyter.widget-view+json",
    ]
    assert found.images == 0
    labels = [m["state"] for m in widget_states(page) if m["model_name"] == "LabelModel"]
    assert labels[0]["value"] == name and labels[0]["description"] == name
    # neither the raw name nor a closing tag in any case appears inside the data
    data = page.read_text().split(STATE_TAG, 1)[1]
    assert name not in data
    assert "</script" not in data.lower().split("</script>", 1)[0]


def test_explorer_page_with_hostile_class_and_layer_names(tmp_path: Path) -> None:
    """End to end: class names in the Explorer's hypergraph, legend and cards, and a module
    whose name would close the tag (a Sequential key may be any string)."""
    torch.manual_seed(0)
    evil_layer = "</SCRIPT><script>alert(4)//"
    model = torch.nn.Sequential()
    model.add_module("c1", torch.nn.Conv2d(1, 4, 3, padding=1))
    model.add_module("r", torch.nn.ReLU())
    model.add_module(evil_layer, torch.nn.Conv2d(4, 4, 3, padding=1))
    model.add_module("pool", torch.nn.AdaptiveAvgPool2d(1))
    model.add_module("flat", torch.nn.Flatten())
    model.add_module("fc", torch.nn.Linear(4, 2))
    data = torch.rand(12, 1, 8, 8)
    labels = torch.arange(12) % 2
    names = [HOSTILE[0], HOSTILE[2]]
    ex = sw.Explorer(model, data, labels, names, cache=False, autostart=False, layer=evil_layer)
    try:
        page = ex.export_html(tmp_path / "explorer.html")
    finally:
        ex.close()
    found = _scripts(page)
    assert found.images == 0
    assert all(t is None or t.startswith("application/vnd.jupyter") for t in found.types)
    assert found.types.count(None) == 1  # only the renderer runs
    text = json.dumps(widget_states(page))
    for name in (*names, evil_layer):
        assert json.dumps(name)[1:-1] in text, name  # the exact names, as data


def test_a_page_carries_no_path_of_the_checkout_it_was_built_in(tmp_path: Path) -> None:
    """The offline renderer is built from this checkout; its paths must not leak into pages."""
    checkout = str(Path(sw.__file__).resolve().parents[1])
    page = export_html(tmp_path / "p.html", ipywidgets.Label(value="x"))
    assert checkout not in page.read_text()


def test_export_is_atomic_and_fails_with_one_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    target.write_text("the previous page")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(sw.SVDWidgetsError, match="cannot write"):
        export_html(blocker / "sub" / "p.html", ipywidgets.Label(value="x"))
    export_html(target, ipywidgets.Label(value="new"))
    assert "new" in target.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
