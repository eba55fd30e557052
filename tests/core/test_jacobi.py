"""The batched one-sided Jacobi SVD in Triton (svdwidgets.core.jacobi) against float64 LAPACK.

Without CUDA the kernel runs through Triton's interpreter on CPU tensors (TRITON_INTERPRET=1 is
set here, before Triton is first imported in this process); on a GPU machine the same tests run
the compiled kernel on CUDA tensors. The contract (issue #17): every σ within 1e-5·σ_max, within
1e-3 relative for σ ≥ 1e-4·σ_max; vectors satisfy A v = σ u.
"""

from __future__ import annotations

import os

import pytest
import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402, F401 - a test dependency: these tests must not skip in CI

from svdwidgets import SVDWidgetsError  # noqa: E402
from svdwidgets.core import jacobi, solvers  # noqa: E402
from svdwidgets.core.jacobi import jacobi_svd, jacobi_svdvals  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"


@pytest.fixture
def float32_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """float32 rotations are refused on CUDA until verified there: these tests verify them."""
    monkeypatch.setattr(jacobi, "FLOAT32_ON_CUDA_UNVERIFIED_OK", True)


if not CUDA and os.environ.get("TRITON_INTERPRET") != "1":  # pragma: no cover
    pytest.skip(
        "Triton was imported before TRITON_INTERPRET=1 could be set", allow_module_level=True
    )


def _reference(a: torch.Tensor) -> torch.Tensor:
    wide = torch.complex128 if a.is_complex() else torch.float64
    return torch.linalg.svdvals(a.to(wide).cpu())


def _assert_contract(values: torch.Tensor, ref: torch.Tensor) -> None:
    values = values.double().cpu()
    assert values.shape == ref.shape
    top = ref[:, :1]
    assert bool(((values - ref).abs() <= 1e-5 * top + 1e-30).all()), (values - ref).abs().max()
    keep = ref >= 1e-4 * top
    rel = ((values - ref).abs() / ref.clamp_min(1e-300))[keep]
    assert float(rel.max()) <= 1e-3
    assert bool((values[:, :-1] >= values[:, 1:]).all()), "values must be sorted descending"


