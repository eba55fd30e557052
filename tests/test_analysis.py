"""``svdwidgets.Analysis``: lazy, once per content; one table, one hypergraph, one folding default.

The main job, ``svdwidgets report`` and the Explorer all compose from an Analysis: the tests here
check that what they show is the same (rows, node vectors, folding), by building each through
its own entry point.
"""

from __future__ import annotations

import inspect
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import svdwidgets as sw
from svdwidgets.analysis import (
    FOLD_BN_DEFAULT,
    Analysis,
    JobCancelled,
    JobContext,
    JobRunner,
    format_text,
    layer_table,
)
from svdwidgets.errors import SVDWidgetsError


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVDWIDGETS_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _small() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, padding_mode="circular"),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular"),
        nn.ReLU(),
        nn.Conv2d(4, 3, 1),
    ).eval()


# ------------------------------------------------------------------------------- laziness


def test_constructing_computes_nothing_until_asked() -> None:
    calls: list[tuple[str, int, int]] = []
    model = _small()
    a = Analysis(model, input_shape=(2, 6, 6), cache=False, progress=lambda *c: calls.append(c))
    assert a.counts == {} and calls == []  # nothing ran, not even the forward pass
    df = a.table()
    assert a.counts == {"profile": 1, "table": 1}
    # the profile reported each of its three layers before its spectrum (one after another),
    # then before its exact σ_max (two layers may run side by side: done counts finished ones)
    steps = [c[1] for c in calls if c[0] == "profile" and c[2] == 6]
    assert len(steps) == 6 and steps[:3] == [0, 1, 2] and steps == sorted(steps)
    assert all(3 <= d <= i for i, d in enumerate(steps[3:], start=3))
    assert a.table() is df and a.profile() is a.profile()  # asked again: nothing recomputed
    assert a.counts == {"profile": 1, "table": 1}
    # circular padding, stride 1: the fft spectrum is exact, Σσ² = H·W·‖W‖² (DESIGN.md)
    w = model[3].weight.detach().double()
    values = a.profile()["3"].values.double()
    assert float(values.square().sum()) == pytest.approx(36 * float(w.square().sum()), rel=1e-5)


def test_results_are_keyed_by_content_a_weight_change_recomputes() -> None:
    model = _small()
    a = Analysis(model, input_shape=(2, 6, 6), cache=False)
    before = a.table().set_index("layer")["sigma_max"]
    key = a.content_key()
    assert a.content_key() == key  # no change: the same digest
    with torch.no_grad():
        model[5].weight.mul_(2.0)  # in place: the version counter moves
    assert a.content_key() != key
    after = a.table().set_index("layer")["sigma_max"]
    assert a.counts["profile"] == 2
    assert after["5"] == pytest.approx(2.0 * before["5"], rel=1e-5)  # σ scales with W
    assert after["0"] == pytest.approx(before["0"], rel=1e-9)
    with torch.no_grad():
        model[5].weight.div_(2.0)  # back to the same content (exact in binary)
    assert a.content_key() == key


def test_bad_input_names_the_value() -> None:
    with pytest.raises(SVDWidgetsError, match=r"torch\.nn\.Module, got str"):
        Analysis("model")  # type: ignore[arg-type]
    with pytest.raises(SVDWidgetsError, match="pass input_shape"):
        Analysis(_small())
    with pytest.raises(SVDWidgetsError, match=r"data has inputs of shape \(2, 6, 6\)"):
        Analysis(_small(), torch.zeros(3, 2, 6, 6), input_shape=(2, 5, 5))
    a = Analysis(_small(), input_shape=(2, 6, 6), cache=False)
    with pytest.raises(SVDWidgetsError, match="needs labelled data"):
        a.hypergraph()
    with pytest.raises(SVDWidgetsError, match="unknown method 'svd'"):
        a.comparison("0", "svd")
    with pytest.raises(SVDWidgetsError, match="k must be a positive int, got 0"):
        a.directions("0", 0)
    with pytest.raises(SVDWidgetsError, match="unknown layer 'nope'"):
        a.directions("nope")


