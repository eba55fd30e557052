"""The Explorer's opening (issue #15): first view on screen, fully filled, on three models.

For each model, from a cold disk cache, one run prints:

* ``returned``: the time ``sw.Explorer(...)`` takes to return (the dashboard's frame, its
  progress bar and status line are on screen then);
* ``first view``: until the spectrum, frequency map and gallery of the first layer are in
  (the profile done);
* ``filled``: until the projections and the class hypergraph are in too (``explorer.wait()``
  with ``autostart=False``: the gallery's feature visualizations are timed by
  ``bench_featurevis.py``), with the stages (profile, hypergraph) as the Explorer timed them;
* the load average before and after (2 shared cores: the numbers move with it).

Models: the bundled model with every third test digit (target filled ≤ 3 s); a user's 3-conv
CNN at 32x32 with 200 images (≤ 5 s); ResNet-18 at 224 with 64 images (≤ 20 s;
``--resnet18``): torchvision's when it imports, else ``benchmarks/models.resnet18``, the same
architecture. Random weights and inputs except the bundled model. An Explorer from before the
opening was made asynchronous (which returns only when filled) is timed the same way: then
``returned`` = ``first view`` = its construction.

``--resnet50`` also opens ResNet-50 at 224 with 512 images (≤ 90 s) and prints the size of
the widget state for ResNet-50 at 224 (what a notebook holds). The click-to-linked-views
latency is measured in a real browser by ``tests/browser/test_explorer_lab.py``.

Usage: ``python benchmarks/bench_explorer.py [--resnet18] [--resnet50] [--only NAME]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import svdwidgets as sw


def _bundled() -> tuple[nn.Module, torch.Tensor, torch.Tensor, list[str]]:
    from svdwidgets.zoo import load_default

    b = load_default()
    return b.model, b.images[::3], b.labels[::3], list(b.class_names)


def _cnn3() -> tuple[nn.Module, torch.Tensor, torch.Tensor, list[str]]:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(128, 10),
    ).eval()  # fmt: skip
    return net, torch.rand(200, 3, 32, 32), torch.arange(200) % 10, [str(i) for i in range(10)]


def _resnet(name: str, n: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor, list[str]]:
    """torchvision's ``name`` (else ``benchmarks/models``' same network), random weights, with
    ``n`` random 224 px images in 10 classes."""
    torch.manual_seed(0)
    try:
        import torchvision

        net: nn.Module = getattr(torchvision.models, name)()
        print(f"  (torchvision.models.{name})")
    except ImportError:
        import models

        net = getattr(models, name)()
        print(f"  (torchvision does not import: benchmarks/models.{name}, the same network)")
    images = torch.rand(n, 3, 224, 224)
    return net.eval(), images, torch.arange(n) % 10, [str(i) for i in range(10)]


CASES: dict[str, tuple[Callable[[], Any], float]] = {
    "bundled (333 digits)": (_bundled, 3.0),
    "3-conv CNN, 200 images at 32": (_cnn3, 5.0),
    "ResNet-18 at 224, 64 images": (lambda: _resnet("resnet18", 64), 20.0),
    "ResNet-50 at 224, 512 images": (lambda: _resnet("resnet50", 512), 90.0),
}


def _open(model: nn.Module, x: Any, y: Any, names: list[str]) -> dict[str, float]:
    explorer = sw.Explorer  # its module imported before the clock starts
    started = time.perf_counter()
    ex = explorer(model, x, y, names, autostart=False)
    returned = time.perf_counter() - started
    views = getattr(ex, "_views_ready", None)
    if views is not None:
        views.wait()
    first = time.perf_counter() - started
    ex.wait()
    filled = time.perf_counter() - started
    stages = {k: v for k, v in ex.timings.items() if k in ("profile", "hypergraph")}
    ex.close()
    return {"returned": returned, "first view": first, "filled": filled, **stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resnet18", action="store_true", help="also ResNet-18 at 224")
    parser.add_argument("--only", help="run only the case whose name starts with this")
    parser.add_argument(
        "--resnet50",
        action="store_true",
        help="also ResNet-50 at 224 with 512 images, and its widget state size",
    )
    args = parser.parse_args()
    print(f"svdwidgets from {Path(sw.__file__).parent}")
    print(f"load average {os.getloadavg()[0]:.2f}, torch threads {torch.get_num_threads()}")
    for name, (make, target) in CASES.items():
        if name.startswith("ResNet-18") and not args.resnet18:
            continue
        if name.startswith("ResNet-50") and not args.resnet50:
            continue
        if args.only and not name.startswith(args.only):
            continue
        print(f"\n{name} (target: filled <= {target:g} s)")
        model, x, y, names = make()
        with tempfile.TemporaryDirectory() as cache:
            os.environ["SVDWIDGETS_CACHE"] = cache  # cold: the profile is computed
            t = _open(model, x, y, names)
        print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
        print(f"  load average {os.getloadavg()[0]:.2f}")
    if args.resnet50:
        _state_size()


def _state_size() -> None:
    """The widget state a notebook or page holds for ResNet-50 at 224 (random weights, no
    data), against every singular value of every layer as float32."""
    import json

    import models
    from ipywidgets.embed import dependency_state

    net = models.resnet50().eval()
    started = time.perf_counter()
    ex = sw.Explorer(net, input_shape=(3, 224, 224), autostart=False, layer="layer4.2.conv2")
    ex.wait()
    seconds = time.perf_counter() - started
    size = len(json.dumps(dependency_state(ex, drop_defaults=True), default=str))
    every = sum(len(ex.profile[n].values) for n in ex.profile.layers) * 4
    print(f"\nResNet-50 at 224 (random weights, no data): filled in {seconds:.1f} s")
    print(
        f"  widget state {size / 1e6:.2f} MB vs every singular value as float32 "
        f"{every / 1e6:.1f} MB (ratio {every / size:.0f}x)"
    )
    ex.close()


if __name__ == "__main__":
    main()
