"""Singular values of a stack of small dense matrices, chunked to a memory budget.

The ``fft`` method reduces a convolution to one small matrix per frequency; this module takes
their singular values.

On CPU it calls LAPACK (``torch.linalg.svdvals``, divide and conquer) with one thread per call
and splits the batch over a pool of as many threads as torch may use: MKL's own threading of
small SVDs is several times *slower* than one thread (measured here: 128 complex 128x128
matrices, 0.71 s with 2 MKL threads, 0.12 s with 1).

On CUDA the solver comes from a measured table, ``solver_table.json`` beside this module (block
size -> fastest solver that meets the accuracy contract, written by ``benchmarks/gpu_suite.py``
on a GPU). Where the table names none, chunks of at most :data:`GESVDA_CHUNK` tall matrices go
through cuSOLVER's batched approximate driver ``gesvda`` (the default driver loops Jacobi SVDs
matrix by matrix and is slower than a CPU core); its answer is checked per matrix against the
Frobenius identity ``Σσ² = ‖M‖_F²`` and any matrix where the identity fails (gesvda fails on
rank-deficient matrices) is recomputed with the default driver. The other solver is the batched
one-sided Jacobi SVD in Triton (:mod:`svdwidgets.core.jacobi`).
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import json
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from svdwidgets.core.jacobi import jacobi_svd, jacobi_svdvals, triton_available

__all__ = [
    "CUDA_SOLVERS",
    "GESVDA_CHUNK",
    "SOLVER_TABLE",
    "batched_svdvals",
    "cuda_solver",
    "gram_svdvals",
    "jacobi_svd",
    "jacobi_svdvals",
    "lapack_scope",
    "lapack_threads",
    "preferred_cuda_solver",
    "scipy_blas_single_thread",
    "single_threaded_lapack",
    "solver_name",
    "uses_gram",
]

GESVDA_CHUNK = 4096
_FROBENIUS_RTOL = 1e-3
SOLVER_TABLE = Path(__file__).with_name("solver_table.json")
# the names a table row may give, and what :func:`solver_name` reports for each
CUDA_SOLVERS = {
    "gesvda": "cusolver-gesvda+check",
    "jacobi-f64": "triton-jacobi-f64",
    "jacobi-f32": "triton-jacobi-f32",
}
_PREFERRED: contextvars.ContextVar[str | None] = contextvars.ContextVar("cuda_solver", default=None)


@contextlib.contextmanager
def preferred_cuda_solver(solver: str) -> Iterator[None]:
    """Use ``solver`` (a key of :data:`CUDA_SOLVERS`) for every CUDA block size, in this
    thread or task only (a context variable): how ``benchmarks/gpu_suite.py`` compares them."""
    if solver not in CUDA_SOLVERS:
        raise ValueError(f"unknown CUDA solver {solver!r}; one of {sorted(CUDA_SOLVERS)}")
    token = _PREFERRED.set(solver)
    try:
        yield
    finally:
        _PREFERRED.reset(token)


@functools.cache
def _table_rows(path: Path = SOLVER_TABLE) -> tuple[dict[str, Any], ...]:
    rows = json.loads(path.read_text(encoding="utf-8")).get("rows", [])
    for row in rows:
        if row.get("solver") not in CUDA_SOLVERS:
            raise ValueError(f"{path}: unknown solver {row.get('solver')!r} in row {row}")
    return tuple(rows)


def cuda_solver(m: int, n: int, rows: tuple[dict[str, Any], ...] | None = None) -> str:
    """The table's solver for ``m x n`` blocks on CUDA: its first row with ``min(m, n) <=
    max_short`` and ``max(m, n) <= max_long``; ``"gesvda"`` where no row matches, or where
    the row names the Jacobi solver and Triton is missing."""
    preferred = _PREFERRED.get()
    if preferred is not None:
        return preferred
    short, long_ = min(m, n), max(m, n)
    for row in _table_rows() if rows is None else rows:
        if short <= row["max_short"] and long_ <= row["max_long"]:
            solver = str(row["solver"])
            if solver.startswith("jacobi") and not triton_available():
                return "gesvda"
            return solver
    return "gesvda"


def solver_name(
    device: torch.device,
    block: tuple[int, int] | None = None,
    *,
    count: int | None = None,
    dtype: torch.dtype | None = None,
) -> str:
    """The name of the solver :func:`batched_svdvals` uses on ``device`` for ``count``
    ``block``-shaped matrices (``(m, n)``) of ``dtype`` (on CUDA the table decides)."""
    if device.type != "cuda":
        if block is not None and count is not None and dtype is not None:
            if _gram_route(device, dtype, count, block):
                return "gram-f64-eigvalsh"
        return "lapack-gesdd"
    if block is None:
        return CUDA_SOLVERS["gesvda"]
    if min(block) == 1:
        return "vector-norm"
    return CUDA_SOLVERS[cuda_solver(*block)]


def batched_svdvals(blocks: torch.Tensor) -> torch.Tensor:
    """Singular values, descending, of every matrix in ``blocks`` of shape ``(B, m, n)``.

    Matrices with one row or one column take a vector norm instead of an SVD.
    """
    if blocks.shape[-1] == 1 or blocks.shape[-2] == 1:
        return torch.linalg.vector_norm(blocks, dim=(-2, -1))[:, None]
    if blocks.device.type == "cuda":
        solver = cuda_solver(blocks.shape[-2], blocks.shape[-1])
        if solver == "jacobi-f64":
            return jacobi_svdvals(blocks, precision=torch.float64)
        if solver == "jacobi-f32":
            return jacobi_svdvals(blocks, precision=torch.float32)
        return _cuda_svdvals(blocks)
    return _cpu_svdvals(blocks)


_THREADS_LOCK = threading.RLock()  # re-entrant: a solver may call another


@functools.cache
def _mkl() -> ctypes.CDLL | None:
    """torch's CPU library when it carries MKL's thread-local controls, else None."""
    for path in sorted(Path(torch.__file__).with_name("lib").glob("*torch_cpu*")):
        try:
            lib = ctypes.CDLL(str(path))
            # the C entries (the lowercase names are Fortran's, arguments by reference)
            lib.MKL_Set_Num_Threads_Local.argtypes = [ctypes.c_int]
            lib.MKL_Set_Num_Threads_Local.restype = ctypes.c_int
            lib.MKL_Get_Max_Threads.restype = ctypes.c_int
        except (OSError, AttributeError):
            continue
        return lib
    return None


def lapack_scope() -> str:
    """How :func:`single_threaded_lapack` limits LAPACK here, in words."""
    if _mkl() is not None:
        return "MKL thread-local (the calling thread only)"
    return "torch.set_num_threads on the main thread only (no limit on other threads)"


def lapack_threads() -> int:
    """The LAPACK threads a call from this thread would use (MKL's count, else torch's)."""
    lib = _mkl()
    return torch.get_num_threads() if lib is None else int(lib.MKL_Get_Max_Threads())


@contextlib.contextmanager
def single_threaded_lapack() -> Iterator[int]:
    """Run LAPACK, and torch's own parallel loops (convolutions included), single-threaded in
    this call; yield how many threads torch uses outside it.

    Scoped to the calling thread: with MKL (torch's x86 builds) through MKL's thread-local
    count, and torch's OpenMP loops through this thread's OpenMP count (``omp_set_num_threads``
    of the ``libgomp`` torch ships sets the calling thread's value only), so no other thread,
    and no thread started meanwhile, is limited. Without MKL, LAPACK is limited only on the
    main thread, through ``torch.set_num_threads(1)`` restored afterwards; off the main thread
    (a render worker, a job) nothing process-wide is ever changed.

    Measured here: a dense 1152x1152 ``svdvals`` took 33 s with torch's 2 threads on a busy
    2-core machine and 0.24 s with one (``benchmarks/bench_threads.py`` times both ways); a
    256-channel 3x3 convolution and its adjoint at 14x14 px (one Lanczos step) 11-65 ms with 2
    threads and 5-8 ms with one, at load 3.
    """
    threads = torch.get_num_threads()
    with contextlib.ExitStack() as scope:
        omp = _gomp()
        if omp is not None:
            previous_omp = int(omp.omp_get_max_threads())
            omp.omp_set_num_threads(1)
            scope.callback(omp.omp_set_num_threads, previous_omp)
        lib = _mkl()
        if lib is not None:
            # returns this thread's previous setting (0: none); restoring 0 clears it
            previous = lib.MKL_Set_Num_Threads_Local(1)
            scope.callback(lib.MKL_Set_Num_Threads_Local, previous)
        elif threading.current_thread() is threading.main_thread():
            scope.enter_context(_THREADS_LOCK)
            torch.set_num_threads(1)
            scope.callback(torch.set_num_threads, threads)
        yield threads


@contextlib.contextmanager
def scipy_blas_single_thread() -> Iterator[None]:
    """Run the BLAS that numpy and scipy ship (OpenBLAS) single-threaded in this call.

    For small scipy LAPACK calls made right after torch work: torch's OpenMP threads keep
    spinning for a while after a parallel loop, and OpenBLAS's own threads then fight them for
    the cores (measured here: a 64x64 ``eigh`` subset after a torch matmul 10.8 ms with
    OpenBLAS's 2 threads, 1.6 ms with one). OpenBLAS has one process-wide count, so another
    thread's scipy call in the meantime also runs on one thread (slower, never wrong).
    """
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1):
        yield


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's controller of the BLAS libraries loaded now (scipy.linalg imported)."""
    import scipy.linalg  # noqa: F401  (loads scipy's OpenBLAS, so the controller sees it)

    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    selected = ThreadpoolController().select(user_api="blas")
    return selected if selected.lib_controllers else None


@functools.cache
def _gomp() -> ctypes.CDLL | None:
    """The OpenMP runtime torch ships (``torch/lib/libgomp*``), when torch's parallel backend
    is OpenMP and it is there; else None (nothing limited that way)."""
    if "OpenMP" not in torch.__config__.parallel_info():
        return None
    for path in sorted(Path(torch.__file__).with_name("lib").glob("libgomp*.so*")):
        try:
            lib = ctypes.CDLL(str(path))
            lib.omp_set_num_threads.argtypes = [ctypes.c_int]
            lib.omp_get_max_threads.restype = ctypes.c_int
        except (OSError, AttributeError):
            continue
        return lib
    return None


GRAM_SIDE = 256
"""Single-precision blocks this large (a Linear weight, a conv at 1x1 px), too few to share
out over threads, get :func:`gram_svdvals`."""


def uses_gram(blocks: torch.Tensor) -> bool:
    """Whether :func:`batched_svdvals` takes these blocks' values from :func:`gram_svdvals`."""
    return _gram_route(blocks.device, blocks.dtype, blocks.shape[0], blocks.shape[-2:])


def _gram_route(device: torch.device, dtype: torch.dtype, count: int, block: Sequence[int]) -> bool:
    return (
        device.type == "cpu"
        and dtype in (torch.float32, torch.complex64)
        and count < 2 * lapack_threads()
        and min(block) >= GRAM_SIDE
    )


def gram_svdvals(blocks: torch.Tensor) -> torch.Tensor:
    """Singular values of single-precision blocks from the double-precision Gram matrix.

    ``sqrt(eigvalsh(B Bᴴ))`` on the smaller side, formed and solved in float64/complex128.
    The absolute error of each value is about ``eps64 * σ_max**2 / σ``, at most ~1e-8 σ_max
    for every σ, below the ~1e-7 σ_max of a single-precision SVD of the same blocks, and 4x
    faster here: AlexNet's 4096 x 9216 classifier weight in 5.9 s against 25 s (gesdd,
    float32, two threads).
    """
    wide = blocks.to(torch.complex128 if blocks.is_complex() else torch.float64)
    gram = wide @ wide.mH if wide.shape[-2] <= wide.shape[-1] else wide.mH @ wide
    values = torch.linalg.eigvalsh(gram).flip(-1).clamp_min(0).sqrt()
    return values.to(torch.float32)


def _one_thread_svdvals(blocks: torch.Tensor) -> torch.Tensor:
    with single_threaded_lapack():
        return torch.linalg.svdvals(blocks)


def _cpu_svdvals(blocks: torch.Tensor) -> torch.Tensor:
    if uses_gram(blocks):
        return gram_svdvals(blocks)
    with single_threaded_lapack() as threads:
        if threads == 1 or blocks.shape[0] < 2 * threads:
            return torch.linalg.svdvals(blocks)  # too few blocks to share out
        parts = blocks.chunk(threads)
        with ThreadPoolExecutor(threads) as pool:  # each pool thread limits itself
            return torch.cat(list(pool.map(_one_thread_svdvals, parts)))


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
