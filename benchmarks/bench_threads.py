"""Does LAPACK limited to one thread still pay, and what does the limit do to other threads?

``svdwidgets.core.solvers.single_threaded_lapack`` runs the small batched SVDs of the ``fft``
method and the dense SVDs of small layers with one LAPACK thread (MKL's threading of small SVDs
costs more than it gains, and on a busy 2-core machine much more). This times, side by side in
one run, on the bundled model's profile (``cache=False``) and on a ResNet-like layer
(64 -> 64 channels, 3x3, 56x56, ``fft``):

* ``limited``: the library as it is (``single_threaded_lapack`` active);
* ``unlimited``: ``single_threaded_lapack`` replaced by a no-op (torch's default threads);

each called on the main thread and on a worker thread (as the gallery's render worker and the
analysis jobs do). It then reports the side effect that matters: the thread count another,
already running thread sees while a worker is inside ``single_threaded_lapack``, and torch's
count afterwards. Prints the load average: on a shared machine the numbers mean little without.

    python benchmarks/bench_threads.py --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator

import torch

import svdwidgets as sw
from svdwidgets.core import solvers
from svdwidgets.zoo import load_default


def _seconds(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """``(median, fastest)`` of ``repeats`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def _on_worker(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        out: list[object] = []
        t = threading.Thread(target=lambda: out.append(fn()))
        t.start()
        t.join()
        return out[0] if out else None

    return run


@contextlib.contextmanager
def _unlimited() -> Iterator[None]:
    @contextlib.contextmanager
    def noop() -> Iterator[int]:
        yield torch.get_num_threads()

    saved = solvers.single_threaded_lapack
    modules = [m for m in _users() if getattr(m, "single_threaded_lapack", None) is saved]
    for m in modules:
        m.single_threaded_lapack = noop  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for m in modules:
            m.single_threaded_lapack = saved  # type: ignore[attr-defined]


def _users() -> list[object]:
    import sys

    return [m for name, m in sys.modules.items() if name.startswith("svdwidgets") and m]


def _side_effect() -> tuple[int, int, int]:
    """Threads a running thread sees while a worker is inside the limit; torch's after."""
    inside = threading.Event()
    leave = threading.Event()
    seen: list[int] = []

    def worker() -> None:
        with solvers.single_threaded_lapack():
            inside.set()
            leave.wait(10)

    def other() -> None:
        torch.ones(1).sum()  # an already running thread (a user's training loop)
        ready.set()
        inside.wait(10)
        seen.append(torch.get_num_threads())
        seen.append(getattr(solvers, "lapack_threads", torch.get_num_threads)())

    ready = threading.Event()
    o = threading.Thread(target=other)
    o.start()
    ready.wait(10)
    w = threading.Thread(target=worker)
    w.start()
    o.join()
    leave.set()
    w.join()
    return seen[0], seen[1], torch.get_num_threads()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    bundle = load_default()
    shape = tuple(bundle.images.shape[1:])
    weight = torch.randn(64, 64, 3, 3, generator=torch.Generator().manual_seed(0)) / 24

    cases: dict[str, Callable[[], object]] = {
        "bundled profile": lambda: sw.profile(bundle.model, shape, cache=False, progress=False),
        "resnet 64x64x3x3 @56 fft": lambda: sw.conv_svd(
            weight, (56, 56), padding=1, padding_mode="circular", method="fft"
        ),
    }
    scope = getattr(solvers, "lapack_scope", lambda: "torch.set_num_threads (process-wide)")()
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {load:.2f}")
    print(f"single_threaded_lapack limits by: {scope}")
    print(f"{'case':28s} {'thread':7s} {'limited med/min s':>20s} {'unlimited med/min s':>22s}")
    for name, fn in cases.items():
        for where, call in (("main", fn), ("worker", _on_worker(fn))):
            lim = _seconds(call, args.repeats)
            with _unlimited():
                unl = _seconds(call, args.repeats)
            print(
                f"{name:28s} {where:7s} {lim[0]:9.3f}/{lim[1]:<9.3f} {unl[0]:10.3f}/{unl[1]:<10.3f}"
            )
    other, other_lapack, after = _side_effect()
    print(
        f"while a worker is limited, another thread sees torch threads={other}, "
        f"LAPACK threads={other_lapack}; torch threads afterwards={after}"
    )
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
