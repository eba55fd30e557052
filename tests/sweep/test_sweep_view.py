"""SweepView's state: the lines are the sweep's table, the slider and dropdown draw its spectra."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import svdwidgets as sw
from svdwidgets.zoo import SmallResNet

pytest.importorskip("bqplot")
from svdwidgets.widgets.sweep_view import SweepView

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_sweep_view_draws_the_table_and_the_picked_spectrum(tmp_path: Path) -> None:
    torch.manual_seed(0)
    for i in (0, 3):
        torch.save(SmallResNet().state_dict(), tmp_path / f"ck_epoch{i}.pt")
    s = sw.sweep(
        str(tmp_path / "*.pt"), arch="default", out=tmp_path / "r", method="fft", cache=False
    )
    df = s.to_dataframe()
    view = SweepView(s)

    assert view.x.tolist() == [0.0, 3.0] and view.rule.x.tolist() == [3.0, 3.0]
    for i, layer in enumerate(view.layers):
        want = df[df.layer == layer].sigma_max.to_numpy()
        assert np.asarray(view.lines.y)[i].tolist() == want.tolist()
    view.metric_box.value = "stable_rank"
    assert np.asarray(view.lines.y)[0].tolist() == df[df.layer == "stem.conv"].stable_rank.tolist()

    view.pick("ck_epoch0", "fc")
    assert view.rule.x.tolist() == [0.0, 0.0]
    dense = torch.linalg.svdvals(
        torch.load(tmp_path / "ck_epoch0.pt", weights_only=True)["fc.weight"].double()
    ).numpy()
    assert np.asarray(view.values_line.y) == pytest.approx(dense, rel=1e-5)
    assert np.asarray(view.esd_bars.y).sum() == 10
    view.slider.value = 1
    assert np.asarray(view.values_line.y) == pytest.approx(s.spectrum("ck_epoch3", "fc")["top"])

    with pytest.raises(sw.SVDWidgetsError, match="'nope'"):
        view.pick("ck_epoch0", "nope")
    with pytest.raises(sw.SVDWidgetsError, match="'rho'"):
        SweepView(s, metric="rho")
    assert view.save(tmp_path / "sweep.png").read_bytes()[:8] == PNG_MAGIC
