"""single_threaded_lapack limits the calling thread only; nothing process-wide changes (#13.6)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from svdwidgets.core import solvers
from svdwidgets.core.solvers import batched_svdvals, lapack_threads, single_threaded_lapack


def _in_thread(fn: Any) -> Any:
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_a_worker_limit_leaves_every_other_thread_alone() -> None:
    threads = torch.get_num_threads()
    inside, leave = threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def worker() -> None:
        with single_threaded_lapack() as had:
            seen["had"] = had
            seen["worker lapack"] = lapack_threads()
            seen["worker torch"] = torch.get_num_threads()
            inside.set()
            leave.wait(10)

    w = threading.Thread(target=worker)
    w.start()
    assert inside.wait(10)
    try:
        seen["main torch"] = torch.get_num_threads()
        seen["main lapack"] = lapack_threads()
        # a thread started while the worker is limited (a user's training loop, a data loader)
        seen["new torch"] = _in_thread(torch.get_num_threads)
        seen["new lapack"] = _in_thread(lapack_threads)
    finally:
        leave.set()
        w.join()
    assert seen["had"] == threads
    assert seen["main torch"] == threads and seen["new torch"] == threads
    assert seen["main lapack"] == seen["new lapack"] == lapack_threads()
    if solvers._mkl() is not None:  # MKL: the limit is real, in the worker only
        assert seen["worker lapack"] == 1
    if solvers._gomp() is not None:  # and so is torch's own (OpenMP), in the worker only
        assert seen["worker torch"] == 1
    assert torch.get_num_threads() == threads


def test_the_limit_is_undone_and_nests() -> None:
    before = lapack_threads()
    with single_threaded_lapack():
        with single_threaded_lapack():
            pass
        if solvers._mkl() is not None:
            assert lapack_threads() == 1  # the inner exit restored the outer limit
    assert lapack_threads() == before


def test_with_mkl_and_openmp_the_main_thread_limit_is_its_own() -> None:
    if solvers._mkl() is None or solvers._gomp() is None:
        return  # without them the main thread limits through torch.set_num_threads, by design
    threads = torch.get_num_threads()
    with single_threaded_lapack():
        # torch's parallel loops (convolutions) and LAPACK run on this thread alone ...
        assert torch.get_num_threads() == 1 and lapack_threads() == 1
        # ... while a thread started meanwhile keeps the process's counts
        assert _in_thread(torch.get_num_threads) == threads
        assert _in_thread(lapack_threads) == threads
    assert torch.get_num_threads() == threads


def test_batched_svdvals_off_the_main_thread_agrees_with_numpy() -> None:
    g = torch.Generator().manual_seed(3)
    blocks = torch.randn(64, 12, 9, dtype=torch.complex128, generator=g)
    reference = torch.from_numpy(np.linalg.svd(blocks.numpy(), compute_uv=False))
    got = _in_thread(lambda: batched_svdvals(blocks))
    torch.testing.assert_close(got, reference)
    torch.testing.assert_close(batched_svdvals(blocks), reference)