def test_directions_are_operator_singular_vectors() -> None:
    model = _small()
    a = Analysis(model, input_shape=(2, 6, 6), cache=False)
    d = a.directions("3", 4)
    conv = model[3]
    assert d.v.shape == (4, 4, 6, 6) and d.u.shape == (4, 4, 6, 6)
    for i in range(4):  # A v = σ u, with A the layer as PyTorch runs it (bias excluded)
        v = torch.from_numpy(d.v[i]).float()[None]
        out = nn.functional.conv2d(nn.functional.pad(v, (1, 1, 1, 1), mode="circular"), conv.weight)
        np.testing.assert_allclose(out[0].detach().numpy(), d.sigma[i] * d.u[i], atol=1e-4)


def test_comparison_curves_are_the_methods_spectra() -> None:
    model = _small()
    a = Analysis(model, input_shape=(2, 6, 6), cache=False)
    curves = a.compare_methods("3", k=5)
    assert set(curves) == {"fft", "exact", "unfolded"}
    # circular padding: fft is exact and equals the exact top-k (Sedghi et al. 2019)
    np.testing.assert_allclose(curves["exact"].values, curves["fft"].values[:5], rtol=1e-4)
    w = model[3].weight.detach().double().reshape(4, -1)
    np.testing.assert_allclose(
        curves["unfolded"].values, torch.linalg.svdvals(w).numpy(), rtol=1e-5
    )
    assert a.comparison("3", "exact", 5) is curves["exact"]  # cached


# ------------------------------------------------------------------------------- jobs


def test_job_runner_reports_progress_and_returns_the_result() -> None:
    runner = JobRunner()
    seen: list[tuple[int, int, str]] = []

    def work(ctx: JobContext) -> int:
        for i in range(4):
            ctx.progress(i, 4, f"step {i}")
        return 42

    job = runner.submit(
        work, name="count", on_progress=lambda j: seen.append((j.done, j.total, j.what))
    )
    assert job.result(10) == 42 and job.state == "done"
    assert seen == [(i, 4, f"step {i}") for i in range(4)]
    failing = runner.submit(lambda ctx: 1 / 0, name="fails")
    assert failing.wait(10) and failing.state == "failed"
    with pytest.raises(ZeroDivisionError):
        failing.result()
    runner.close()


def test_cancel_stops_a_running_job_and_a_queued_one_never_runs() -> None:
    runner = JobRunner()
    started = threading.Event()
    steps: list[int] = []

    def slow(ctx: JobContext) -> None:
        started.set()
        for i in range(1000):
            ctx.progress(i, 1000)
            steps.append(i)
            time.sleep(0.005)

    ran: list[str] = []
    running = runner.submit(slow, name="slow")
    queued = runner.submit(lambda ctx: ran.append("queued"), name="queued")
    assert started.wait(10)
    queued.cancel()
    running.cancel()
    assert running.wait(10) and running.state == "cancelled"
    assert queued.wait(10) and queued.state == "cancelled" and ran == []
    assert len(steps) < 1000  # it stopped at a progress report
    with pytest.raises(JobCancelled):
        running.result()
    runner.close()


def test_close_cancels_all_and_starts_none() -> None:
    runner = JobRunner()
    started = threading.Event()

    def forever(ctx: JobContext) -> None:
        started.set()
        while True:
            ctx.progress(0, 1)
            time.sleep(0.005)

    job = runner.submit(forever, name="forever")
    later = runner.submit(lambda ctx: None, name="later")
    assert started.wait(10)
    thread = runner.thread
    assert thread is not None and thread.is_alive()
    runner.close()
    assert job.state == "cancelled" and later.state == "cancelled"
    assert not thread.is_alive() and runner.thread is None
    with pytest.raises(SVDWidgetsError, match="closed"):
        runner.submit(lambda ctx: None)
    assert runner.thread is None  # the refused submit started no thread


