"""Wrong answers found by the adversarial probe (issue #14.3, #14.4): cached input sizes shared
by two differently configured instances of one class, and BatchNorm folded across in-place ops."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import svdwidgets as sw


class _Upsampling(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=self.scale))


def test_instances_that_differ_in_a_plain_attribute_do_not_share_cached_sizes(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    small, large = _Upsampling(1.0), _Upsampling(2.0)
    large.load_state_dict(small.state_dict())
    sw.profile(small, (2, 8, 8), cache=tmp_path, progress=False)
    cached = sw.profile(large, (2, 8, 8), cache=tmp_path, progress=False)
    fresh = sw.profile(large, (2, 8, 8), cache=False, progress=False)
    assert len(cached["conv"].values) == len(fresh["conv"].values) == 2 * 16 * 16  # not 2 * 8 * 8
    assert torch.equal(cached["conv"].values, fresh["conv"].values)


def _sigma_max(model: nn.Module, fold: bool) -> float:
    prof = sw.profile(model, (2, 6, 6), cache=False, progress=False, fold_bn=fold)
    return float(prof["conv"].values[0])


def _bn(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels).eval()
    with torch.no_grad():
        bn.running_var.fill_(0.01)  # folding multiplies the conv by 1/sqrt(0.01 + eps) ≈ 10
    return bn


class _ConvReluInplaceBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.bn = _bn(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.relu(self.conv(x)))


class _InplaceArithmeticBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = _bn(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y.add_(1.0)
        y.mul_(-1)
        return self.bn(y)


class _ConvBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = _bn(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def test_batchnorm_after_an_inplace_op_is_not_folded() -> None:
    for cls in (_ConvReluInplaceBN, _InplaceArithmeticBN):
        torch.manual_seed(1)
        model = cls().eval()
        plain = _sigma_max(model, fold=False)
        assert _sigma_max(model, fold=True) == plain, cls.__name__
        prof = sw.profile(model, (2, 6, 6), cache=False, progress=False, fold_bn=True)
        assert not prof.entry("conv").folded


def test_batchnorm_reading_the_conv_output_directly_is_still_folded() -> None:
    torch.manual_seed(1)
    model = _ConvBN().eval()
    plain = _sigma_max(model, fold=False)
    scale = float((model.bn.running_var + model.bn.eps).rsqrt().max())
    folded = _sigma_max(model, fold=True)
    assert abs(folded - plain * scale) < 1e-4 * folded  # one channel scale: all equal here
