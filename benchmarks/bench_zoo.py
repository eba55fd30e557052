"""The torchvision/timm zoo: default ``profile`` against the stock circular spectrum (issue 12).

For every model (random weights, nothing downloaded) and input size, in one run and side by side:

* ``ours``: ``svdwidgets.profile(model, (3, s, s))`` with its defaults (``auto`` by cost, the
  exact σ_max interval of every layer included; no disk cache);
* ``stock``: the circular spectrum of the same layers as Sedghi, Gupta & Long (ICLR 2019)
  compute it: ``torch.fft.rfft2`` of the kernel zero-padded to the layer's input size and
  ``torch.linalg.svdvals`` of every frequency's ``c_out/groups x c_in/groups`` block (strides
  ignored: the stride-1 spectrum, which costs as much as the polyphase one), and
  ``torch.linalg.svdvals`` of every Linear weight; float32, as ``profile``'s default;
* the ratio ``ours / stock`` (target: at most 2), and how far the circular σ_max (the table's
  ``sigma_max_circular``) is above the exact one (max relative gap over the model's layers).

The system load (1-minute average) is printed before and after each model: the machine is
shared. Needs torchvision and timm: run it in the zoo environment that ``scripts/test.sh`` builds,
``.venv-zoo/bin/python benchmarks/bench_zoo.py [--quick] [--sizes 64 224] [--models a b]``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from zoo_models import TIMM, TORCHVISION, build, size_for

import svdwidgets as sw

QUICK = ("torchvision:resnet18", "torchvision:squeezenet1_0", "timm:dla34")


def stock_seconds(prof: sw.Profile, sample: int = 0) -> float:
    """Seconds of the stock circular spectrum (rfft2 + svdvals) of every profiled layer.

    ``sample > 0``: a conv layer's ``svdvals`` is timed on its first ``sample`` frequency
    blocks only and scaled to all of them (its blocks are equal in size, so the batched
    call's cost is linear in their count); the ``rfft2`` and Linear weights are always timed
    in full. For the 224 px table, where the stock path alone takes over an hour here.
    """
    total = 0.0
    with torch.no_grad():
        for name in prof.layers:
            record = prof.entry(name).record
            module = record.module
            w = module.weight.detach().float()  # type: ignore[union-attr]
            start = time.perf_counter()
            if isinstance(module, nn.Linear):
                torch.linalg.svdvals(w)
                total += time.perf_counter() - start
                continue
            # Conv2d (c_out, c_in/g, kh, kw); ConvTranspose2d (c_in, c_out/g, kh, kw): the
            # adjoint's blocks, with the same singular values
            groups = int(module.groups)  # type: ignore[arg-type]
            h, wd = record.input_size or (1, 1)
            a, b, kh, kw = w.shape
            w = w.reshape(groups, a // groups, b, kh, kw)
            f = torch.fft.rfft2(w, s=(max(h, kh), max(wd, kw)))  # (g, co, ci, H, W//2+1)
            blocks = f.permute(0, 3, 4, 1, 2)
            count = blocks.shape[0] * blocks.shape[1] * blocks.shape[2]
            if 0 < sample < count:
                total += time.perf_counter() - start
                part = blocks.reshape(count, *blocks.shape[3:])[:sample].contiguous()
                start = time.perf_counter()
                torch.linalg.svdvals(part)
                total += (time.perf_counter() - start) * count / sample
                continue
            torch.linalg.svdvals(blocks)
            total += time.perf_counter() - start
    return total


def warm_up() -> None:
    """One small model through both paths first: thread pools, MKL and the kernels' first calls
    cost ~0.4 s once, which would be charged to whichever model comes first."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1, groups=16),
        nn.Conv2d(16, 32, 1), nn.Flatten(), nn.Linear(32 * 16 * 16, 10),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stock_seconds(sw.profile(net, (3, 16, 16), cache=False, progress=False))


def run(name: str, size: int, sample: int = 0) -> dict[str, object]:
    model = build(name)
    size = size_for(name, size)
    load_before = os.getloadavg()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        prof = sw.profile(model, (3, size, size), cache=False, progress=False)
        ours = time.perf_counter() - start
    stock = stock_seconds(prof, sample)
    df = prof.to_dataframe()
    circular = df["sigma_max_circular"]
    gaps = ((circular - df["sigma_max"]) / df["sigma_max"]).dropna()
    return {
        "model": name,
        "size": size,
        "layers": len(prof.layers),
        "skipped": len(prof.skipped),
        "ours": ours,
        "stock": stock,
        "ratio": ours / stock if stock > 0 else math.inf,
        "gap": float(gaps.max()) if len(gaps) else math.nan,
        "load": (load_before, os.getloadavg()[0]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)} at 64 px")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--models", nargs="+", help="torchvision:NAME / timm:NAME (default: all)")
    parser.add_argument(
        "--stock-sample",
        type=int,
        default=0,
        metavar="N",
        help="time the stock svdvals of a conv layer on N frequency blocks, scaled to all",
    )
    args = parser.parse_args(argv)
    models = list(args.models or [f"torchvision:{n}" for n in TORCHVISION])
    if not args.models:
        models += [f"timm:{n}" for n in TIMM]
    sizes = args.sizes
    if args.quick:
        models, sizes = list(QUICK), [64]
    import timm
    import torchvision

    print(
        f"# bench_zoo: torch {torch.__version__}, torchvision {torchvision.__version__}, timm "
        f"{timm.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}",
        flush=True,
    )
    if args.stock_sample:
        print(
            f"# stock: each conv layer's svdvals timed on {args.stock_sample} frequency blocks "
            "at most and scaled linearly to all of them; rfft2 and Linear layers in full"
        )
    print(
        "| model | px | layers | skipped | ours s | stock s | ours/stock | "
        "σ_max circular vs exact | load before/after |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    warm_up()
    worst = 0.0
    for size in sizes:
        for name in models:
            try:
                r = run(name, size, args.stock_sample)
            except Exception as err:
                print(f"| {name} | {size} | failed: {type(err).__name__}: {err} |", flush=True)
                continue
            worst = max(worst, float(r["ratio"]))  # type: ignore[arg-type]
            load = r["load"]
            print(
                f"| {r['model']} | {r['size']} | {r['layers']} | {r['skipped']} | "
                f"{r['ours']:.1f} | {r['stock']:.1f} | {r['ratio']:.2f} | "
                f"{100 * float(r['gap']):+.2f}% | {load[0]:.1f}/{load[1]:.1f} |",  # type: ignore[index]
                flush=True,
            )
    print(f"# worst ours/stock: {worst:.2f} (target <= 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
