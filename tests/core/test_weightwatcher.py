"""WeightWatcher's per-layer metrics against the installed weightwatcher 0.7.7 itself."""

from __future__ import annotations

import contextlib
import io
import logging
import math

import numpy as np
import pytest
import torch
from torch import nn

from svdwidgets.core.weightwatcher import WWSkipped, check_options, weightwatcher_metrics
from svdwidgets.errors import SVDWidgetsError

ww = pytest.importorskip("weightwatcher")

#: every metric equal to this relative tolerance (measured: bit-identical, 0.0)
RTOL = 1e-10


def _mixed_model() -> nn.Module:
    """Linear + several convs covering WeightWatcher's special cases, random and heavy-tailed."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3),  # wide taps (16 x 3)
        nn.Conv2d(16, 32, 3, padding=1),
        nn.Conv2d(40, 24, 2),  # c_out < c_in with 4 taps: WeightWatcher's N, M stay swapped
        nn.Conv2d(24, 40, 1),  # 1x1
        nn.Conv2d(1, 2, 5),  # c_out + c_in < kh + kw: read as channels-first
        nn.Conv2d(12, 40, 3, groups=4),
        nn.Conv2d(64, 64, 3),  # square taps: the quarter-circle MP fit
        nn.Linear(40, 10),
        nn.Linear(30, 12),  # 12 eigenvalues: the small-sample power-law fit
        nn.Linear(200, 100),
        nn.Linear(40, 3),  # 3 eigenvalues < min_evals: WeightWatcher skips it
    )
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # trained-looking weights: Student-t entries and a rank-1 spike
        for layer in (model[1], model[6], model[9]):
            w = layer.weight
            t = torch.distributions.StudentT(3.0).sample(w.shape) * 0.02
            spike = torch.randn(w.shape[0], 1, generator=gen) @ torch.randn(
                1, w[0].numel(), generator=gen
            )
            w.copy_(t + 0.05 * spike.reshape(w.shape))
    return model


def _analyze(model: nn.Module, **options: object) -> object:
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return ww.WeightWatcher(model=model).analyze(**options)
    finally:
        logging.disable(logging.NOTSET)


def _assert_rows_equal(model: nn.Module, options: dict[str, object]) -> set[str]:
    details = _analyze(model, **options)
    modules = dict(model.named_modules())
    seen = set()
    for _, expected in details.iterrows():  # type: ignore[attr-defined]
        name = expected["longname"]
        seen.add(name)
        module = modules[name]
        kind = "dense" if isinstance(module, nn.Linear) else "conv2d"
        ours = weightwatcher_metrics(module.weight, kind, options)  # type: ignore[arg-type]
        assert isinstance(ours, dict), (name, ours)
        for key, value in ours.items():
            want = expected[key]
            if isinstance(value, str):
                assert value == want, (name, key)
            else:
                assert value == pytest.approx(want, rel=RTOL, abs=0), (name, key, value, want)
        extra = {"num_spikes", "sigma_mp", "mp_softrank", "W_scale", "bulk_max", "bulk_min"}
        assert set(ours) >= set(details.columns) - {  # type: ignore[attr-defined]
            "layer_id",
            "name",
            "longname",
            "layer_type",
            "has_esd",
        } - (set() if options.get("mp_fit") else extra)
    return seen


def test_every_metric_equals_weightwatcher_on_mixed_layers() -> None:
    model = _mixed_model()
    seen = _assert_rows_equal(model, {"mp_fit": True})
    skipped = weightwatcher_metrics(model[10].weight, "dense")
    assert isinstance(skipped, WWSkipped) and "min_evals=8" in skipped.reason
    assert "10" not in seen and len(seen) == 10


def test_conv2d_norm_off_equals_weightwatcher_and_halves_conv_eigenvalues() -> None:
    model = _mixed_model()
    _assert_rows_equal(model, {"conv2d_norm": False, "mp_fit": False})
    halved = weightwatcher_metrics(model[1].weight, "conv2d", {"mp_fit": False})
    full = weightwatcher_metrics(model[1].weight, "conv2d", {"conv2d_norm": False})
    assert isinstance(halved, dict) and isinstance(full, dict)
    assert halved["norm"] == pytest.approx(full["norm"] / 2, rel=1e-12)
    assert halved["lambda_max"] == pytest.approx(full["lambda_max"] / 2, rel=1e-12)
    assert halved["alpha"] == pytest.approx(full["alpha"], rel=1e-12)  # scale-free
    dense = weightwatcher_metrics(model[9].weight, "dense", {"mp_fit": False})
    assert isinstance(dense, dict)
    top = float(torch.linalg.matrix_norm(model[9].weight.detach().double(), ord=2)) ** 2
    assert dense["lambda_max"] == pytest.approx(top, rel=1e-6)  # Linear: not halved


def test_known_answers_without_weightwatcher() -> None:
    # diag(1..20) as a Linear weight: eigenvalues k², N = M = 20
    w = torch.diag(torch.arange(1.0, 21.0))
    row = weightwatcher_metrics(w, "dense", {"mp_fit": False})
    assert isinstance(row, dict)
    lam = np.arange(1.0, 21.0) ** 2
    assert row["norm"] == pytest.approx(lam.sum())
    assert row["spectral_norm"] == row["lambda_max"] == pytest.approx(400.0)
    assert row["stable_rank"] == pytest.approx(lam.sum() / 400.0)
    assert row["num_evals"] == 20 and row["matrix_rank"] == 20
    tail = lam[lam >= row["xmin"]]
    alpha = 1 + tail.size / np.sum(np.log(tail / row["xmin"]))
    assert row["alpha"] == pytest.approx(alpha, rel=1e-12)
    assert row["alpha_weighted"] == pytest.approx(alpha * math.log10(400.0), rel=1e-12)
    assert row["num_pl_spikes"] == tail.size


def test_bad_weights_and_kinds_raise() -> None:
    w = torch.ones(4, 4, 3, 3)
    w[0, 0, 0, 0] = math.nan
    with pytest.raises(SVDWidgetsError, match=r"\(4, 4, 3, 3\) has 1 NaN/inf"):
        weightwatcher_metrics(w, "conv2d")
    with pytest.raises(SVDWidgetsError, match="got 'conv1d'"):
        weightwatcher_metrics(torch.ones(4, 4, 3, 3), "conv1d")  # type: ignore[arg-type]
    with pytest.raises(SVDWidgetsError, match=r"2-D, got shape \(4, 4, 3, 3\)"):
        weightwatcher_metrics(torch.ones(4, 4, 3, 3), "dense")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"fix_fingers": "clip_xmax"}, r"\['fix_fingers'\] are not reproduced"),
        ({"conv2d_norm": 1}, "conv2d_norm must be a bool, got 1"),
        ({"min_evals": -2}, "min_evals must be an int >= 0, got -2"),
        ("x", "must be a dict, got 'x'"),
    ],
)
def test_bad_options_raise(options: object, match: str) -> None:
    with pytest.raises(SVDWidgetsError, match=match):
        check_options(options)  # type: ignore[arg-type]
