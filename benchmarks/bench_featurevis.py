"""Feature visualization of singular vectors: stock Lucent ``render_vis`` against ours.

Both sides optimise the same objective with the same parameterisation, optimiser, size and
number of steps, side by side in one process:

* objective: for each batch image ``b``, Lucent's ``direction`` objective (mean over positions
  of the cosine similarity between a layer's activation channels and a direction) with the
  direction = the channel direction of singular vector ``indices[b]``. Two cases: ``left``,
  the left singular vector at the layer's output (Lucent's hook on the layer itself), and
  ``right``, the right singular vector at the layer's input (the project's default side;
  Lucent's hook on the module whose output is that input, checked to hold the same tensor).
  Stock: the sum of one ``objectives.direction(name, P_b, batch=b)`` per batch image; ours:
  one vectorised ``singular_objective(..., side=side, kind="cosine")`` (the same function);
* image: Lucent's ``param.image`` (fft parameterisation, sigmoid; for three channels
  ``channels=None``, i.e. with Lucent's colour decorrelation, as ours) and Adam with lr 0.05
  on both sides;
* transforms: Lucent's standard family scaled to the image size (pad with 0.5, jitter, random
  scale, random rotation, jitter), then a centre crop back to the input size (stock) / our
  batched affine equivalent with the same translation span, scales and angles (ours:
  ``Jitter.for_size``); ``fixed_image_size`` = the input size, so stock Lucent does not
  upsample a 28 px image to 224 px; ``preprocess=False`` (the model normalises inside);
* both sides run at the same torch thread count; ours with its defaults (a private copy of the
  model with batch norms folded, channels-last on CPU, see ``svdwidgets.featurevis.render``).

The final objective of both is measured the same way: our ``scores`` of the final images,
without transforms (higher is better; 1 is the maximum of a cosine).

torchvision does not import beside the CPU torch on our machines, and ``lucent.optvis.render``
imports ``torchvision.transforms.Normalize`` at module level (used only by Lucent's ImageNet
``normalize()`` preprocessing, which this benchmark switches off). When ``import torchvision``
fails, this script registers a stand-in ``torchvision.transforms`` module in ``sys.modules``
that provides only a ``Normalize`` class (a plain ``(x - mean) / std``), so that stock
``render_vis`` runs unmodified; it says so in its output. Lucent's ``render_vis`` also registers a
forward hook on every module per call and never removes it: each stock repetition therefore
gets a fresh copy of the model, so that leaked hooks do not slow later repetitions.

Each case runs both sides once as a warm-up, then ``--repeats`` times interleaved (alternating
which goes first), at the same torch thread count (``--threads 1,2``: each in turn). It prints
wall and process CPU seconds of every run with the 1-minute load average at its start (on
shared cores the CPU time is the steadier measure of the work done), the median speed-ups, and
both sides' final objective.

    python benchmarks/bench_featurevis.py               # CPU: 8 directions, 28 px, 128 steps
    python benchmarks/bench_featurevis.py --resnet 64   # also ResNet-18 layer3 at 64 px, CPU
    python benchmarks/bench_featurevis.py --gpu         # also the CUDA variant when available
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))


def _stand_in_torchvision() -> bool:
    """Register a minimal ``torchvision.transforms.Normalize`` if torchvision cannot import."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        pass
    else:
        return False

    class Normalize:
        def __init__(self, mean: list[float], std: list[float]) -> None:
            self.mean = torch.tensor(mean).view(-1, 1, 1)
            self.std = torch.tensor(std).view(-1, 1, 1)

        def __call__(self, t: torch.Tensor) -> torch.Tensor:
            return (t - self.mean.to(t)) / self.std.to(t)

    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    tv = types.ModuleType("torchvision")
    tv_transforms = types.ModuleType("torchvision.transforms")
    tv_transforms.Normalize = Normalize  # type: ignore[attr-defined]
    tv.transforms = tv_transforms  # type: ignore[attr-defined]
    sys.modules["torchvision"] = tv
    sys.modules["torchvision.transforms"] = tv_transforms
    return True


STAND_IN = _stand_in_torchvision()

from lucent.optvis import objectives, param, render, transform  # noqa: E402

import svdwidgets as sw  # noqa: E402
from svdwidgets.featurevis import render_singular_vectors, singular_objective  # noqa: E402
from svdwidgets.featurevis.hooks import run_to, tap  # noqa: E402


def centre_crop(h: int, w: int) -> Any:
    def inner(x: torch.Tensor) -> torch.Tensor:
        top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
        return x[:, :, top : top + h, left : left + w]

    return inner


