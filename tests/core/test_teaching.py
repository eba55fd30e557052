"""core/teaching: the teaching view's numbers against the autograd Jacobian of ``nn.Conv2d``.

The reference (``tests/conv_reference.py``) shares no code with the operator builder; the
spectra are checked against ``svdvals`` of that reference, the frequency blocks against the
``fft`` values they must produce, and Σσ² against the closed form for circular convolutions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from conv_reference import dense_conv_matrix

from svdwidgets.core.teaching import check_weight, random_weight, teaching_picture
from svdwidgets.errors import SVDWidgetsError

SETTINGS = [
    {"k": 3, "n": 6, "stride": 1, "padding": 1, "padding_mode": "zeros", "c": (3, 2)},
    {"k": 3, "n": 5, "stride": 1, "padding": 1, "padding_mode": "circular", "c": (2, 1)},
    {"k": 2, "n": 6, "stride": 2, "padding": 0, "padding_mode": "zeros", "c": (2, 3)},
    {"k": 5, "n": 7, "stride": 3, "padding": 2, "padding_mode": "circular", "c": (1, 1)},
    {"k": 4, "n": 8, "stride": 2, "padding": 1, "padding_mode": "circular", "c": (2, 2)},
]


@pytest.mark.parametrize("s", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_the_picture_is_the_dense_operator_and_its_spectra(s: dict[str, Any]) -> None:
    c_out, c_in = s["c"]
    w = random_weight(c_out, c_in, s["k"], seed=5).double()
    conv = {"stride": s["stride"], "padding": s["padding"], "padding_mode": s["padding_mode"]}
    p = teaching_picture(w, n=s["n"], **conv)
    ref = dense_conv_matrix(w, (s["n"], s["n"]), **conv).double()
    np.testing.assert_allclose(p.matrix, ref.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(p.exact, torch.linalg.svdvals(ref).numpy(), rtol=1e-10, atol=1e-12)
    unfolded = torch.linalg.svdvals(w.reshape(c_out, -1)).numpy()
    np.testing.assert_allclose(p.unfolded, unfolded, rtol=1e-10)
    assert p.weight_norm2 == pytest.approx(float((w**2).sum()))
    if s["n"] % s["stride"]:
        assert p.fft is None and p.blocks is None and "does not divide" in p.fft_note
        return
    assert p.fft is not None and p.blocks is not None
    # the blocks' singular values over the whole frequency plane are the fft values
    nh, nw, m, cols = p.blocks.shape
    assert (nh, nw, m, cols) == (s["n"] // s["stride"],) * 2 + (c_out, s["stride"] ** 2 * c_in)
    from_blocks = np.sort(np.linalg.svd(p.blocks, compute_uv=False).reshape(-1))[::-1]
    np.testing.assert_allclose(from_blocks, p.fft, rtol=1e-10, atol=1e-12)
    assert p.block_sigma is not None
    np.testing.assert_allclose(p.block_sigma.max(), p.fft[0], rtol=1e-12)
    if p.fft_exact:  # a circular convolution: fft is A's spectrum, Σσ² = (n/s)²·‖W‖²_F
        np.testing.assert_allclose(p.fft, p.exact, rtol=1e-9, atol=1e-12)
        grid = (s["n"] // s["stride"]) ** 2
        assert float(np.sum(p.exact**2)) == pytest.approx(grid * p.weight_norm2, rel=1e-10)
        assert p.gap is not None and p.gap < 1e-10


def test_zero_padding_is_not_circular_and_the_picture_says_why() -> None:
    w = random_weight(2, 2, 3, seed=1)
    p = teaching_picture(w, n=6, stride=1, padding=1, padding_mode="zeros")
    assert p.fft_exact is False and "zero padding" in p.fft_note
    assert p.gap is not None and p.gap > 1e-3
    # interlacing: σ_i(zeros, n) ≤ σ_i(circular, n + k − 1)
    wide = teaching_picture(w, n=8, stride=1, padding=1, padding_mode="circular")
    assert wide.fft_exact and np.all(p.exact <= wide.exact[: p.exact.size] + 1e-6)


def test_bad_weights_and_settings_name_the_value() -> None:
    with pytest.raises(SVDWidgetsError, match=r"\(2, 2, 3\)"):
        check_weight(torch.zeros(2, 2, 3))
    with pytest.raises(SVDWidgetsError, match="3x2"):
        check_weight(torch.zeros(1, 1, 3, 2))
    with pytest.raises(SVDWidgetsError, match="int64"):
        check_weight(torch.zeros(1, 1, 3, 3, dtype=torch.int64))
    with pytest.raises(SVDWidgetsError, match="NaN"):
        check_weight(np.full((1, 1, 3, 3), np.nan))
    with pytest.raises(SVDWidgetsError, match="got list"):
        check_weight([[1.0]])
    with pytest.raises(SVDWidgetsError, match=r"\(3, 3\).*\(5, 5\)"):
        teaching_picture(random_weight(1, 1, 5, 0), n=3, stride=1, padding=0, padding_mode="zeros")
