"""ConvOperatorView: the matrix, blocks and spectrum it sends, against independent references.

The dense reference is the autograd Jacobian of ``nn.Conv2d`` (``tests/conv_reference.py``),
sharing no code with the operator builder the view uses; the frequency blocks are checked
against the 2-D DFT of that reference matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from conv_reference import dense_conv_matrix

from svdwidgets.core.teaching import random_weight
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.widgets._errors import TraitValueError
from svdwidgets.widgets.conv_operator_view import ConvOperatorView

SETTINGS = [
    {"kernel_size": 3, "n": 6, "padding": 1, "padding_mode": "zeros", "c_in": 2, "c_out": 3},
    {"kernel_size": 3, "n": 5, "padding": 1, "padding_mode": "circular", "c_in": 1, "c_out": 2},
    {"kernel_size": 2, "n": 6, "stride": 2, "padding": 0, "c_in": 3, "c_out": 2},
    {"kernel_size": 5, "n": 7, "stride": 3, "padding": 2, "padding_mode": "circular"},
    {"kernel_size": 1, "n": 4, "padding": 0, "c_in": 4, "c_out": 4},
]


def _sent(mark: Any, name: str) -> np.ndarray:
    """The array a bqplot mark sends for trait ``name``, decoded from its wire form."""
    state = mark.get_state(name)[name]
    return np.frombuffer(bytes(state["value"]), dtype=state["dtype"]).reshape(state["shape"])


def _reference(view: ConvOperatorView) -> torch.Tensor:
    return dense_conv_matrix(
        view.weight,
        (view.n, view.n),
        stride=view.stride,
        padding=view.padding,
        padding_mode=view.padding_mode,
    )


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_the_matrix_sent_is_the_autograd_reference(settings: dict[str, Any]) -> None:
    view = ConvOperatorView(**settings)
    ref = _reference(view).numpy()
    assert view.matrix is not None and view.matrix.shape == ref.shape
    np.testing.assert_allclose(view.matrix, ref, rtol=0, atol=1e-6)
    sent = _sent(view._heat_a, "color")
    if min(ref.shape) > 1:  # a single row or column is sent doubled (bqplot's cell sizing)
        np.testing.assert_allclose(sent, ref, rtol=0, atol=1e-6)
    assert view.figures[0].title.startswith(f"A: {ref.shape[0]} × {ref.shape[1]}")


def test_a_single_row_is_sent_as_two_half_cells() -> None:
    view = ConvOperatorView(kernel_size=2, n=2, padding=0, c_in=2, c_out=1)  # A is 1 x 8
    ref = _reference(view).numpy()
    assert ref.shape == (1, 8)
    np.testing.assert_allclose(_sent(view._heat_a, "color"), np.repeat(ref, 2, axis=0), atol=1e-6)
    np.testing.assert_array_equal(_sent(view._heat_a, "y"), [-0.25, 0.25])  # one unit cell
    np.testing.assert_array_equal(_sent(view._heat_a, "x"), np.arange(8))


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_the_spectrum_shown_is_svdvals_of_the_reference(settings: dict[str, Any]) -> None:
    view = ConvOperatorView(**settings)
    expected = torch.linalg.svdvals(_reference(view)).numpy()
    np.testing.assert_allclose(_sent(view._line_exact, "y"), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(_sent(view._line_exact, "x"), np.arange(1, expected.size + 1))
    # the unfolded values are those of W as a c_out x c_in*k*k matrix: another object
    w = view.weight.double()
    np.testing.assert_allclose(
        _sent(view._dots_unfolded, "y"),
        torch.linalg.svdvals(w.reshape(w.shape[0], -1)).numpy(),
        rtol=1e-10,
    )


def test_circular_padding_makes_fft_exact_and_zero_padding_does_not() -> None:
    view = ConvOperatorView(kernel_size=3, n=6, padding=1, c_in=2, c_out=3, seed=4)
    zeros = view.picture
    assert zeros is not None and zeros.fft_exact is False
    assert zeros.gap is not None and zeros.gap > 1e-2
    assert zeros.top_gap is not None and zeros.top_gap > 0  # circular overstates σ_max here
    assert "fft exact here: no" in view._summary.value

    view.padding_mode = "circular"
    circ = view.picture
    assert circ is not None and circ.fft_exact is True
    assert circ.gap is not None and circ.gap < 1e-10
    exact = torch.linalg.svdvals(_reference(view)).numpy()
    np.testing.assert_allclose(_sent(view._dots_fft, "y"), exact, rtol=1e-9, atol=1e-12)
    assert "fft exact here: yes" in view._summary.value
    # Parseval for circular stride 1: Σσ² = n²‖W‖²_F
    w2 = float(view.weight.double().square().sum())
    assert np.sum(exact**2) == pytest.approx(36 * w2, rel=1e-10)

    view.update(stride=2)  # polyphase: still a circular convolution on the 3x3 coarse grid
    assert view.picture is not None and view.picture.fft_exact is True
    assert view.picture.gap is not None and view.picture.gap < 1e-10
    view.update(stride=1, padding=0)  # circular mode, but nothing is padded: not circular
    assert view.picture is not None and view.picture.fft_exact is False
    assert "2 ≤ 2p ≤ 2" in view.picture.fft_note


def test_the_blocks_are_the_dft_blocks_of_the_circular_operator() -> None:
    """(I ⊗ F) A (I ⊗ F)ᴴ of a circular conv is block-diagonal by frequency (Sedghi et al.)."""
    n, c_in, c_out = 5, 2, 3
    view = ConvOperatorView(
        kernel_size=3, n=n, padding=1, padding_mode="circular", c_in=c_in, c_out=c_out
    )
    p = view.picture
    assert p is not None and p.blocks is not None and p.blocks.shape == (n, n, c_out, c_in)
    f1 = np.fft.fft(np.eye(n), norm="ortho")
    dft = np.kron(f1, f1)  # the unitary 2-D DFT on n x n images, row-major
    ref = _reference(view).numpy()
    big = np.kron(np.eye(c_out), dft) @ ref @ np.kron(np.eye(c_in), dft).conj().T
    blocks = big.reshape(c_out, n * n, c_in, n * n).transpose(1, 3, 0, 2)  # (f, f', o, c)
    diag = blocks[np.arange(n * n), np.arange(n * n)]  # (f, o, c)
    off = np.abs(blocks).sum() - np.abs(diag).sum()
    assert off < 1e-10 * np.abs(diag).sum()  # nothing off the frequency diagonal
    # |M(f)| is convention-free: M(-f) = conj M(f) for real weights
    tiles = _sent(view._heat_b, "color")
    expected = np.abs(diag).reshape(n, n, c_out, c_in).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(tiles, expected.reshape(n * c_out, n * c_in), atol=1e-6)
    # every block's singular values, pooled, are the fft spectrum
    pooled = np.sort(np.linalg.svd(p.blocks, compute_uv=False).ravel())[::-1]
    assert p.fft is not None
    np.testing.assert_allclose(pooled, p.fft, atol=1e-12)
    view.blocks_view = "sigma"
    np.testing.assert_allclose(
        _sent(view._heat_b, "color"),
        np.linalg.svd(diag, compute_uv=False)[:, 0].reshape(n, n),
        atol=1e-6,
    )


def test_changing_a_slider_updates_all_three_views() -> None:
    view = ConvOperatorView(c_in=2, c_out=2, n=6)
    before = {
        "matrix": _sent(view._heat_a, "color").shape,
        "blocks": _sent(view._heat_b, "color").shape,
        "spectrum": _sent(view._line_exact, "y").size,
    }
    summary = view._summary.value
    view._sliders["n"].value = 8  # what a released slider does
    assert view.n == 8
    assert _sent(view._heat_a, "color").shape == (2 * 64, 2 * 64) != before["matrix"]
    assert _sent(view._heat_b, "color").shape == (2 * 8, 2 * 8) != before["blocks"]
    assert _sent(view._line_exact, "y").size == 128 != before["spectrum"]
    assert view._summary.value != summary
    np.testing.assert_allclose(view.matrix, _reference(view).numpy(), atol=1e-6)

    old = _sent(view._heat_a, "color").copy()
    view._mode.value = "circular"
    assert view.padding_mode == "circular"
    assert not np.array_equal(_sent(view._heat_a, "color"), old)  # the corners wrap now
    assert view.picture is not None and view.picture.fft_exact is True

    view._sliders["stride"].value = 2
    assert _sent(view._heat_a, "color").shape == (2 * 16, 2 * 64)
    assert _sent(view._heat_b, "color").shape == (2 * 4, 4 * 2 * 4)  # c_out x s²c_in tiles
    assert _sent(view._line_exact, "y").size == 32

    # a setting seen before comes from the cache, not recomputed
    first = view.picture
    view.stride = 1
    view.stride = 2
    assert view.picture is first


def test_bad_settings_show_a_message_instead_of_crashing() -> None:
    view = ConvOperatorView(kernel_size=3, n=4, padding=0)
    view._sliders["kernel_size"].value = 5  # 5x5 kernel on a 4x4 input, no padding
    assert view.picture is None and view.matrix is None
    assert "(4, 4)" in view.message and "(5, 5)" in view.message
    assert "(4, 4)" in view._message.value
    assert view._figures.layout.visibility == "hidden"
    view._sliders["padding"].value = 1  # padded to 6x6: a convolution again
    assert view.message == "" and view._message.value == ""
    assert view._figures.layout.visibility == "visible"
    np.testing.assert_allclose(view.matrix, _reference(view).numpy(), atol=1e-6)

    view.update(kernel_size=3, n=2, padding=3, padding_mode="circular")
    assert "circular padding (3, 3)" in view.message and view.picture is None

    view.update(n=5, padding=1, stride=2)  # 2 does not divide 5: no fft, the rest is shown
    p = view.picture
    assert p is not None and p.fft is None and p.blocks is None
    assert "stride 2 does not divide n = 5" in p.fft_note
    assert view._blocks_panel.layout.visibility == "hidden"
    assert "does not divide" in view._caption_b.value
    assert view._dots_fft.visible is False
    np.testing.assert_allclose(view.matrix, _reference(view).numpy(), atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"c_in": 5}, r"c_in=5"),
        ({"kernel_size": 0}, r"kernel_size=0"),
        ({"n": 13}, r"n=13"),
        ({"stride": True}, r"stride.*True"),
        ({"padding": 1.5}, r"padding.*1\.5"),
        ({"padding_mode": "reflect"}, r"'reflect'"),
        ({"seed": -1}, r"seed.*-1"),
        ({"blocks_view": "phase"}, r"'phase'"),
        ({"kernel_size": 5, "n": 3, "padding": 0}, r"\(3, 3\).*\(5, 5\)"),
        ({"weight": torch.zeros(2, 2, 3)}, r"\(2, 2, 3\)"),
        ({"weight": torch.zeros(5, 1, 3, 3)}, r"c_out=5"),
        ({"weight": torch.zeros(1, 1, 3, 2)}, r"3x2"),
        ({"weight": torch.full((1, 1, 3, 3), float("nan"))}, r"NaN"),
        ({"weight": torch.zeros(1, 1, 3, 3, dtype=torch.int64)}, r"int64"),
        ({"weight": [[1.0]]}, r"list"),
    ],
)
def test_the_constructor_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(SVDWidgetsError, match=match):
        ConvOperatorView(**kwargs)


def test_out_of_range_assignments_raise_and_roll_back() -> None:
    view = ConvOperatorView()
    with pytest.raises(TraitValueError, match="c_out=9"):
        view.c_out = 9
    assert view.c_out == 1 and view.picture is not None
    with pytest.raises(SVDWidgetsError, match=r"unknown setting\(s\) \['size'\]"):
        view.update(size=3)


def test_a_given_weight_fixes_kernel_and_channels() -> None:
    w = random_weight(2, 3, 3, seed=7).double()
    view = ConvOperatorView(w, n=5, padding=1, padding_mode="circular")
    assert (view.c_out, view.c_in, view.kernel_size) == (2, 3, 3)
    assert view.weight.dtype == torch.float64 and torch.equal(view.weight, w)
    for name in ("kernel_size", "c_in", "c_out"):
        assert view._sliders[name].disabled
    with pytest.raises(TraitValueError, match=r"c_in=2 does not fit .* \(2, 3, 3, 3\)"):
        view.c_in = 2
    assert view.c_in == 3
    np.testing.assert_allclose(view.matrix, _reference(view).numpy(), atol=1e-12)
    view.n = 7  # the other settings still move
    assert view.matrix is not None and view.matrix.shape == (2 * 49, 3 * 49)


def test_the_random_weight_is_seeded() -> None:
    a = ConvOperatorView(c_in=2, c_out=2, seed=3).weight
    b = ConvOperatorView(c_in=2, c_out=2, seed=3).weight
    c = ConvOperatorView(c_in=2, c_out=2, seed=4).weight
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float32 and a.shape == (2, 2, 3, 3)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # a notebook may have changed it
    try:
        assert torch.equal(random_weight(2, 2, 3, seed=3), a)
    finally:
        torch.set_default_dtype(previous)
