"""Right answers, cached or not: BatchNorm folding across in-place ops, and the shape cache key.

Folding a BatchNorm into the conv before it is right only when the BatchNorm reads the conv's
output unmodified; the probing pass matched the tensor object, which an in-place op keeps.
The cached probe (each layer's input size) was keyed by the model's repr and forward code, so
two instances that differ in an attribute their forward reads shared their input sizes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import svdwidgets as sw

SIZE = (6, 6)


def _bn(c: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c).eval()
    with torch.no_grad():
        bn.running_var.copy_(torch.linspace(0.01, 0.04, c))  # a scale of 5 to 10: visible
        bn.weight.copy_(torch.linspace(1.0, 2.0, c))
    return bn


class _AddThenBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = _bn(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y.add_(1.0)
        y.mul_(-1)
        return self.bn(y)


def _dense_sigma(weight: torch.Tensor) -> float:
    return sw.conv_svd(weight.detach(), SIZE, padding=1, method="exact").sigma_max


def _folded_weight(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> torch.Tensor:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # by hand, from the BN formula
    return conv.weight * scale[:, None, None, None]


@pytest.mark.parametrize("case", ["relu_inplace", "add_mul_inplace"])
def test_no_fold_across_an_in_place_op(case: str) -> None:
    torch.manual_seed(0)
    if case == "relu_inplace":
        net: nn.Module = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(inplace=True), _bn(3))
        conv, name = net[0], "0"
    else:
        net = _AddThenBN()
        conv, name = net.conv, "conv"
    prof = sw.profile(net, (2, *SIZE), fold_bn=True, cache=False, method="exact")
    assert prof[name].sigma_max == pytest.approx(_dense_sigma(conv.weight), rel=1e-5)
    assert not prof.to_dataframe().loc[name, "bn_folded"]


def test_a_batchnorm_reading_the_conv_output_is_still_folded() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), _bn(3), nn.ReLU(inplace=True))
    prof = sw.profile(net, (2, *SIZE), fold_bn=True, cache=False, method="exact")
    expected = _dense_sigma(_folded_weight(net[0], net[1]))
    assert prof["0"].sigma_max == pytest.approx(expected, rel=1e-5)
    assert expected > 3 * _dense_sigma(net[0].weight)  # the fold is visible in σ_max
    assert prof.to_dataframe().loc["0", "bn_folded"]


class _Up(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=self.scale))


def test_probe_cache_tells_instances_apart_by_their_attributes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    small, large = _Up(2.0), _Up(4.0)
    large.load_state_dict(small.state_dict())  # same weights, same repr, same forward code
    for net in (small, large):
        cached = sw.profile(net, (1, 4, 4), cache=tmp_path, method="exact")
        fresh = sw.profile(net, (1, 4, 4), cache=False, method="exact")
        assert len(cached["conv"].values) == len(fresh["conv"].values)
        assert cached["conv"].sigma_max == pytest.approx(fresh["conv"].sigma_max, rel=1e-6)
    # c_in = 1: as many values as input pixels, 8x8 and 16x16
    assert len(sw.profile(small, (1, 4, 4), cache=tmp_path)["conv"].values) == 8 * 8
    assert len(sw.profile(large, (1, 4, 4), cache=tmp_path)["conv"].values) == 16 * 16
