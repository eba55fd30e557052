"""A Conv2d/Linear subclass whose forward computes something else than its weight says (timm's
StdConv2d, ScaledStdConv2d, Conv2dSame) is skipped with the reason, never given a wrong row."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import svdwidgets as sw
from svdwidgets.model import find_layers


class StdConv(nn.Conv2d):
    """Weight standardisation in forward, as timm's StdConv2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class SamePad(nn.Conv2d):
    """ "same" padding applied in forward, as timm's Conv2dSame (its padding attribute is 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1)), self.weight, self.bias, self.stride, 0)


class LoggedLinear(nn.Linear):
    """Overrides forward but computes the same operator (as timm's Linear): analysed."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.plain = nn.Conv2d(3, 4, 3, padding=1)
        self.std = StdConv(4, 4, 3, padding=1)
        self.same = SamePad(4, 4, 3)
        self.circular = nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular")
        self.fc = LoggedLinear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.circular(self.same(self.std(self.plain(x))))
        return self.fc(x.flatten(1))


def test_foreign_forward_is_skipped_with_its_reason() -> None:
    torch.manual_seed(0)
    net = Net().eval()
    prof = sw.profile(net, (3, 8, 8), cache=False, progress=False)
    assert prof.layers == ["plain", "circular", "fc"]
    assert set(prof.skipped) == {"std", "same"}
    assert "StdConv overrides forward" in prof.skipped["std"]
    assert "differs from the operator" in prof.skipped["std"]
    assert "its output (4, 8, 8) is not the (4, 6, 6)" in prof.skipped["same"]
    # the analysed subclass: its σ_max is its matrix's
    top = float(torch.linalg.svdvals(net.fc.weight.detach().double())[0])
    assert prof.to_dataframe().loc["fc", "sigma_max"] == pytest.approx(top, rel=1e-5)


def test_plain_modules_are_not_run_twice() -> None:
    calls = []

    class Counting(nn.Conv2d):
        def _conv_forward(
            self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None
        ) -> torch.Tensor:
            calls.append(1)
            return super()._conv_forward(x, w, b)

    net = nn.Sequential(nn.Conv2d(1, 2, 3), Counting(2, 2, 3))
    records = find_layers(net, torch.zeros(1, 1, 8, 8))
    assert [r.foreign for r in records] == [None, None]  # same operator: no reason
    assert len(calls) == 2  # the forward pass + the one comparison on a random input


def test_cached_probe_keeps_the_reason(tmp_path: Path) -> None:
    net = Net().eval()
    first = sw.profile(net, (3, 8, 8), cache=tmp_path, progress=False)
    again = sw.profile(net, (3, 8, 8), cache=tmp_path, progress=False)
    assert first.skipped == again.skipped and set(again.skipped) == {"std", "same"}
