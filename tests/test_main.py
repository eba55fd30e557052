"""The README's main job, ``python -m svdwidgets``, on the bundled default model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from exported_page import widget_state

pytest.importorskip("mlxtend")


def test_main_job_prints_every_layer_and_writes_the_explorer(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "svdwidgets", "--out", str(tmp_path / "qs")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        cwd=tmp_path,
    ).stdout
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("layer "))
    cols = header.split()
    rows = {
        line.split()[0]: line.split()
        for line in lines
        if line.split()[:1]
        in (["stem.conv"], ["down.conv"], ["block.conv1"], ["block.conv2"], ["fc"])
    }
    assert set(rows) == {"stem.conv", "down.conv", "block.conv1", "block.conv2", "fc"}
    for row in rows.values():
        fields = dict(zip(cols, row, strict=True))
        # the one layer table (Analysis.table): sigma_max is the operator's own, exact;
        # sigma_max_circular the top of the fft spectrum
        exact, circular = float(fields["sigma_max"]), float(fields["sigma_max_circular"])
        if fields["method"] != "fft":  # no circular spectrum to compare
            assert circular != circular and fields["exact"] == "True"  # NaN
        elif fields["exact"] == "True":
            assert circular == exact
        else:  # zero padding: the circular value is close to, and not below, the exact one
            assert exact <= circular < 1.1 * exact
    assert "BatchNorm: not folded" in out  # the one folding default, said
    # the quickstart's Explorer, written as a page with every gallery card rendered
    page = tmp_path / "qs" / "explorer.html"
    assert f"open {page.resolve()}" in out and "svdwidgets lab" in out
    gallery = widget_state(page, "VectorGalleryModel")
    assert gallery["layer"] == "block.conv2" and len(gallery["items"]) == 8
    assert {card["state"] for card in gallery["items"]} == {"done"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qs"]  # nothing else written
