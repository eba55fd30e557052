"""The README's main job, ``python -m svdwidgets``, on the bundled default model."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("mlxtend")


def test_main_job_prints_every_layer_with_exact_top_values() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "svdwidgets"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
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
        approx, exact = float(fields["sigma_max"]), float(fields["sigma_max_exact"])
        if fields["exact"] == "True":
            assert approx == exact
        else:  # zero padding: the circular value is close to, and not below, the exact one
            assert exact <= approx < 1.1 * exact
