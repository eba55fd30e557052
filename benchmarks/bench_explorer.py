"""The Explorer's targets: open in under 5 s on the bundled model, small state for ResNet-50.

Prints, side by side in one run:

* the time to open ``sw.Explorer`` on the bundled model with every third test digit (profile
  from a warm cache and a cold one, class hypergraph, widgets), and to switch layers;
* the size of the widget state a notebook or an exported page holds (``dependency_state`` as
  JSON, buffers base64), for the bundled model and for a ResNet-50 at 224x224 (random weights,
  no data), against the size of every singular value of every layer sent as float32 — what a
  dashboard that shipped whole spectra would hold;
* the click-to-linked-views latency is measured in a real browser by
  ``tests/browser/test_explorer_lab.py`` (``test-artifacts/explorer-timings.json``).

Usage: ``python benchmarks/bench_explorer.py [--resnet50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ipywidgets.embed import dependency_state

sys.path.insert(0, str(Path(__file__).resolve().parent))

import svdwidgets as sw
from svdwidgets.zoo import load_default


def _state_bytes(widget: object) -> int:
    return len(json.dumps(dependency_state(widget, drop_defaults=True), default=str))


def _open(bundle: object, cache: str) -> tuple[float, dict[str, float], object]:
    os.environ["SVDWIDGETS_CACHE"] = cache
    t = time.perf_counter()
    ex = sw.Explorer(
        bundle.model,  # type: ignore[attr-defined]
        bundle.images[::3],  # type: ignore[attr-defined]
        bundle.labels[::3],  # type: ignore[attr-defined]
        bundle.class_names,  # type: ignore[attr-defined]
        autostart=False,
    )
    return time.perf_counter() - t, dict(ex.timings), ex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resnet50", action="store_true", help="also the ResNet-50 state size")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    bundle = load_default()
    with tempfile.TemporaryDirectory() as cold_root:
        cold, warm = [], []
        for r in range(args.repeat):
            seconds, stages, ex = _open(bundle, str(Path(cold_root) / f"c{r}"))
            cold.append((seconds, stages))
            ex.close()
            seconds, stages, ex = _open(bundle, str(Path(cold_root) / f"c{r}"))
            warm.append((seconds, stages))
            if r < args.repeat - 1:
                ex.close()
        switch = []
        for layer in ["down.conv", "block.conv1", "block.conv2", "fc", "stem.conv"]:
            t = time.perf_counter()
            ex.show_layer(layer)  # type: ignore[attr-defined]
            switch.append(time.perf_counter() - t)
        state = _state_bytes(ex)
        ex.close()  # type: ignore[attr-defined]
    print("\nExplorer on the bundled model (333 digits), target < 5 s:")
    for label, runs in (("cold cache", cold), ("warm cache", warm)):
        best = min(runs, key=lambda r: r[0])
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in best[1].items() if k != "open")
        print(
            f"  open, {label}: median {statistics.median(r[0] for r in runs):.2f} s, "
            f"best {best[0]:.2f} s ({stages})"
        )
    print(f"  switch layer: median {1e3 * statistics.median(switch):.0f} ms")
    print(f"  widget state: {state / 1e6:.2f} MB")
    if args.resnet50:
        import models

        net = models.resnet50().eval()
        t = time.perf_counter()
        ex = sw.Explorer(net, input_shape=(3, 224, 224), autostart=False, layer="layer4.2.conv2")
        seconds = time.perf_counter() - t
        size = _state_bytes(ex)
        every = sum(len(ex.profile[n].values) for n in ex.profile.layers) * 4
        print(f"\nResNet-50 at 224 (random weights, no data): open {seconds:.1f} s")
        print(
            f"  widget state {size / 1e6:.2f} MB vs every singular value as float32 "
            f"{every / 1e6:.1f} MB (ratio {every / size:.0f}x)"
        )
        ex.close()
    print(f"\nload average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