def stock_transforms(size: int) -> list[Any]:
    """Lucent's ``standard_transforms`` (tuned for 128 px) scaled to ``size``, then a crop."""
    pad = max(1, round(size * 12 / 128))
    return [
        transform.pad(pad, mode="constant", constant_value=0.5),
        transform.jitter(max(2, round(size * 8 / 128))),
        transform.random_scale([1 + (i - 5) / 50.0 for i in range(11)]),
        transform.random_rotate(list(range(-10, 11)) + 5 * [0]),
        transform.jitter(max(2, round(size * 4 / 128))),
        centre_crop(size, size),
    ]


def final_scores(model: torch.nn.Module, obj: Any, images: torch.Tensor) -> np.ndarray:
    model.eval()
    where = "input" if obj.side == "right" else "output"
    with torch.no_grad(), tap(model, obj.layer, where) as t:
        return obj.scores(run_to(model, images, t)).double().cpu().numpy()


def check_lucent_layer(model: torch.nn.Module, obj: Any, lucent_layer: str, size: int) -> None:
    """Lucent's ``lucent_layer`` (its hook keeps a module's last output) holds our tensor."""
    name = lucent_layer.replace("_", ".")
    x = torch.rand(2, model_channels(model), size, size, device=next(model.parameters()).device)
    seen: dict[str, torch.Tensor] = {}
    module = model.get_submodule(name)
    h = module.register_forward_hook(lambda m, a, out: seen.__setitem__("lucent", out.clone()))
    where = "input" if obj.side == "right" else "output"
    try:
        model.eval()
        with torch.no_grad(), tap(model, obj.layer, where, stop=False) as t:
            model(x)
    finally:
        h.remove()
    assert t.value is not None and torch.equal(seen["lucent"], t.value), (lucent_layer, obj.key)


def model_channels(model: torch.nn.Module) -> int:
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    return int(first.in_channels)


@dataclass
class Run:
    """One timed render: wall seconds, process CPU seconds, the 1-min load average at its start."""

    wall: float
    cpu: float
    load: float
    scores: np.ndarray


def _timed(fn: Any) -> tuple[float, float, float, Any]:
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu, load, out


def run_stock(
    model: torch.nn.Module, obj: Any, lucent_layer: str, size: int, channels: int, steps: int
) -> Run:
    fresh = copy.deepcopy(model).eval()  # render_vis leaks a hook per module per call
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - Lucent's transforms draw from the legacy global RNG
    basis = obj.basis
    total = objectives.direction(lucent_layer, basis[0], batch=0)
    for b in range(1, basis.shape[0]):
        total = total + objectives.direction(lucent_layer, basis[b], batch=b)

    def go() -> Any:
        return render.render_vis(
            fresh,
            total,
            # channels=None is Lucent's colour image *with* its decorrelation (as ours);
            # passing channels=3 would switch the decorrelation off
            param_f=lambda: param.image(
                size, batch=basis.shape[0], channels=None if channels == 3 else channels
            ),
            transforms=stock_transforms(size),
            thresholds=(steps,),
            preprocess=False,
            progress=False,
            show_image=False,
            fixed_image_size=size,
        )

    wall, cpu, load, images = _timed(go)
    device = next(model.parameters()).device
    final = torch.from_numpy(images[-1]).permute(0, 3, 1, 2).to(device)
    return Run(wall, cpu, load, final_scores(model, obj, final))


def run_ours(prof: Any, layer: str, side: str, indices: list[int], steps: int) -> Run:
    # the objective is built inside the timed call (its singular directions come from the
    # cache of the warm-up's; stock Lucent gets them ready-made)
    wall, cpu, load, r = _timed(
        lambda: render_singular_vectors(prof, layer, indices, side=side, kind="cosine", steps=steps)
    )
    return Run(wall, cpu, load, r.after)


