"""Layer discovery: nested and residual models, input sizes, hooks removed, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.model import find_layers


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.relu(self.conv1(x))) + x)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.ReLU())
        self.blocks = nn.ModuleList([Residual(), Residual()])
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.head = nn.Linear(4, 10)
        self.unused = nn.Conv2d(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        x = self.up(x)
        return self.head(x.mean(dim=(2, 3)))


def test_finds_nested_residual_layers_in_forward_order_with_input_sizes() -> None:
    model = Net().train()
    layers = find_layers(model, torch.zeros(2, 3, 20, 24))
    assert [layer.name for layer in layers] == [
        "stem.0", "blocks.0.conv1", "blocks.0.conv2", "blocks.1.conv1", "blocks.1.conv2",
        "up", "head",
    ]  # fmt: skip
    shapes = {layer.name: layer.input_shape for layer in layers}
    assert shapes["stem.0"] == (3, 20, 24)
    assert shapes["blocks.1.conv2"] == (8, 10, 12)
    assert shapes["up"] == (8, 10, 12)
    assert shapes["head"] == (4,)
    kinds = {layer.name: layer.kind for layer in layers}
    assert kinds["up"] == "conv_transpose" and kinds["head"] == "linear"
    assert layers[-1].input_size is None and layers[0].input_size == (20, 24)
    assert model.training  # restored
    for m in model.modules():
        assert not m._forward_pre_hooks


def test_hooks_are_removed_when_the_forward_pass_fails() -> None:
    model = Net()
    with pytest.raises(SVDWidgetsError, match=r"shape \(1, 5, 20, 20\)"):
        find_layers(model, torch.zeros(1, 5, 20, 20))
    for m in model.modules():
        assert not m._forward_pre_hooks


def test_model_without_analysable_layers() -> None:
    with pytest.raises(SVDWidgetsError, match="Sequential has no Conv2d"):
        find_layers(nn.Sequential(nn.ReLU()), torch.zeros(1, 3))


def test_not_a_model() -> None:
    with pytest.raises(SVDWidgetsError, match="got str"):
        find_layers("resnet", torch.zeros(1))  # type: ignore[arg-type]


def test_each_submodule_keeps_its_own_training_flag() -> None:
    model = Net().train()
    model.stem.eval()  # e.g. a frozen stem
    find_layers(model, torch.zeros(1, 3, 20, 24))
    assert model.training and model.blocks.training
    assert not model.stem.training and not model.stem[0].training
