"""Hostile names in exported pages: a class or layer name cannot run script in the page.

A name such as ``</SCRIPT><script>alert(1)//`` used to end the page's widget-state ``<script>``
element (only lowercase ``</script`` was escaped). The pages are parsed with ``html.parser``,
which ends a script element the way browsers do (on ``</script`` in any case): every script
element must be the renderer or a JSON data block, and the JSON must give back the exact names.
"""

from __future__ import annotations

import importlib
import json
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import svdwidgets as sw
from svdwidgets import cli
from svdwidgets.widgets import FrequencyMap
from svdwidgets.widgets.export import export_html

HOSTILE = "</SCRIPT><script>alert(1)//"
DATA_TYPES = {
    "application/vnd.jupyter.widget-state+json",
    "application/vnd.jupyter.widget-view+json",
}


class _Scripts(HTMLParser):
    """Every ``<script>`` element of a page: its type and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[str | None, str]] = []
        self._open: str | bool | None = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs).get("type")
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not False:
            kind, text = self.scripts[-1]
            self.scripts[-1] = (kind, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = False


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def check_page(page: Path) -> list[str]:
    """Assert the page runs only the renderer; return every string in its JSON data."""
    parser = _Scripts()
    parser.feed(page.read_text(encoding="utf-8"))
    kinds = [kind for kind, _ in parser.scripts]
    # one executable script (the renderer, first), then data blocks only
    assert kinds[0] is None and all(k in DATA_TYPES for k in kinds[1:]), kinds
    assert kinds.count("application/vnd.jupyter.widget-state+json") == 1
    strings = []
    for _kind, text in parser.scripts[1:]:
        strings += _strings(json.loads(text))  # every data block is whole, valid JSON
    assert "<script>alert" not in page.read_text().lower()
    return strings


def test_a_hostile_string_in_widget_state_round_trips(tmp_path: Path) -> None:
    fmap = FrequencyMap()
    fmap.layout.width = HOSTILE  # any synced string trait reaches the page's state
    page = export_html(tmp_path / "p.html", fmap, title=HOSTILE)
    assert HOSTILE in check_page(page)
    text = page.read_text()
    assert "<title>&lt;/SCRIPT&gt;&lt;script&gt;alert(1)//</title>" in text


def test_export_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "p.html").write_text("the previous page")
    export_html(tmp_path / "p.html", FrequencyMap())
    assert [p.name for p in tmp_path.iterdir()] == ["p.html"]
    assert (tmp_path / "p.html").read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(OSError):  # a folder that cannot take the page: nothing half-written
        export_html(tmp_path / "p.html" / "q.html", FrequencyMap())
    assert [p.name for p in tmp_path.iterdir()] == ["p.html"]


def test_exported_pages_carry_no_checkout_path(tmp_path: Path) -> None:
    page = export_html(tmp_path / "p.html", FrequencyMap()).read_text()
    checkout = str(Path(sw.__file__).resolve().parents[1])
    assert checkout not in page
    assert "/work/" not in page and "node_modules/" not in page


def _hostile_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = "hostile_net_" + tmp_path.name.replace("-", "_")
    (tmp_path / f"{name}.py").write_text(
        "from torch import nn\n\n\n"
        f"NAME = {HOSTILE!r}\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.add_module(NAME, nn.Conv2d(1, 4, 3, padding=1))\n"
        "        self.head = nn.Linear(4, 3)\n\n"
        "    def forward(self, x):\n"
        "        x = getattr(self, NAME)(x).relu().mean((2, 3))\n"
        "        return self.head(x)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def test_report_with_hostile_class_and_layer_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mlxtend")
    monkeypatch.setenv("SVDWIDGETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    module = _hostile_module(tmp_path, monkeypatch)
    torch.manual_seed(0)
    net = importlib.import_module(module).Net()
    torch.save(net.state_dict(), "net.pt")
    images, labels = torch.rand(30, 1, 8, 8), torch.arange(30) % 3
    classes = [HOSTILE, "b", "c"]
    torch.save({"images": images, "labels": labels, "class_names": classes}, "data.pt")
    status = cli.main(
        ["report", "net.pt", "--arch", f"{module}:Net", "--data", "data.pt", "--out", "rep"]
    )
    _, stderr = capsys.readouterr()
    assert status == 0, stderr
    for page in ("report.html", "explorer.html"):
        strings = check_page(Path("rep") / page)
        assert HOSTILE in strings, page  # the class name arrives intact, as data
        assert any(HOSTILE in s for s in strings), page
    layers = json.loads(Path("rep/report.json").read_text())["layers"]
    assert HOSTILE in layers


def test_explorer_page_with_a_hostile_layer_name(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = nn.Sequential()
    net.add_module(HOSTILE, nn.Conv2d(1, 4, 3, padding=1))
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    net.add_module("flat", nn.Flatten())
    net.add_module("head", nn.Linear(4, 2))
    images, labels = torch.rand(12, 1, 8, 8), torch.arange(12) % 2
    ex = sw.Explorer(
        net,
        images,
        labels,
        [HOSTILE, "ok"],
        layer=HOSTILE,
        render_options={"steps": 2},
        n_examples=2,
        cache=False,
    )
    try:
        page = export_html(tmp_path / "e.html", ex)
    finally:
        ex.close()
    strings = check_page(page)
    assert any(HOSTILE in s for s in strings)
