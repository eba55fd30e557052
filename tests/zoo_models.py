"""What the zoo tests and ``benchmarks/bench_zoo.py`` share: the models, how they are built, and
an independent dense reference of one layer.

torchvision and timm do not import beside the CPU torch 2.13 of the main environment; the zoo
runs in a second environment (``.venv-zoo``, built by ``scripts/test.sh``: torch 2.14.1,
torchvision 0.29.1, timm). There ``SVDWIDGETS_REQUIRE_ZOO=1`` makes a missing library a failure
instead of a skip.
"""

from __future__ import annotations

import copy
import importlib
import os
from types import ModuleType

import torch
from torch import nn

REQUIRE_ENV = "SVDWIDGETS_REQUIRE_ZOO"
ANALYSABLE = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)

# every torchvision classification CNN family of issue 12
TORCHVISION = (
    "resnet18",
    "resnet50",
    "resnext50_32x4d",
    "wide_resnet50_2",
    "vgg11_bn",
    "densenet121",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "efficientnet_v2_s",
    "convnext_tiny",
    "regnet_x_400mf",
    "regnet_y_400mf",
    "shufflenet_v2_x1_0",
    "squeezenet1_0",
    "mnasnet0_5",
    "googlenet",
    "inception_v3",
    "alexnet",
)
# timm CNNs of families torchvision does not have
TIMM = (
    "dla34",
    "cspresnet50",
    "hrnet_w18_small",
    "rexnet_100",
    "ghostnet_100",
    "dpn68",
    "res2net50_14w_8s",
    "ese_vovnet19b_dw",
    "selecsls42b",
    "mixnet_s",
)
# Inception-v3's stem and grid reductions need at least 75x75 pixels
MIN_SIZE = {"inception_v3": 75}


def library(name: str) -> tuple[ModuleType | None, Exception | None]:
    """The library, or the error its import raised (torchvision beside a foreign torch raises
    RuntimeError, not ImportError)."""
    try:
        return importlib.import_module(name), None
    except Exception as err:
        return None, err


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def build(name: str) -> nn.Module:
    """``torchvision:NAME`` / ``timm:NAME`` (or a bare torchvision name) with random weights,
    in eval mode; nothing is downloaded."""
    source, _, arch = name.rpartition(":")
    torch.manual_seed(0)
    if source == "timm":
        import timm

        model = timm.create_model(arch, pretrained=False)
    else:
        import torchvision

        model = torchvision.models.get_model(arch, weights=None)
    return model.eval()


def size_for(name: str, size: int) -> int:
    return max(size, MIN_SIZE.get(name.rpartition(":")[2], 0))


def analysable(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, ANALYSABLE)]


def operator_matrix(module: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """The ``dim_out x dim_in`` matrix of the layer as its own ``forward`` computes it.

    The module itself (a float64 copy) is applied to every standard basis vector of its input
    space, minus its output at zero (the bias): no svdwidgets code, no formula for the conv,
    so a module whose forward does something else than its attributes say would show here.
    """
    layer = copy.deepcopy(module).double().eval()
    n = 1
    for s in input_shape:
        n *= s
    with torch.no_grad():
        zero = layer(torch.zeros((1, *input_shape), dtype=torch.float64)).reshape(-1)
        columns = []
        for start in range(0, n, 512):
            stop = min(n, start + 512)
            basis = torch.zeros((stop - start, n), dtype=torch.float64)
            basis[:, start:stop] = torch.eye(stop - start, dtype=torch.float64)
            out = layer(basis.reshape(-1, *input_shape)).reshape(stop - start, -1)
            columns.append(out - zero)
    return torch.cat(columns).T


def output_numel(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        return int(module(torch.zeros((1, *input_shape))).numel())
