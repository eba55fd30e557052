"""Forward-pass time of the Cayley orthogonal convolution against a plain Conv2d, by input size.

The Cayley layer (Trockman & Kolter, ICLR 2021) recomputes ``n (n/2 + 1)`` Cayley transforms
(one ``c x c`` solve per frequency) and two FFTs per forward pass, so its cost grows with the
input size ``n`` faster than a ``k x k`` convolution's. Prints one row per ``n`` with the
median seconds of each.

    python benchmarks/bench_cayley.py --channels 16 --batch 8 --sizes 8 16 32 64
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

from svdwidgets.neighbours.cayley import CayleyConv2d


def _median_seconds(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(sizes: list[int], channels: int, batch: int, kernel: int, repeats: int) -> list[dict]:
    torch.manual_seed(0)
    cayley = CayleyConv2d(channels, channels, kernel)
    conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, padding_mode="circular")
    rows = []
    with torch.no_grad():
        for n in sizes:
            x = torch.randn(batch, channels, n, n)
            t_cayley = _median_seconds(lambda x=x: cayley(x), repeats)
            t_symbols = _median_seconds(lambda n=n: cayley.symbols(n), repeats)
            t_conv = _median_seconds(lambda x=x: conv(x), repeats)
            rows.append(
                {"n": n, "cayley_s": t_cayley, "cayley_symbols_s": t_symbols, "conv2d_s": t_conv}
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads; c={args.channels}, batch={args.batch}, "
        f"k={args.kernel}"
    )
    print(f"{'n':>4} {'cayley (s)':>12} {'of which Q(f) (s)':>18} {'Conv2d (s)':>12} {'ratio':>7}")
    for row in bench(args.sizes, args.channels, args.batch, args.kernel, args.repeats):
        print(
            f"{row['n']:>4} {row['cayley_s']:>12.5f} {row['cayley_symbols_s']:>18.5f} "
            f"{row['conv2d_s']:>12.5f} {row['cayley_s'] / row['conv2d_s']:>7.1f}"
        )


if __name__ == "__main__":
    main()
