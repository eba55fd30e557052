"""profile(): exact σ_max per row, bad weights, layers never called, column order."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError, SVDWidgetsWarning
from svdwidgets.model.profile import NOT_CALLED, profile
from tests.conv_reference import dense_conv_matrix


class WithAux(nn.Module):
    """A conv net with an auxiliary head its eval-mode forward never calls (GoogLeNet-like)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)  # zero padding: fft is approximate
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, padding_mode="reflect")
        self.aux_conv = nn.Conv2d(8, 4, 1)
        self.aux_fc = nn.Linear(4, 2)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.head(x.mean(dim=(2, 3)))


def _model() -> WithAux:
    torch.manual_seed(0)
    return WithAux().eval()


def test_sigma_max_is_the_dense_operators_and_circular_stays_beside_it() -> None:
    m = _model()
    prof = profile(m, (3, 12, 12), method="fft", cache=False, progress=False)
    df = prof.to_dataframe()
    for name, size, kw in (
        ("conv1", (12, 12), {"padding": 1}),
        ("conv2", (12, 12), {"stride": 2, "padding": 1, "padding_mode": "reflect"}),
    ):
        w = getattr(m, name).weight
        truth = float(torch.linalg.svdvals(dense_conv_matrix(w, size, **kw))[0])
        row = df.loc[name]
        assert row.sigma_max_lower <= truth * (1 + 1e-9)
        assert truth <= row.sigma_max_upper * (1 + 1e-9)
        assert row.sigma_max_upper / row.sigma_max_lower - 1 <= 1e-4
        assert abs(row.sigma_max - truth) <= 1e-4 * truth
        assert not math.isnan(row.sigma_max_circular)
        assert abs(row.sigma_max_circular - truth) > 1e-3 * truth  # the approximation differs
    truth = float(torch.linalg.svdvals(m.head.weight.detach().double())[0])
    assert abs(df.loc["head"].sigma_max - truth) <= 1e-5 * truth
    assert list(df.columns[:6]) == [
        "kind",
        "sigma_max",
        "sigma_max_circular",
        "method",
        "exact",
        "alpha",
    ]
    assert df.columns[-1] == "note"
    html = prof._repr_html_()
    assert "sigma_max_circular" in html and "note" not in html and "BatchNorm not folded" in html
    off = profile(m, (3, 12, 12), method="fft", cache=False, progress=False, exact_sigma_max=False)
    assert off.entry("conv1").sigma_max is None
    assert off.to_dataframe().loc["conv1"].sigma_max == off["conv1"].sigma_max


def test_layers_never_called_are_skipped_with_their_reason() -> None:
    prof = profile(_model(), (3, 12, 12), cache=False, progress=False)
    assert prof.layers == ["conv1", "conv2", "head"]
    assert prof.skipped == {"aux_conv": NOT_CALLED, "aux_fc": NOT_CALLED}
    df = prof.to_dataframe()
    assert df.loc["aux_conv"].skipped == NOT_CALLED
    assert math.isnan(df.loc["aux_fc"].sigma_max)


def test_nan_weights_raise_naming_the_layer_or_skip_with_a_warning() -> None:
    m = _model()
    with torch.no_grad():
        m.conv2.weight[0, 0, 0, 0] = float("nan")
        m.conv2.weight[1, 0, 0, 0] = float("inf")
    with pytest.raises(SVDWidgetsError, match=r"'conv2'.*1 NaN and 1 inf"):
        profile(m, (3, 12, 12), cache=False, progress=False)
    with pytest.warns(SVDWidgetsWarning, match="conv2"):
        prof = profile(m, (3, 12, 12), cache=False, progress=False, on_bad_weights="skip")
    assert "conv2" in prof.skipped and "NaN" in prof.skipped["conv2"]
    assert prof.layers == ["conv1", "head"]
    with pytest.raises(SVDWidgetsError, match="on_bad_weights"):
        profile(m, (3, 12, 12), cache=False, progress=False, on_bad_weights="ignore")
