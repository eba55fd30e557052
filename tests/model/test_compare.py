"""model/compare: a profiled layer under another method, as the SpectrumView is handed it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import svdwidgets as sw
from svdwidgets.core.conv_svd import spectrum_of
from svdwidgets.errors import SVDWidgetsError
from svdwidgets.model.compare import MethodCurve, method_comparison


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU())
    with torch.no_grad():  # a BatchNorm that is not the identity: folding changes the weight
        model[1].running_var.uniform_(0.5, 2.0)
        model[1].weight.uniform_(0.5, 2.0)
    return model.eval()


def test_the_curves_are_conv_svds_of_the_profiled_layer() -> None:
    model = _model()
    prof = sw.profile(model, (2, 6, 6), cache=False, progress=False)
    compare = prof.method_comparison()
    exact = compare("0", "exact", 4)
    assert isinstance(exact, MethodCurve) and exact.values.dtype == np.float64
    ref = torch.linalg.svdvals(_dense(model[0], 6)).numpy()
    np.testing.assert_allclose(exact.values, ref[:4], rtol=1e-4)
    assert exact.label == "exact top-4 (exact)" and exact.note.startswith("exact: ")
    fft = compare("0", "fft", None)
    assert fft.values.size == 2 * 36  # min(c_out, c_in) values at each of the 6x6 frequencies
    assert fft.label == "fft (approx.)" and fft.exact is False
    unfolded = compare("0", "unfolded", None)
    w = model[0].weight.detach().double()
    np.testing.assert_allclose(
        unfolded.values, torch.linalg.svdvals(w.reshape(3, -1)).numpy(), rtol=1e-5
    )
    assert unfolded.label == "unfolded W 3×18 (not the operator)"


def test_a_folded_profile_compares_its_folded_weight() -> None:
    model = _model()
    prof = sw.profile(model, (2, 6, 6), cache=False, progress=False, fold_bn=True)
    e = prof.entry("0")
    assert e.folded
    got = method_comparison(prof)("0", "unfolded", None)
    ref = spectrum_of(e.weight, e.geometry, method="unfolded").values.double().numpy()
    np.testing.assert_allclose(got.values, ref, rtol=1e-6)
    plain = method_comparison(sw.profile(model, (2, 6, 6), cache=False, progress=False))
    assert not np.allclose(plain("0", "unfolded", None).values, got.values)


def test_bad_input_names_the_value() -> None:
    prof = sw.profile(_model(), (2, 6, 6), cache=False, progress=False)
    with pytest.raises(SVDWidgetsError, match="unknown method 'svd'"):
        prof.method_comparison()("0", "svd", None)
    with pytest.raises(SVDWidgetsError, match=r"expected a Profile.*got dict"):
        method_comparison({})


def _dense(conv: nn.Conv2d, n: int) -> torch.Tensor:
    from conv_reference import dense_conv_matrix

    return dense_conv_matrix(
        conv.weight.detach().double(), (n, n), stride=1, padding=1, padding_mode="zeros"
    )