def test_an_analysis_job_cancels_between_layers_and_close_starts_none() -> None:
    model = nn.Sequential(*[nn.Conv2d(3, 3, 3, padding=1) for _ in range(6)]).eval()
    reached = threading.Event()
    release = threading.Event()

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "profile" and total == 12 and done == 1:  # 6 spectra, 6 σ_max
            reached.set()
            release.wait(10)  # hold the job at layer 1 until cancelled

    a = Analysis(model, input_shape=(3, 8, 8), cache=False, progress=progress)
    seen: list[str] = []
    job = a.start("profile", on_progress=lambda j: seen.append(f"{j.what} {j.done}/{j.total}"))
    assert reached.wait(30)
    job.cancel()
    release.set()
    assert job.wait(30) and job.state == "cancelled"
    assert "profile" not in a.counts  # a cancelled product is not kept
    assert "profile 0/12" in seen and "profile 1/12" in seen and "profile 11/12" not in seen
    done = a.start("table")
    assert list(done.result(60)["layer"]) == [str(i) for i in range(6)]
    runner_thread = a.runner.thread
    a.close()
    assert runner_thread is None or not runner_thread.is_alive()
    with pytest.raises(SVDWidgetsError, match="closed"):
        a.start("table")
    assert not [t for t in threading.enumerate() if t.name == "svdwidgets-analysis"]


# ------------------------------------------------------------------------------- one answer


def test_one_folding_default_everywhere() -> None:
    from svdwidgets.__main__ import build_parser
    from svdwidgets.cli.args import _parser

    assert FOLD_BN_DEFAULT is False
    defaults = {
        "profile": inspect.signature(sw.profile).parameters["fold_bn"].default,
        "Analysis": inspect.signature(Analysis).parameters["fold_bn"].default,
        "Explorer": inspect.signature(sw.Explorer).parameters["fold_bn"].default,
        "report": _parser().parse_args(["report", "default", "--out", "x"]).fold_bn,
        "main job": build_parser().parse_args([]).fold_bn,
        "sweep": _parser().parse_args(["sweep", "a.pt", "--arch", "default", "--out", "x"]).fold_bn,
    }
    assert defaults == dict.fromkeys(defaults, FOLD_BN_DEFAULT)
    assert _parser().parse_args(["report", "m", "--out", "x", "--fold-bn"]).fold_bn is True
    assert build_parser().parse_args(["--fold-bn"]).fold_bn is True


@pytest.fixture(scope="module")
def bundle() -> Any:
    pytest.importorskip("mlxtend")
    from svdwidgets.zoo import load_default

    return load_default()


