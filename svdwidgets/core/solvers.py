"""Singular values of a stack of small dense matrices, chunked to a memory budget.

The ``fft`` method reduces a convolution to one small matrix per frequency; this module takes
their singular values.

On CPU it calls LAPACK (``torch.linalg.svdvals``, divide and conquer) with one thread per call
and splits the batch over a pool of as many threads as torch may use: MKL's own threading of
small SVDs is several times *slower* than one thread (measured here: 128 complex 128x128
matrices, 0.71 s with 2 MKL threads, 0.12 s with 1).

On CUDA the default cuSOLVER driver loops Jacobi SVDs matrix by matrix and is slower than a CPU
core, so chunks of at most :data:`GESVDA_CHUNK` tall matrices go through the batched approximate
driver ``gesvda``; its answer is checked per matrix against the Frobenius identity
``Σσ² = ‖M‖_F²`` and any matrix where the identity fails (gesvda fails on rank-deficient
matrices) is recomputed with the default driver.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import torch

__all__ = ["GESVDA_CHUNK", "batched_svdvals", "single_threaded_lapack", "solver_name"]

GESVDA_CHUNK = 4096
_FROBENIUS_RTOL = 1e-3


def solver_name(device: torch.device) -> str:
    """The name of the solver :func:`batched_svdvals` uses on ``device``."""
    return "cusolver-gesvda+check" if device.type == "cuda" else "lapack-gesdd"


def batched_svdvals(blocks: torch.Tensor) -> torch.Tensor:
    """Singular values, descending, of every matrix in ``blocks`` of shape ``(B, m, n)``.

    Matrices with one row or one column take a vector norm instead of an SVD.
    """
    if blocks.shape[-1] == 1 or blocks.shape[-2] == 1:
        return torch.linalg.vector_norm(blocks, dim=(-2, -1))[:, None]
    if blocks.device.type == "cuda":
        return _cuda_svdvals(blocks)
    return _cpu_svdvals(blocks)


_THREADS_LOCK = threading.RLock()  # re-entrant: a solver may call another


@contextlib.contextmanager
def single_threaded_lapack() -> Iterator[int]:
    """Run LAPACK single-threaded; yield how many threads torch had (restored afterwards).

    Measured here: a dense 1152x1152 ``svdvals`` took 33 s with torch's 2 threads on a busy
    2-core machine and 0.24 s with one.
    """
    with _THREADS_LOCK:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield threads
        finally:
            torch.set_num_threads(threads)


def _cpu_svdvals(blocks: torch.Tensor) -> torch.Tensor:
    with single_threaded_lapack() as threads:
        if threads == 1 or blocks.shape[0] < 2 * threads:
            return torch.linalg.svdvals(blocks)
        parts = blocks.chunk(threads)
        with ThreadPoolExecutor(threads) as pool:
            return torch.cat(list(pool.map(torch.linalg.svdvals, parts)))


def _cuda_svdvals(blocks: torch.Tensor) -> torch.Tensor:
    if blocks.shape[-2] < blocks.shape[-1]:  # gesvda needs tall matrices
        blocks = blocks.mH
    out = []
    for start in range(0, blocks.shape[0], GESVDA_CHUNK):
        chunk = blocks[start : start + GESVDA_CHUNK]
        try:
            values = torch.linalg.svdvals(chunk, driver="gesvda")
        except RuntimeError:
            values = torch.linalg.svdvals(chunk)
            out.append(values)
            continue
        fro2 = torch.linalg.matrix_norm(chunk).square()
        sum2 = values.square().sum(-1)
        bad = ~torch.isfinite(values).all(-1) | (
            (sum2 - fro2).abs() > _FROBENIUS_RTOL * fro2.clamp_min(torch.finfo(fro2.dtype).tiny)
        )
        if bool(bad.any()):
            values[bad] = torch.linalg.svdvals(chunk[bad])
        out.append(values)
    return torch.cat(out)
