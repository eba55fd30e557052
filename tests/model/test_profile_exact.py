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
        "why",
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


def test_auto_takes_dense_only_where_cheap_and_says_why() -> None:
    from svdwidgets.core.conv_svd import DENSE_MAX_WORK, auto_choice
    from svdwidgets.core.geometry import dense_work, geometry_from

    # 8 x 12 x 12 = 1152 inputs: 1.5e9 flops, over the limit; 8 x 6 x 6 = 288: cheap
    _, big = geometry_from(nn.Conv2d(8, 8, 3, padding=1), (12, 12))
    _, small = geometry_from(nn.Conv2d(8, 8, 3, padding=1), (6, 6))
    assert dense_work(big) > DENSE_MAX_WORK >= dense_work(small)
    assert auto_choice(big, None, torch.float32, 1 << 30)[0] == "fft"
    assert auto_choice(small, None, torch.float32, 1 << 30)[0] == "exact"
    m = _model()
    # at 16 x 16: conv1 is 2048 x 768 (1.2e9 flops dense), conv2 512 x 2048 (5.4e8)
    df = profile(m, (3, 16, 16), cache=False, progress=False).to_dataframe()
    assert "not a circular convolution" in df.loc["conv1"].note
    assert df.loc["conv1"].method == "fft" and "too costly" in df.loc["conv1"].why
    assert df.loc["conv2"].method == "exact" and "cheap" in df.loc["conv2"].why
    assert "linear" in df.loc["head"].why
    # σ_max is exact either way
    truth = float(torch.linalg.svdvals(dense_conv_matrix(m.conv1.weight, (16, 16), padding=1))[0])
    assert abs(df.loc["conv1"].sigma_max - truth) <= 1e-4 * truth
