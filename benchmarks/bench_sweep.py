"""Serial vs a Dask LocalCluster on the same checkpoints: the speed-up and the per-task overhead.

    python benchmarks/bench_sweep.py [--n 8] [--workers 2]

Checkpoints of the bundled SmallResNet (torchvision's ResNet-18 does not import beside our CPU
torch), each profiled with the spectrum cache off. The overhead per task is the cluster's wall
time minus the ideal (serial time / workers), divided by the tasks; the cluster's start (worker
processes importing torch) is timed separately.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import svdwidgets as sw
from svdwidgets.zoo import SmallResNet


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        torch.manual_seed(0)
        for i in range(args.n):
            torch.save(SmallResNet().state_dict(), folder / f"ck_epoch{i}.pt")
        glob = str(folder / "*.pt")

        t = time.perf_counter()
        sw.sweep(glob, arch="default", out=folder / "serial", cache=False)
        serial = time.perf_counter() - t

        t = time.perf_counter()
        with (
            LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(lambda: __import__("svdwidgets.sweeps.task"))  # warm imports
            start = time.perf_counter() - t
            t = time.perf_counter()
            s = sw.sweep(glob, arch="default", executor=client, out=folder / "dask", cache=False)
            dask = time.perf_counter() - t
            memory = client.run(_rss_mb)
        assert not s.failed, s.failed
    overhead = (dask - serial / args.workers) / args.n
    print(f"{args.n} checkpoints of SmallResNet at 28 px, {args.workers} workers x 1 thread")
    print(f"serial               {serial:7.2f} s  ({serial / args.n:.2f} s per checkpoint)")
    print(f"LocalCluster         {dask:7.2f} s  (+ {start:.1f} s to start the cluster)")
    print(f"speed-up             {serial / dask:7.2f} x")
    print(f"overhead per task    {overhead:7.2f} s  (cluster time - serial / workers, per task)")
    print("worker memory (MB)   " + ", ".join(f"{v:.0f}" for v in memory.values()))


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