def _with_values(batch: int, m: int, n: int, s: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Random matrices with prescribed singular values ``s`` (length min(m, n))."""
    g = torch.Generator().manual_seed(m * 1000 + n)
    wide = torch.complex128 if dtype.is_complex else torch.float64
    k = min(m, n)
    qa = torch.linalg.qr(torch.randn(batch, m, k, dtype=wide, generator=g)).Q
    qb = torch.linalg.qr(torch.randn(batch, n, k, dtype=wide, generator=g)).Q
    return ((qa * s.to(wide)) @ qb.mH).to(dtype)


SHAPES = [(1, 1), (1, 5), (5, 1), (2, 2), (3, 7), (7, 3), (16, 16), (24, 9), (9, 33), (64, 64)]


@pytest.mark.parametrize("dtype", [torch.complex64, torch.float32])
@pytest.mark.parametrize(("m", "n"), SHAPES)
def test_values_match_lapack_on_random_matrices(m: int, n: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(m * 7 + n)
    a = torch.randn(2, m, n, dtype=dtype, generator=g)
    values = jacobi_svdvals(a.to(DEVICE))
    assert values.dtype == torch.float32 and values.device.type == DEVICE
    _assert_contract(values, _reference(a))


def test_the_largest_size_in_the_contract() -> None:
    """130 x 130 (more columns than one 128-lane pass) and 130 x 40, one matrix each."""
    g = torch.Generator().manual_seed(130)
    for m, n in ((130, 130), (40, 130)):
        a = torch.randn(1, m, n, dtype=torch.complex64, generator=g)
        _assert_contract(jacobi_svdvals(a.to(DEVICE)), _reference(a))


def test_rank_deficient_repeated_and_tiny_values() -> None:
    k = 12
    cases = {
        "rank deficient": torch.cat([torch.linspace(3, 1, 8), torch.zeros(4)]).double(),
        "repeated": torch.tensor([2.0] * 6 + [0.5] * 6, dtype=torch.float64),
        "graded to 1e-7": torch.logspace(0, -7, k, dtype=torch.float64),
    }
    for name, s in cases.items():
        a = _with_values(3, 20, k, s, torch.complex64)
        values = jacobi_svdvals(a.to(DEVICE)).double().cpu()
        _assert_contract(values, _reference(a))
        # float64 rotations: the tiny values come out with small *relative* error as well
        exact = s.expand(3, k)
        keep = exact >= 1e-5
        rel = ((values - exact).abs() / exact.clamp_min(1e-300))[keep]
        assert float(rel.max()) < 1e-3, name


def test_zero_matrix_and_zero_columns() -> None:
    a = torch.zeros(2, 6, 4, dtype=torch.complex64)
    a[1, :, 2] = 1.0  # one nonzero column: σ = sqrt(6), the rest 0
    values = jacobi_svdvals(a.to(DEVICE)).cpu()
    assert torch.equal(values[0], torch.zeros(4))
    torch.testing.assert_close(values[1], torch.tensor([6**0.5, 0, 0, 0]))


@pytest.mark.parametrize(("m", "n"), [(6, 6), (9, 4), (4, 9), (17, 17)])
@pytest.mark.parametrize("dtype", [torch.complex64, torch.float64])
def test_vectors_satisfy_av_equals_sigma_u(m: int, n: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(m + 31 * n)
    a = torch.randn(2, m, n, dtype=dtype, generator=g)
    u, s, v, _ = jacobi_svd(a.to(DEVICE))
    u, s, v = u.cpu(), s.cpu(), v.cpu()
    k = min(m, n)
    assert u.shape == (2, m, k) and v.shape == (2, n, k) and s.shape == (2, k)
    tol = 1e-5 if dtype == torch.complex64 else 1e-10
    torch.testing.assert_close(a @ v, u * s[:, None, :].to(u.dtype), atol=tol * 10, rtol=0)
    eye = torch.eye(k, dtype=dtype).expand(2, k, k)
    torch.testing.assert_close(v.mH @ v, eye, atol=tol * 10, rtol=0)
    torch.testing.assert_close(u.mH @ u, eye, atol=tol * 10, rtol=0)
    _assert_contract(s, _reference(a))


@pytest.mark.usefixtures("float32_on_cuda")
def test_float32_rotations_meet_the_contract_on_random_blocks() -> None:
    g = torch.Generator().manual_seed(3)
    a = torch.randn(2, 32, 32, dtype=torch.complex64, generator=g)
    result = jacobi_svd(a.to(DEVICE), precision=torch.float32)
    assert int(result.sweeps.max()) < 40, "did not converge"
    _assert_contract(result.S, _reference(a))


@pytest.mark.usefixtures("float32_on_cuda")
@pytest.mark.parametrize("precision", [torch.float64, torch.float32])
def test_the_callers_blocks_are_left_unchanged(precision: torch.dtype) -> None:
    """The kernel rotates a working copy in place, never the input (same dtype: no cast)."""
    g = torch.Generator().manual_seed(4)
    a = torch.randn(2, 8, 8, dtype=torch.complex64, generator=g).to(DEVICE)
    before = a.clone()
    jacobi_svdvals(a, precision=precision)
    jacobi_svd(a, precision=precision)
    assert torch.equal(a, before)


def test_sweeps_converge_well_before_the_limit() -> None:
    g = torch.Generator().manual_seed(6)
    a = torch.randn(3, 24, 24, dtype=torch.complex64, generator=g)
    sweeps = jacobi_svd(a.to(DEVICE)).sweeps.cpu()
    assert bool((sweeps >= 2).all()) and int(sweeps.max()) <= 15, sweeps


def test_bad_input_names_the_value() -> None:
    with pytest.raises(SVDWidgetsError, match=r"\(B, m, n\).*\(4, 4\)"):
        jacobi_svdvals(torch.zeros(4, 4))
    with pytest.raises(SVDWidgetsError, match="int64"):
        jacobi_svdvals(torch.zeros(1, 4, 4, dtype=torch.int64))
    with pytest.raises(SVDWidgetsError, match="NaN"):
        jacobi_svdvals(torch.full((1, 3, 3), float("nan")))
    with pytest.raises(SVDWidgetsError, match=r"max_sweeps.*0"):
        jacobi_svdvals(torch.zeros(1, 3, 3), max_sweeps=0)
    with pytest.raises(SVDWidgetsError, match="float16"):
        jacobi_svdvals(torch.zeros(1, 3, 3), precision=torch.float16)


def test_empty_batch() -> None:
    values = jacobi_svdvals(torch.zeros(0, 5, 3, dtype=torch.complex64, device=DEVICE))
    assert values.shape == (0, 3)


def test_solver_table_rows_pick_the_first_match() -> None:
    rows = (
        {"max_short": 32, "max_long": 64, "solver": "jacobi-f32"},
        {"max_short": 128, "max_long": 256, "solver": "jacobi-f64"},
    )
    assert solvers.cuda_solver(16, 64, rows) == "jacobi-f32"
    assert solvers.cuda_solver(64, 12, rows) == "jacobi-f32"
    assert solvers.cuda_solver(64, 64, rows) == "jacobi-f64"
    assert solvers.cuda_solver(512, 512, rows) == "gesvda"
    with solvers.preferred_cuda_solver("jacobi-f64"):
        assert solvers.cuda_solver(512, 512, rows) == "jacobi-f64"
    assert solvers.cuda_solver(512, 512, rows) == "gesvda"
    with pytest.raises(ValueError, match="nope"), solvers.preferred_cuda_solver("nope"):
        pass


def test_the_shipped_table_is_valid() -> None:
    rows = solvers._table_rows()
    for row in rows:
        assert row["solver"] in solvers.CUDA_SOLVERS
        assert 1 <= row["max_short"] <= row["max_long"]
    assert solvers.solver_name(torch.device("cpu"), (64, 64)) == "lapack-gesdd"


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.usefixtures("float32_on_cuda")
@pytest.mark.parametrize("solver", ["jacobi-f64", "jacobi-f32", "gesvda"])
def test_conv_svd_on_cuda_with_each_solver_matches_the_cpu(solver: str) -> None:  # pragma: no cover
    import svdwidgets as sw

    g = torch.Generator().manual_seed(5)
    w = torch.randn(48, 40, 3, 3, generator=g)
    cpu = sw.conv_svd(w, (16, 16), padding=1, padding_mode="circular").values
    with solvers.preferred_cuda_solver(solver):
        spec = sw.conv_svd(w, (16, 16), padding=1, padding_mode="circular", device="cuda")
    assert spec.solver == solvers.CUDA_SOLVERS[solver]
    torch.testing.assert_close(spec.values.cpu(), cpu, atol=1e-5 * float(cpu[0]), rtol=0)


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_float32_rotations_on_cuda_are_refused_until_verified() -> None:  # pragma: no cover
    with pytest.raises(SVDWidgetsError, match="float32 on CUDA"):
        jacobi_svdvals(torch.ones(1, 4, 4, device="cuda"), precision=torch.float32)


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_directions_of_a_cuda_profile_are_built_on_the_cpu() -> None:  # pragma: no cover
    """The Explorer failed on a CUDA profile: its singular vectors mixed devices (H200 run)."""
    import svdwidgets as sw

    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(7))
    spec = sw.conv_svd(w, (8, 8), padding=1, padding_mode="circular", device="cuda")
    v, u = spec.vector(0)
    assert v.device.type == "cpu" and u.device.type == "cpu"
    padded = torch.nn.functional.pad(v[None], (1, 1, 1, 1), mode="circular")
    av = torch.nn.functional.conv2d(padded, w)[0]
    torch.testing.assert_close(av, spec.values[0] * u, atol=1e-4, rtol=0)
