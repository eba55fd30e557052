"""export_html writes one self-contained file: state, views and our renderer, nothing remote."""

from __future__ import annotations

import json
import re
from pathlib import Path

import ipywidgets as ipw
import numpy as np
import pytest
import torch

import svdwidgets as sw
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets import FrequencyMap, export_html
from svdwidgets.widgets.export import EMBED_BUNDLE

pytestmark = pytest.mark.skipif(not EMBED_BUNDLE.exists(), reason="embed bundle not built")


def _map() -> FrequencyMap:
    torch.manual_seed(0)
    spec = sw.conv_svd(torch.randn(4, 3, 3, 3), (6, 6), padding=1, padding_mode="circular")
    assert isinstance(spec, sw.FFTSpectrum)
    return FrequencyMap.from_spectrum(spec, layer_name="conv </script> & co", rank=1)


def test_export_is_self_contained(tmp_path: Path) -> None:
    w = _map()
    w.selected_frequency = (1, 2)
    out = export_html(tmp_path / "figure.html", ipw.VBox([ipw.Label("caption"), w]), title="Fig 1")
    page = out.read_text(encoding="utf-8")
    assert "<title>Fig 1</title>" in page
    assert not re.search(r"<script[^>]+src=", page), "no external scripts"
    assert not re.search(r"<link[^>]+href=", page), "no external stylesheets"
    state_json = re.search(
        r'<script type="application/vnd.jupyter.widget-state\+json">\n(.*?)\n</script>', page, re.S
    )
    assert state_json is not None
    state = json.loads(state_json.group(1).replace("<\\/script", "</script"))
    models = state["state"]
    fmap = next(m for m in models.values() if m["model_name"] == "FrequencyMapModel")
    assert fmap["model_module"] == "svdwidgets"
    assert fmap["state"]["rank"] == 1
    assert fmap["state"]["selected_frequency"] == [1, 2]
    # arrays stay binary: base64 buffers with dtype and shape, not lists of floats
    paths = {tuple(b["path"]): b for b in fmap["buffers"]}
    assert paths.keys() == {("frequency_values", "buffer"), ("selected_indices", "buffer")}
    assert paths[("frequency_values", "buffer")]["encoding"] == "base64"
    assert fmap["state"]["frequency_values"]["shape"] == [6, 6, 3]
    assert page.count('<script type="application/vnd.jupyter.widget-view+json">') == 1
    # VBox, Label, FrequencyMap, their 3 layouts and the label style: nothing else
    assert len(models) == 7
    assert "</script> & co" not in page  # the layer name cannot close the state script
    assert len(page.encode()) > EMBED_BUNDLE.stat().st_size  # the renderer is inlined


def test_export_bad_input(tmp_path: Path) -> None:
    with pytest.raises(SVDWidgetsError, match="got nothing"):
        export_html(tmp_path / "x.html", [])
    with pytest.raises(SVDWidgetsError, match=r"\['ndarray'\]"):
        export_html(tmp_path / "x.html", [np.zeros(3)])  # type: ignore[list-item]
