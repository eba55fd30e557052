"""Forward-pass time of the Cayley orthogonal convolution against a plain Conv2d, by input size.

The Cayley layer (Trockman & Kolter, ICLR 2021) recomputes ``n (n/2 + 1)`` Cayley transforms
(one ``c x c`` solve per frequency, ``O(n² c³)``) and two FFTs (``O(B c n² log n)``) per forward
pass, against ``O(B c² k² n²)`` for a ``k x k`` convolution: both grow as ``n²``, so the ratio
grows at small ``n`` (fixed overheads) and then levels off. ``‖Qx‖/‖x‖`` checks that the
layer timed is the isometry it claims to be. Prints one row per thread count and
``n`` with the median and the fastest of ``--repeats`` runs of each, and the load average
before and after (the numbers mean little without it on a shared machine).

On a shared 2-core machine torch's 2-thread pool can cost more than the work: every op waits
for a second thread the scheduler has given to someone else (measured once: a Conv2d on 8x8
inputs took 48 ms with 2 threads and 0.2 ms with one, load average 3-4; minutes later, with
the load at 3.6, both took 0.2 ms). Hence ``--threads 1 2``, side by side in one run.

    python benchmarks/bench_cayley.py --channels 16 --batch 8 --sizes 8 16 32 64 128
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from torch import nn

from svdwidgets.neighbours.cayley import CayleyConv2d


def _seconds(fn, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """``(median, fastest)`` wall-clock seconds of ``repeats`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def bench(sizes: list[int], channels: int, batch: int, kernel: int, repeats: int) -> list[dict]:
    torch.manual_seed(0)
    cayley = CayleyConv2d(channels, channels, kernel, bias=False)
    conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, padding_mode="circular")
    rows = []
    with torch.no_grad():
        for n in sizes:
            x = torch.randn(batch, channels, n, n)
            # the layer is what it claims: an isometry on these inputs
            gain = float(cayley(x).norm() / x.norm()) if cayley.bias is None else None
            t_cayley = _seconds(lambda x=x: cayley(x), repeats)
            t_symbols = _seconds(lambda n=n: cayley.symbols(n), repeats)
            t_conv = _seconds(lambda x=x: conv(x), repeats)
            rows.append(
                {
                    "n": n,
                    "cayley_s": t_cayley,
                    "cayley_symbols_s": t_symbols,
                    "conv2d_s": t_conv,
                    "gain": gain,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, torch.get_num_threads()])
    args = parser.parse_args()
    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; c={args.channels}, batch={args.batch}, k={args.kernel}; "
        f"median / fastest of {args.repeats} runs, seconds"
    )
    print(f"# load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(
        f"{'threads':>7} {'n':>4} {'cayley':>17} {'of which Q(f)':>17} {'Conv2d':>17} "
        f"{'ratio':>6} {'‖Qx‖/‖x‖':>10}"
    )
    threads = torch.get_num_threads()
    try:
        for t in dict.fromkeys(args.threads):
            torch.set_num_threads(t)
            for row in bench(args.sizes, args.channels, args.batch, args.kernel, args.repeats):
                (cm, cf), (sm, sf), (vm, vf) = (
                    row["cayley_s"],
                    row["cayley_symbols_s"],
                    row["conv2d_s"],
                )
                print(
                    f"{t:>7} {row['n']:>4} {cm:>8.5f} {cf:>8.5f} {sm:>8.5f} {sf:>8.5f} "
                    f"{vm:>8.5f} {vf:>8.5f} {cm / vm:>6.1f} {row['gain']:>10.7f}"
                )
    finally:
        torch.set_num_threads(threads)
    print(f"# load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