def test_main_job_report_and_explorer_show_one_table(
    bundle: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from svdwidgets import cli
    from svdwidgets.__main__ import main

    assert main(["--no-explorer"]) == 0
    printed = capsys.readouterr().out
    assert cli.main(["report", "default", "--out", str(tmp_path / "r"), "--no-explorer"]) == 0
    capsys.readouterr()
    csv = pd.read_csv(tmp_path / "r" / "layers.csv")
    ex = sw.Explorer(
        bundle.model, bundle.images[::3], bundle.labels[::3], bundle.class_names, autostart=False
    )
    try:
        table = ex.table
        assert ex.analysis.table() is table  # the Explorer's table is its analysis's
        # the main job printed exactly the Explorer's rows (the same columns, the same values)
        assert format_text(table) in printed and "BatchNorm: not folded" in printed
        assert "BatchNorm: not folded" in ex._summary.value
        ex.show_layer("block.conv2")  # its summary line gives the table's σ_max (exact)
        row = table.set_index("layer").loc["block.conv2"]
        assert f"σ_max = {row['sigma_max']:.4g}" in ex._summary.value
        assert row["sigma_max"] < row["sigma_max_circular"]  # not the circular value
        # the report's file holds the same rows
        assert list(csv["layer"]) == list(table["layer"]) == ex.layers
        for column in ("sigma_max", "sigma_max_circular", "stable_rank", "alpha", "n_values"):
            np.testing.assert_allclose(csv[column], table[column].astype(float), rtol=1e-12)
        assert list(csv["method"]) == list(table["method"])
        assert not csv["bn_folded"].any() and not table["bn_folded"].any()
        # and it is not folded: folding changes block.conv2's sigma_max (the test would see it)
        folded = layer_table(sw.profile(bundle.model, (1, 28, 28), fold_bn=True, progress=False))
        row = table["layer"] == "block.conv2"
        assert (
            abs(folded.loc[row, "sigma_max"].item() / table.loc[row, "sigma_max"].item() - 1) > 0.1
        )
    finally:
        ex.close()


def test_a_hypergraph_node_is_the_same_vector_in_report_and_explorer(bundle: Any) -> None:
    pytest.importorskip("ipywidgets")
    from svdwidgets.cli import load_model
    from svdwidgets.cli.report import _html_figure, analysis_of

    source = load_model("default")
    report = analysis_of(source, None)
    figure, shown = _html_figure(report, source, report.table())
    assert "the class hypergraph" in shown
    (view,) = [w for w in figure.children if type(w).__name__ == "HypergraphView"]
    ex = sw.Explorer(
        bundle.model, bundle.images, bundle.labels, bundle.class_names, autostart=False
    )
    try:
        hv = ex.hypergraph_view
        assert list(view.layer_names) == list(hv.layer_names)
        np.testing.assert_array_equal(view.node_layers, hv.node_layers)
        np.testing.assert_array_equal(view.node_indices, hv.node_indices)
        np.testing.assert_allclose(view.node_sigmas, hv.node_sigmas, rtol=1e-12)
        j = int(np.flatnonzero(hv.node_layers == hv.layer_names.index("block.conv2"))[0])
        i = int(hv.node_indices[j])
        mine = report.projections()["block.conv2"].vectors[i]
        theirs = ex.analysis.projections()["block.conv2"].vectors[i]
        # an operator direction: output-shaped (c_out, H', W'), not a c_out-vector of the weight
        assert tuple(mine.shape) == (32, 14, 14)
        torch.testing.assert_close(mine, theirs)
        _, u = ex.profile["block.conv2"].vector(i)  # the spectrum's own i-th left vector
        torch.testing.assert_close(mine.double(), u.double(), rtol=1e-5, atol=1e-6)
        # the report's own Explorer (explorer.html) reuses its analysis: computed once
        shared = sw.Explorer(report.model, analysis=report, autostart=False)
        assert shared.hypergraph is report.hypergraph()
        assert report.counts["hypergraph"] == 1 and report.counts["profile"] == 1
        shared.close()
    finally:
        ex.close()
        report.close()


def test_the_analysis_imports_no_widgets() -> None:
    import subprocess
    import sys

    code = (
        "import sys, svdwidgets.analysis; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'bqplot')))"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"


def test_explorer_close_cancels_its_analysis_jobs_and_starts_none(bundle: Any) -> None:
    ex = sw.Explorer(bundle.model, input_shape=(1, 28, 28), autostart=False)
    job = ex.analysis.start("compare_methods", "block.conv2", ["fft", "unfolded"])
    ex.close()
    assert job.wait(60) and job.state in ("done", "cancelled")
    assert not [t for t in threading.enumerate() if t.name == "svdwidgets-analysis"]
    with pytest.raises(SVDWidgetsError, match="closed"):
        ex.analysis.start("table")
    # an analysis handed in stays the caller's: open after the Explorer closes
    a = Analysis(bundle.model, input_shape=(1, 28, 28))
    ex = sw.Explorer(bundle.model, analysis=a, autostart=False)
    assert ex.profile is a.profile() and ex.table is a.table()
    ex.close()
    assert a.start("table").result(60) is a.table()
    a.close()
    with pytest.raises(SVDWidgetsError, match="pass data to the Analysis"):
        sw.Explorer(bundle.model, bundle.images[:4], analysis=a)
