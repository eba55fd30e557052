"""``profile(method="slices")`` rows against weightwatcher 0.7.7; Linear layers named ``dense``."""

from __future__ import annotations

import contextlib
import io
import logging
import math

import pandas as pd
import pytest
import torch
from torch import nn

import svdwidgets as sw
from svdwidgets.core.weightwatcher import WW_OPTIONS

ww = pytest.importorskip("weightwatcher")

#: measured: every metric bit-identical (0.0); 1e-10 leaves room for another LAPACK build
RTOL = 1e-10
METRICS = (
    "alpha",
    "alpha_weighted",
    "stable_rank",
    "log_norm",
    "log_spectral_norm",
    "norm",
    "spectral_norm",
    "D",
    "xmin",
    "xmax",
    "sigma",
    "num_evals",
    "num_pl_spikes",
    "lambda_max",
    "log_alpha_norm",
    "matrix_rank",
    "entropy",
    "rank_loss",
    "N",
    "M",
    "Q",
)
MP_METRICS = ("sigma_mp", "mp_softrank", "num_spikes", "bulk_max", "bulk_min", "W_scale")


def _weightwatcher(model: nn.Module, **options: object) -> pd.DataFrame:
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            details = ww.WeightWatcher(model=model).analyze(**options)
    finally:
        logging.disable(logging.NOTSET)
    return details.set_index("longname")


def _assert_same(ours: pd.DataFrame, theirs: pd.DataFrame, columns: tuple[str, ...]) -> None:
    assert set(theirs.index) <= set(ours.index)
    for name, row in theirs.iterrows():
        for col in columns:
            got, want = ours.loc[name, col], row[col]
            assert got == pytest.approx(want, rel=RTOL, abs=0), (name, col, got, want)
        assert ours.loc[name, "warning"] == row["warning"]


def test_bundled_network_slices_rows_equal_weightwatcher() -> None:
    from svdwidgets.zoo import load_default

    model = load_default().model
    prof = sw.profile(model, (1, 28, 28), method="slices", cache=False, progress=False)
    df = prof.to_dataframe()
    theirs = _weightwatcher(model, mp_fit=True)  # WeightWatcher's defaults, conv2d_norm=True
    _assert_same(df, theirs, METRICS + MP_METRICS)
    assert set(theirs.index) == set(prof.layers)
    assert prof.options["weightwatcher"] == WW_OPTIONS
    # the important columns first: WeightWatcher's alpha and stable rank are filled in
    assert list(df.columns[:9]) == [
        "kind",
        "sigma_max",
        "sigma_max_circular",
        "method",
        "exact",
        "why",
        "alpha",
        "stable_rank",
        "effective_rank",
    ]
    assert df["alpha"].notna().all() and df["stable_rank"].notna().all()
    assert df.columns[-1] == "note"
    # in a notebook: WeightWatcher's headline columns, nothing empty, the long note left out
    html = prof._repr_html_()
    header = html[html.index("<thead>") : html.index("</thead>")]
    for col in ("alpha", "alpha_weighted", "log_spectral_norm", "num_spikes", "sigma_mp", "D"):
        assert f"<th>{col}</th>" in header, col
    for col in ("note", "effective_rank", "mp_spikes", "sigma_max_circular", "skipped"):
        assert f"<th>{col}</th>" not in header, col
    assert header.index("<th>alpha</th>") < header.index("<th>num_spikes</th>")
    assert f"{df.loc['block.conv2', 'alpha']:.4g}" in html


def _small() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.Conv2d(32, 12, 2),  # 4 taps, c_out < c_in: WeightWatcher's N, M bookkeeping
        nn.Conv2d(12, 12, 1),
        nn.Flatten(),
        nn.Linear(12 * 5 * 5, 40),
        nn.Linear(40, 3),  # 3 eigenvalues < min_evals=8: WeightWatcher leaves it out
    )


def test_options_reach_the_rows_conv2d_norm_off() -> None:
    model = _small()
    options = {"conv2d_norm": False, "mp_fit": False}
    prof = sw.profile(
        model, (3, 8, 8), method="slices", cache=False, progress=False, weightwatcher=options
    )
    df = prof.to_dataframe()
    theirs = _weightwatcher(model, **options)
    _assert_same(df, theirs, METRICS)
    assert "7" not in theirs.index and "min_evals=8" in df.loc["7", "ww_skipped"]
    assert math.isnan(df.loc["7", "alpha"])
    assert "sigma_mp" not in df.columns  # mp_fit=False: no MP columns, as in WeightWatcher
    # conv2d_norm (WeightWatcher's default) halves every conv eigenvalue, not the Linear's
    halved = sw.profile(model, (3, 8, 8), method="slices", cache=False, progress=False)
    h = halved.to_dataframe()
    assert h.loc["0", "norm"] == pytest.approx(df.loc["0", "norm"] / 2, rel=1e-12)
    assert h.loc["6", "norm"] == pytest.approx(df.loc["6", "norm"], rel=1e-12)
    with pytest.raises(sw.SVDWidgetsError, match=r"\['randomize'\] are not reproduced"):
        sw.profile(model, (3, 8, 8), method="slices", weightwatcher={"randomize": True})
    with pytest.raises(sw.SVDWidgetsError, match="only method='slices' computes"):
        sw.profile(model, (3, 8, 8), method="fft", weightwatcher={"mp_fit": False})


def test_linear_layers_are_reported_as_dense() -> None:
    model = _small()
    prof = sw.profile(model, (3, 8, 8), cache=False, progress=False)
    df = prof.to_dataframe()
    assert df.loc["6", "method"] == "dense" and df.loc["7", "method"] == "dense"
    assert bool(df.loc["6", "exact"]) and math.isnan(df.loc["6", "sigma_max_circular"])
    assert "dense SVD of its weight" in df.loc["6", "why"]
    assert df.loc["0", "method"] != "dense"
    lin = model[6]
    for method in ("auto", "fft", "exact"):
        spec = sw.conv_svd(lin, method=method, dtype=torch.float64)
        assert spec.method == "dense" and spec.exact
        want = torch.linalg.svdvals(lin.weight.detach().double())
        torch.testing.assert_close(spec.values, want, rtol=1e-12, atol=0)
    assert prof["6"].method == "dense"
    iv = prof.entry("6").sigma_max
    assert iv is not None and iv.method == "spectrum-dense"
    assert (
        iv.lower <= float(torch.linalg.matrix_norm(lin.weight.detach(), 2)) <= iv.upper * (1 + 1e-6)
    )
