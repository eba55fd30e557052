"""The exported Explorer page's size (issue #15): ResNet-50 at 224 with 8 rendered cards per layer.

Opens the Explorer on ResNet-50 (torchvision's when it imports, else ``benchmarks/models``'
same architecture; random weights) with ``--images`` real photographs (random 224 px crops of
scikit-learn's two sample images, so the dataset examples compress like photographs, not like
noise), renders the top 8 directions of every layer (``--steps`` optimisation steps each: the
page's size depends on the images' pixels, not on how far they were optimised), exports the
page and prints its size against the budget (≤ 30 MB), split into the rendered cards and the
rest, with the time each part took.

Usage: ``python benchmarks/bench_page.py [--images 64] [--steps 4] [--layers N] [--keep PATH]``
(``--keep``: write the page there, to look at it or weigh its parts).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import svdwidgets as sw

BUDGET_MB = 30.0


def _photos(n: int, size: int = 224) -> torch.Tensor:
    """``n`` random ``size`` px crops of scikit-learn's sample photographs, in [0, 1]."""
    from sklearn.datasets import load_sample_images

    gen = torch.Generator().manual_seed(0)
    photos = [
        torch.from_numpy(p).permute(2, 0, 1).float() / 255 for p in load_sample_images().images
    ]
    out = []
    for i in range(n):
        p = photos[i % len(photos)]
        top = int(torch.randint(0, p.shape[1] - size + 1, (1,), generator=gen))
        left = int(torch.randint(0, p.shape[2] - size + 1, (1,), generator=gen))
        out.append(p[:, top : top + size, left : left + size])
    return torch.stack(out)


def _resnet50() -> torch.nn.Module:
    torch.manual_seed(0)
    try:
        import torchvision

        print("  (torchvision.models.resnet50)")
        return torchvision.models.resnet50().eval()
    except ImportError:
        import models

        print("  (benchmarks/models.resnet50, torchvision's architecture)")
        return models.resnet50().eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--layers", type=int, default=None, help="render only the first N")
    parser.add_argument("--keep", type=Path, default=None, help="write the page here")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, torch threads {torch.get_num_threads()}")
    net = _resnet50()
    x = _photos(args.images)
    y = torch.arange(args.images) % 2
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SVDWIDGETS_CACHE"] = str(Path(tmp) / "cache")
        started = time.perf_counter()
        ex = sw.Explorer(
            net, x, y, ["china", "flower"], k=8, autostart=False,
            render_options={"steps": args.steps},
        )  # fmt: skip
        ex.wait()
        opened = time.perf_counter() - started
        layers = ex.layers[: args.layers] if args.layers else ex.layers
        started = time.perf_counter()
        for layer in layers:
            ex.show_layer(layer)
            ex.gallery.render()
            ex.wait()
        rendered = time.perf_counter() - started
        started = time.perf_counter()
        page = ex.export_html(args.keep or Path(tmp) / "page.html")
        exported = time.perf_counter() - started
        size = page.stat().st_size / 1e6
        ex.close()
    print(
        f"\nResNet-50 at 224, {args.images} photographs, 8 cards x {len(layers)} layers "
        f"({args.steps} steps): opened {opened:.1f} s, rendered {rendered:.1f} s, "
        f"exported {exported:.1f} s"
    )
    verdict = "within" if size <= BUDGET_MB else "OVER"
    print(f"  page {size:.1f} MB ({verdict} the {BUDGET_MB:g} MB budget)")
    print(f"  load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