def compare(
    title: str,
    model: torch.nn.Module,
    prof: Any,
    layer: str,
    side: str,
    lucent_layer: str,
    indices: list[int],
    size: int,
    channels: int,
    steps: int,
    repeats: int,
) -> dict[str, Any]:
    """Both sides ``repeats`` times, interleaved (alternating which goes first), after a warm-up."""
    obj = singular_objective(prof, layer, indices, side=side, kind="cosine")
    check_lucent_layer(model, obj, lucent_layer, size)
    run_stock(model, obj, lucent_layer, size, channels, 2)  # warm-up: oneDNN primitives, imports
    run_ours(prof, layer, side, indices, 2)
    stock: list[Run] = []
    ours: list[Run] = []
    for rep in range(repeats):  # interleaved, so that load changes hit both
        pair = [
            lambda: stock.append(run_stock(model, obj, lucent_layer, size, channels, steps)),
            lambda: ours.append(run_ours(prof, layer, side, indices, steps)),
        ]
        for go in pair if rep % 2 == 0 else pair[::-1]:
            go()
    threads = torch.get_num_threads()
    where = "output" if side == "left" else "input"
    print(
        f"\n{title}: {len(indices)} {side} singular directions of {layer} at its {where} "
        f"(Lucent layer {lucent_layer!r}), {size} px, {steps} steps, {threads} thread(s) for both"
    )
    print(
        f"{'':26s}{'wall s (median)':>16s}{'CPU s (median)':>16s}{'final objective':>17s}"
        f"   wall s / CPU s / load avg of every run"
    )
    for name, runs in (("stock Lucent render_vis", stock), ("svdwidgets", ours)):
        detail = "  ".join(f"{r.wall:.2f}/{r.cpu:.2f}/{r.load:.1f}" for r in runs)
        wall = statistics.median(r.wall for r in runs)
        cpu = statistics.median(r.cpu for r in runs)
        value = statistics.median(float(np.mean(r.scores)) for r in runs)
        print(f"{name:26s}{wall:16.2f}{cpu:16.2f}{value:17.4f}   {detail}")
    s_wall = statistics.median(r.wall for r in stock)
    o_wall = statistics.median(r.wall for r in ours)
    s_cpu = statistics.median(r.cpu for r in stock)
    o_cpu = statistics.median(r.cpu for r in ours)
    pairs = [a.wall / b.wall for a, b in zip(stock, ours, strict=True)]
    s_val = float(np.mean(stock[-1].scores))
    o_val = float(np.mean(ours[-1].scores))
    print(
        f"speed-up {s_wall / o_wall:.1f}x wall, {s_cpu / o_cpu:.1f}x CPU time (target >= 3x); "
        f"per pair {min(pairs):.1f}-{max(pairs):.1f}x wall; final objective ours/stock "
        f"{o_val / s_val:.3f} (target >= 0.9)"
    )
    return {
        "case": title,
        "side": side,
        "threads": threads,
        "speedup_wall": s_wall / o_wall,
        "speedup_cpu": s_cpu / o_cpu,
        "objective_ratio": o_val / s_val,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", default="1,2", help="torch thread counts to compare at (both sides)"
    )
    parser.add_argument(
        "--resnet",
        type=int,
        default=0,
        metavar="PX",
        help="also ResNet-18 layer3 on CPU at PX px (8 directions, --resnet-steps steps)",
    )
    parser.add_argument("--resnet-steps", type=int, default=64)
    parser.add_argument(
        "--sides", default="right,left", help="singular vector sides to compare (right, left)"
    )
    parser.add_argument("--gpu", action="store_true", help="also the CUDA variant")
    parser.add_argument(
        "--gpu-only", action="store_true", help="only the CUDA variant (benchmarks/gpu_suite.sh)"
    )
    args = parser.parse_args()
    args.gpu = args.gpu or args.gpu_only
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if STAND_IN:
        print(
            "torchvision does not import here: registered a stand-in torchvision.transforms "
            "with only Normalize (unused: preprocess=False) so that lucent.optvis.render imports"
        )
    from svdwidgets.zoo import load_default

    model = load_default().model
    prof = sw.profile(model, (1, 28, 28), cache=False, progress=False, layers=["block.conv1"])
    sides = args.sides.split(",")
    for threads in [] if args.gpu_only else [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for side in sides:
            compare(
                "CPU, bundled MNIST SmallResNet",
                model,
                prof,
                "block.conv1",
                side,
                "down" if side == "right" else "block_conv1",
                list(range(8)),
                28,
                1,
                args.steps,
                args.repeats,
            )
        if args.resnet:
            from models import resnet18

            torch.manual_seed(0)
            net = resnet18().eval()
            # layer3.1.conv1 reads layer3.0's output (its conv2 reads the output of a ReLU
            # module called twice, which Lucent's hook cannot tell apart)
            cases = {
                "left": ("layer3.1.conv2", "layer3_1_conv2"),
                "right": ("layer3.1.conv1", "layer3_0"),
            }
            rprof = sw.profile(
                net, (3, args.resnet, args.resnet), cache=False, progress=False,
                layers=[cases[s][0] for s in sides], method="fft",
            )  # fmt: skip
            for side in sides:
                compare(
                    "CPU, ResNet-18 random weights",
                    net,
                    rprof,
                    cases[side][0],
                    side,
                    cases[side][1],
                    list(range(8)),
                    args.resnet,
                    3,
                    args.resnet_steps,
                    args.repeats,
                )
    if args.gpu:
        if not torch.cuda.is_available():
            print("\nGPU variant skipped: CUDA is not available")
            return
        from models import resnet18

        torch.manual_seed(0)
        net = resnet18().cuda().eval()
        layer = "layer3.1.conv2"
        gprof = sw.profile(
            net, (3, 128, 128), cache=False, progress=False, layers=[layer], method="fft"
        )
        compare(
            "CUDA (autocast float16, channels-last), ResNet-18 random weights",
            net,
            gprof,
            layer,
            "left",
            layer.replace(".", "_"),
            list(range(64)),
            128,
            3,
            256,
            args.repeats,
        )
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
