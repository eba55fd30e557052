"""The convolutional layers of ResNet-18, ResNet-50 and VGG-16, written out by hand.

torchvision is not needed (nor imported): each model is walked here as torchvision builds it
(ResNet in the v1.5 layout, where a bottleneck's stride sits in its 3x3 conv; VGG-16 is
configuration "D" without batch norm), and every ``Conv2d`` becomes a :class:`ConvLayer` with
torchvision's module name (``conv1``, ``layer2.0.conv2``, ``layer2.0.downsample.0``,
``features.5``), its channels, kernel, stride, padding and the spatial size of its input.

How input sizes are derived
---------------------------
The image is ``size x size`` (224 for the published shapes). Sizes are propagated through the
network with ``torch.nn.Conv2d`` / ``MaxPool2d`` arithmetic::

    conv:     n' = (n + 2p - k) // s + 1
    max pool: n' = (n + 2p - k) // s + 1   (ResNet: k=3, s=2, p=1; VGG: k=2, s=2, p=0)

with one adjustment, which changes nothing at 224 (or 112): a strided stage (the ResNet stem,
the first block of ``layer2``-``layer4``) whose input ``n`` is not a multiple of its stride ``s``
is taken as receiving ``s * ceil(n / s)``, the smallest grid on which the circular strided
operator is defined (the ``fft`` method needs the stride to divide the size). Every layer of
that block then sees the rounded size. Sizes are kept ``>= 1``. For example ResNet at
``size=56``: stem 56, ``layer1`` 14, ``layer2`` 14 -> 7, ``layer3`` 7 -> rounded to 8 -> 4,
``layer4`` 4 -> 2. At 224: 224, 56, 56 -> 28, 28 -> 14, 14 -> 7.

Weights are random, seeded, with torchvision's initialisation scale (Kaiming normal,
``mode="fan_out"``, ReLU gain: ``std = sqrt(2 / (c_out * kh * kw))``).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import torch

__all__ = ["MODELS", "ConvLayer", "model_layers", "resnet18", "resnet50", "vgg16"]


@dataclass(frozen=True)
class ConvLayer:
    """One ``Conv2d`` of a network, with the size of its (square) input."""

    name: str
    c_out: int
    c_in: int
    kernel: int
    stride: int
    padding: int
    input_size: int

    @property
    def output_size(self) -> int:
        return (self.input_size + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def shape_key(self) -> tuple[int, int, int, int, int, int]:
        """What the singular values' cost depends on (layers equal here cost the same)."""
        return (self.c_out, self.c_in, self.kernel, self.stride, self.padding, self.input_size)

    @property
    def kind(self) -> str:
        """``7x7 stem``, ``1x1``, ``3x3`` (stride 1), or ``strided 1x1`` / ``strided 3x3``."""
        if self.kernel == 7:
            return "7x7 stem"
        base = f"{self.kernel}x{self.kernel}"
        return base if self.stride == 1 else f"strided {base}"

    def describe(self) -> str:
        k, n = self.kernel, self.input_size
        return f"{self.c_in}->{self.c_out} {k}x{k} s{self.stride} p{self.padding} @{n}x{n}"

    def weight(self, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Random ``(c_out, c_in, k, k)`` weight, Kaiming normal (fan_out), seeded by name."""
        gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(self.name.encode()))
        std = math.sqrt(2.0 / (self.c_out * self.kernel * self.kernel))
        shape = (self.c_out, self.c_in, self.kernel, self.kernel)
        return (torch.randn(shape, generator=gen, dtype=torch.float64) * std).to(dtype)


def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return max(1, (n + 2 * p - k) // s + 1)


def _aligned(n: int, s: int) -> int:
    """The smallest multiple of ``s`` that is ``>= n``."""
    return s * -(-n // s)


def _resnet(size: int, blocks: tuple[int, int, int, int], bottleneck: bool) -> list[ConvLayer]:
    layers: list[ConvLayer] = []
    n = _aligned(size, 2)
    layers.append(ConvLayer("conv1", 64, 3, 7, 2, 3, n))
    n = _conv_out(n, 7, 2, 3)
    n = _conv_out(n, 3, 2, 1)  # maxpool
    expansion = 4 if bottleneck else 1
    inplanes = 64
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        for b in range(count):
            stride = 2 if (stage > 0 and b == 0) else 1
            n = _aligned(n, stride)
            prefix = f"layer{stage + 1}.{b}"
            out = width * expansion
            if bottleneck:
                layers.append(ConvLayer(f"{prefix}.conv1", width, inplanes, 1, 1, 0, n))
                layers.append(ConvLayer(f"{prefix}.conv2", width, width, 3, stride, 1, n))
                m = _conv_out(n, 3, stride, 1)
                layers.append(ConvLayer(f"{prefix}.conv3", out, width, 1, 1, 0, m))
            else:
                layers.append(ConvLayer(f"{prefix}.conv1", width, inplanes, 3, stride, 1, n))
                m = _conv_out(n, 3, stride, 1)
                layers.append(ConvLayer(f"{prefix}.conv2", width, width, 3, 1, 1, m))
            if stride != 1 or inplanes != out:
                layers.append(ConvLayer(f"{prefix}.downsample.0", out, inplanes, 1, stride, 0, n))
            inplanes, n = out, m
    return layers


def resnet18(size: int = 224) -> list[ConvLayer]:
    """The 20 convolutions of ResNet-18 (17 in the trunk, 3 downsampling shortcuts)."""
    return _resnet(size, (2, 2, 2, 2), bottleneck=False)


def resnet50(size: int = 224) -> list[ConvLayer]:
    """The 53 convolutions of ResNet-50 v1.5 (stride in the 3x3 conv of the bottleneck)."""
    return _resnet(size, (3, 4, 6, 3), bottleneck=True)


_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def vgg16(size: int = 224) -> list[ConvLayer]:
    """The 13 convolutions of VGG-16 (configuration D), named ``features.<index>``."""
    layers: list[ConvLayer] = []
    n, c_in, index = size, 3, 0
    for item in _VGG16:
        if item == "M":
            n = _conv_out(n, 2, 2, 0)
            index += 1
            continue
        assert isinstance(item, int)
        layers.append(ConvLayer(f"features.{index}", item, c_in, 3, 1, 1, n))
        c_in, index = item, index + 2  # conv, relu
    return layers


MODELS = {"resnet18": resnet18, "resnet50": resnet50, "vgg16": vgg16}


def model_layers(model: str, size: int = 224) -> list[ConvLayer]:
    """The conv layers of ``model`` (one of :data:`MODELS`) for a ``size x size`` image."""
    try:
        return MODELS[model](size)
    except KeyError:
        raise ValueError(f"unknown model {model!r}; expected one of {sorted(MODELS)}") from None


if __name__ == "__main__":  # print the layer tables
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 224
    for model in MODELS:
        rows = model_layers(model, size)
        print(f"{model} at {size}x{size}: {len(rows)} conv layers")
        for layer in rows:
            print(f"  {layer.name:24s} {layer.describe():34s} {layer.kind}")
