"""The exact σ_max of a depthwise layer whose circular top lies in another channel than its
operator's top (found on timm's rexnet_100 at 64 px: 2.4678 reported, 3.1108 true)."""

from __future__ import annotations

import torch

import svdwidgets as sw
from svdwidgets.core.geometry import geometry_from
from svdwidgets.core.sigma_max import sigma_max_interval


def test_lanczos_from_the_circular_vector_finds_the_top_channel() -> None:
    # 64 depthwise channels on 6x6 inputs, padding 1. Channel 0: all-ones 3x3, circular σ_max
    # 9 (DC), zero-padded less (the edges lose taps); channel 1: a centre tap 8.5, σ 8.5 both
    # ways; the rest small. The operator's σ_max is 8.5, in channel 1; the circular top
    # vector lies in channel 0 alone.
    c, n = 64, 6
    w = torch.zeros(c, 1, 3, 3, dtype=torch.float64)
    w[2:, 0, 1, 1] = 0.1
    w[0] = 1.0
    w[1, 0, 1, 1] = 8.5
    weight, g = geometry_from(w, (n, n), padding=1, groups=c)
    dense = sw.conv_svd(w, (n, n), padding=1, groups=c, method="exact", dtype=torch.float64)
    assert abs(dense.sigma_max - 8.5) < 1e-9
    v, u = sw.conv_svd(w, (n, n), padding=1, groups=c, method="fft").vector(0)
    assert float(v[1:].abs().max()) < 1e-6  # the start lies in channel 0 alone
    iv = sigma_max_interval(weight, g, start=v, start_left=u, dense_side=0)
    assert iv.method == "lanczos" and iv.converged
    assert iv.lower <= 8.5 * (1 + 1e-9) and 8.5 <= iv.upper * (1 + 1e-9), iv
