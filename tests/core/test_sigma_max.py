"""exact_sigma_max: an interval that contains the dense operator's σ_max and is <= 1e-4 wide."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import svdwidgets as sw
from svdwidgets.core.geometry import geometry_from
from svdwidgets.core.sigma_max import REL_TOL, exact_sigma_max, sigma_max_interval
from svdwidgets.errors import SVDWidgetsError
from tests.conv_reference import dense_conv_matrix

CASES = [
    # (c_out, c_in, k, input, stride, padding, dilation, groups, mode)
    (6, 4, 3, (10, 10), 1, 1, 1, 1, "zeros"),
    (6, 4, 3, (10, 9), 2, 1, 1, 1, "zeros"),
    (5, 3, 3, (9, 9), 1, 0, 1, 1, "zeros"),  # valid padding
    (6, 4, 3, (10, 10), 1, 1, 1, 1, "circular"),
    (6, 4, 3, (10, 10), 2, 1, 1, 1, "circular"),
    (6, 4, 3, (10, 10), 1, 1, 1, 1, "reflect"),
    (6, 4, 3, (11, 10), 2, 1, 1, 1, "reflect"),
    (6, 4, 3, (10, 10), 1, 2, 1, 1, "replicate"),
    (8, 4, 3, (9, 9), 1, 2, 2, 2, "zeros"),  # dilation and groups
    (4, 6, 5, (12, 12), 3, 2, 1, 1, "zeros"),
]


def _truth(w: torch.Tensor, size, stride, padding, dilation, groups, mode) -> float:
    dense = dense_conv_matrix(
        w,
        size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=mode,
    )
    return float(torch.linalg.svdvals(dense)[0])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[8]}-s{c[4]}-p{c[5]}-d{c[6]}-g{c[7]}")
@pytest.mark.parametrize("dense_side", [0, 10_000], ids=["lanczos", "dense"])
def test_interval_contains_dense_sigma_max_and_is_narrow(case, dense_side) -> None:
    c_out, c_in, k, size, stride, padding, dilation, groups, mode = case
    torch.manual_seed(hash(case) % 1000)
    w = torch.randn(c_out, c_in // groups, k, k)
    weight, g = geometry_from(
        w,
        size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        padding_mode=mode,
    )
    iv = sigma_max_interval(weight, g, dense_side=dense_side)
    truth = _truth(w, size, stride, padding, dilation, groups, mode)
    assert iv.lower <= truth * (1 + 1e-12)
    assert truth <= iv.upper * (1 + 1e-12)
    assert iv.rel_width <= REL_TOL
    assert iv.converged
    assert abs(iv.value - truth) <= REL_TOL * truth


def test_warm_start_at_the_circular_vector_needs_fewer_products() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
    weight, g = geometry_from(conv, (12, 12))
    circ = sw.conv_svd(conv, (12, 12), method="fft")
    assert not circ.exact
    cold = sigma_max_interval(weight, g, dense_side=0)
    warm = sigma_max_interval(weight, g, start=circ.vector(0)[0], dense_side=0)
    truth = _truth(conv.weight, (12, 12), 1, 1, 1, 1, "zeros")
    for iv in (cold, warm):
        assert iv.lower <= truth <= iv.upper * (1 + 1e-12)
    assert warm.matvecs <= cold.matvecs
    # the circular value overstates σ_max of this zero-padded layer; the interval does not
    assert circ.sigma_max > warm.upper


def test_public_entry_point_and_linear_layer() -> None:
    torch.manual_seed(2)
    lin = nn.Linear(40, 30)
    iv = sw.exact_sigma_max(lin)
    truth = float(torch.linalg.svdvals(lin.weight.detach().double())[0])
    assert truth in iv
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, padding_mode="reflect")
    iv = sw.exact_sigma_max(conv, (8, 8))
    assert _truth(conv.weight, (8, 8), 2, 1, 1, 1, "reflect") in iv


def test_bad_arguments_and_weights_raise() -> None:
    conv = nn.Conv2d(3, 5, 3, padding=1)
    with pytest.raises(SVDWidgetsError, match="rel_tol"):
        exact_sigma_max(conv, (8, 8), rel_tol=0.0)
    with torch.no_grad():
        conv.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(SVDWidgetsError, match="NaN"):
        exact_sigma_max(conv, (8, 8))
    with pytest.raises(SVDWidgetsError, match="1 non-finite"):
        sw.conv_svd(conv, (8, 8))
