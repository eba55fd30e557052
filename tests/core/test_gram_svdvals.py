"""Few large single-precision blocks (a Linear weight, a 1x1 conv) take their singular values
from the float64 Gram matrix: as accurate as a float32 SVD in absolute terms, several times
faster (AlexNet's 4096 x 9216 classifier: 5.9 s against 25 s)."""

from __future__ import annotations

import pytest
import torch

import svdwidgets as sw
from svdwidgets.core.solvers import GRAM_SIDE, batched_svdvals, gram_svdvals, solver_name


@pytest.mark.parametrize("shape", [(1, 300, 700), (2, 700, 300), (1, 260, 260)])
@pytest.mark.parametrize("complex_", [False, True])
def test_gram_values_match_a_double_precision_svd(
    shape: tuple[int, int, int], complex_: bool
) -> None:
    torch.manual_seed(0)
    w = torch.randn(shape, dtype=torch.complex64 if complex_ else torch.float32)
    w[..., :40, :] *= 1e-3  # a spread spectrum, small values included
    w[..., -3:, :] = 0  # and exact zeros (rank deficient)
    reference = torch.linalg.svdvals(w.to(torch.complex128 if complex_ else torch.float64))
    values = gram_svdvals(w)
    assert values.dtype == torch.float32 and values.shape == reference.shape
    err = (values.double() - reference).abs().amax(-1) / reference[..., 0]
    assert float(err.max()) < 1e-7  # float32 rounding of the values themselves
    # descending, non-negative
    assert bool((values[..., :-1] >= values[..., 1:]).all()) and bool((values >= 0).all())


def test_batched_svdvals_routes_few_large_single_blocks_to_the_gram() -> None:
    torch.manual_seed(1)
    big = torch.randn(1, GRAM_SIDE, GRAM_SIDE + 10)
    assert torch.equal(batched_svdvals(big), gram_svdvals(big))
    small = torch.randn(1, GRAM_SIDE - 1, GRAM_SIDE + 10)  # below the size: LAPACK's SVD
    torch.testing.assert_close(batched_svdvals(small), torch.linalg.svdvals(small))
    double = big.double()  # double precision asked: the SVD in double precision
    torch.testing.assert_close(batched_svdvals(double), torch.linalg.svdvals(double))


def test_the_solver_column_names_the_gram_route() -> None:
    cpu = torch.device("cpu")
    assert solver_name(cpu, (300, 700), count=1, dtype=torch.float32) == "gram-f64-eigvalsh"
    assert solver_name(cpu, (300, 700), count=1, dtype=torch.float64) == "lapack-gesdd"
    assert solver_name(cpu, (300, 700)) == "lapack-gesdd"  # many frequency blocks
    # a Linear layer's spectrum, as profile computes it: the Gram route, values as the SVD's
    torch.manual_seed(2)
    w = torch.randn(300, 700)
    spec = sw.conv_svd(w, method="fft")
    assert spec.solver == "gram-f64-eigvalsh"
    reference = torch.linalg.svdvals(w.double())
    assert float((spec.values.double() - reference).abs().max() / reference[0]) < 1e-7
