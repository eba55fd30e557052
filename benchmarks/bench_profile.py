"""End-to-end whole-model profile: seconds per stage for ResNet-18 and ResNet-50 shapes.

Stages: layer discovery (one probing forward pass), the spectrum of every layer
(``svdwidgets.profile``, cold cache), the RMT fits of every layer (``to_dataframe``),
projections of N images on every layer's top-k singular directions, and a second ``profile``
with the cache warm (target: under 1 s). Also prints, per layer, the RMT fit time against the
spectrum time (target: the fit costs less than the spectrum).

    python benchmarks/bench_profile.py --size 224 --images 512
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from models import MODELS

import svdwidgets as sw
from svdwidgets.model import find_layers


def _timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run(name: str, size: int, images: int, k: int) -> None:
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    shape = (3, size, size)
    _, t_discover = _timed(lambda: find_layers(model, torch.zeros(1, *shape)))
    with tempfile.TemporaryDirectory() as cache, warnings.catch_warnings():
        warnings.simplefilter("ignore", sw.SVDWidgetsWarning)
        prof, t_cold = _timed(lambda: sw.profile(model, shape, cache=cache, progress=False))
        fit_times = {}
        for layer in prof.layers:
            entry = prof.entry(layer)
            _, fit_times[layer] = _timed(entry.fits)
        t_fits = sum(fit_times.values())
        df = prof.to_dataframe()
        warm, t_warm = _timed(lambda: sw.profile(model, shape, cache=cache, progress=False))
        assert all(warm.entry(n).cached for n in warm.layers)
    data = torch.rand(images, *shape)
    _, t_project = _timed(lambda: sw.project(prof, data, k=k))
    print(f"\n## {name} at {size}x{size} ({len(prof.layers)} layers, {len(prof.skipped)} skipped)")
    print("| stage | seconds |\n| --- | ---: |")
    print(f"| layer discovery (probing pass) | {t_discover:.3f} |")
    print(f"| spectra, every layer (cold cache) | {t_cold:.2f} |")
    print(f"| RMT fits, every layer | {t_fits:.3f} |")
    print(f"| projections of {images} images, top-{k} | {t_project:.2f} |")
    print(f"| second profile, cache warm | {t_warm:.3f} |")
    spectrum_s = df["seconds"]
    ratio = {n: fit_times[n] / max(spectrum_s[n], 1e-9) for n in prof.layers}
    worst = max(ratio, key=ratio.__getitem__)
    print(
        f"RMT fit / spectrum time: max {ratio[worst]:.2f} ({worst}: fit "
        f"{fit_times[worst] * 1e3:.1f} ms, spectrum {spectrum_s[worst] * 1e3:.1f} ms); "
        f"layers where the fit costs more: {sum(r > 1 for r in ratio.values())}"
    )
    print(
        f"exact layers: {int(df['exact'].sum())} of {len(df)}; methods: "
        f"{df['method'].value_counts().to_dict()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--k", type=int, default=8)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )
    for name in args.models.split(","):
        run(name, args.size, args.images, args.k)


if __name__ == "__main__":
    main()
