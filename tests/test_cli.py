"""The ``svdwidgets`` command: ``report`` on real models and checkpoints, bad input, ``lab``.

Reports run in-process through :func:`svdwidgets.cli.main` (one import of torch for all of
them); the console script itself, an interrupt in the middle of writing, and a real JupyterLab
start run as subprocesses.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from exported_page import widget_models, widget_state, widget_states
from torch import nn

import svdwidgets as sw
from svdwidgets import cli

pytest.importorskip("mlxtend")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # a spectrum cache of their own, outside the folders the tests list
    monkeypatch.setenv("SVDWIDGETS_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["layer"]: row for row in csv.DictReader(f)}


def _report(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli.main(["report", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_report_on_the_default_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports" / "default"  # the parent is created too
    status, stdout, stderr = _report(["default", "--out", str(out)], capsys)
    assert status == 0, stderr
    assert stderr == ""
    summary = json.loads((out / "report.json").read_text())
    layers = ["stem.conv", "down.conv", "block.conv1", "block.conv2", "fc"]
    assert summary["layers"] == layers and summary["input_shape"] == [1, 28, 28]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        {f.split("/")[0] for f in summary["files"]}
    )
    # the table: one row per layer, the numbers of svdwidgets.profile
    rows = _rows(out / "layers.csv")
    assert list(rows) == layers
    from svdwidgets.zoo import load_default

    prof = sw.profile(load_default().model, (1, 28, 28), cache=False, progress=False)
    for name in layers:
        # the table's σ_max is the operator's exact one (profile's interval), not the spectrum's
        interval = prof.entry(name).sigma_max
        assert interval is not None
        assert float(rows[name]["sigma_max"]) == pytest.approx(interval.value, rel=1e-6)
        assert interval.lower * (1 - 1e-9) <= float(rows[name]["sigma_max"]) <= interval.upper
        assert rows[name]["method"] == prof[name].method
    assert rows["stem.conv"]["weight_shape"] == "16x1x3x3"
    # Parquet exactly when pyarrow imports, and the output says which
    has_arrow = _importable("pyarrow")
    assert (out / "layers.parquet").exists() == has_arrow
    assert ("layers.parquet" in stdout) and (("pyarrow is not importable" in stdout) != has_arrow)
    # figures: an overview and one PNG per layer
    pngs = [out / "overview.png", *(out / "layers" / f"{n}.png" for n in layers)]
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in pngs)
    # the offline HTML figure: the frequency maps of the fft conv layers and the hypergraph
    models = widget_models(out / "report.html")
    fft_convs = [
        n for n in layers if prof[n].method == "fft" and prof.entry(n).geometry.kind != "linear"
    ]
    assert len(fft_convs) == 4  # auto by cost: every conv of the bundled model is fft (was 3)
    assert models.count("FrequencyMapModel") == len(fft_convs)
    assert models.count("HypergraphModel") == 1
    assert "the class hypergraph" in summary["notes"]["report.html"]
    # the Explorer page: linked views of the last conv layer, every gallery card rendered
    models = widget_models(out / "explorer.html")
    assert {"SelectionModel", "SpectrumLinkModel", "VectorGalleryModel"} <= set(models)
    assert "block.conv2" in summary["notes"]["explorer.html"]
    gallery = widget_state(out / "explorer.html", "VectorGalleryModel")
    assert gallery["layer"] == "block.conv2" and len(gallery["items"]) == 8
    assert all(card["state"] == "done" for card in gallery["items"])
    # one hypergraph in the folder: report.html's nodes are explorer.html's (operator
    # directions of one Analysis: the same layers, indices, σ and class weights)
    graphs = [_hypergraph_arrays(out / page) for page in ("report.html", "explorer.html")]
    assert graphs[0] == graphs[1] and graphs[0]["node_indices"]
    # small layers: the overview has the exact σ_max of the 3 fft-approximated ones
    assert summary["notes"]["overview.png"].startswith("exact σ_max (Lanczos) of the 4 ")
    # nothing left beside it
    assert sorted(p.name for p in out.parent.iterdir()) == ["default"]


def _hypergraph_arrays(page: Path) -> dict[str, Any]:
    """The hypergraph widget's node and class arrays as the page stores them."""
    import base64

    (model,) = [m for m in widget_states(page) if m["model_name"] == "HypergraphModel"]
    out: dict[str, Any] = {"layer_names": model["state"]["layer_names"]}
    for buffer in model.get("buffers", []):
        name = buffer["path"][0]
        spec = model["state"][name]
        raw = base64.b64decode(buffer["data"])
        out[name] = np.frombuffer(raw, dtype=spec["dtype"]).reshape(spec["shape"]).tolist()
    return out


def _importable(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def test_checkpoints_state_dict_and_torchscript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from svdwidgets.zoo import load_default

    model = load_default().model
    torch.save({"epoch": 3, "state_dict": model.state_dict()}, tmp_path / "train.ckpt")
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 1, 28, 28)), tmp_path / "traced.pt")
    prof = sw.profile(model, (1, 28, 28), cache=False, progress=False)
    for name in ("train.ckpt", "traced.pt"):
        out = tmp_path / f"report-{name}"
        status, _, stderr = _report(
            [str(tmp_path / name), "--arch", "default", "--out", str(out)], capsys
        )
        assert status == 0, stderr
        rows = _rows(out / "layers.csv")
        assert {n: float(r["sigma_max"]) for n, r in rows.items()} == pytest.approx(
            {n: prof.entry(n).sigma_max.value for n in prof.layers},  # type: ignore[union-attr]
            rel=1e-6,
        )
        assert name in json.loads((out / "report.json").read_text())["model"]


def _user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of the user's next to them (the current folder), with a tiny CNN."""
    name = f"user_net_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "from torch import nn\n\n\n"
        "class Net(nn.Sequential):\n"
        "    def __init__(self):\n"
        "        super().__init__(nn.Conv2d(1, 4, 3, padding=1, padding_mode='circular'),\n"
        "                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),\n"
        "                         nn.Linear(4, 3))\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def test_user_architecture_with_data_and_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = _user_module(tmp_path, monkeypatch)
    torch.manual_seed(0)
    net = importlib.import_module(module).Net()
    torch.save(net.state_dict(), "net.pt")
    images, labels = torch.rand(30, 1, 8, 8), torch.arange(30) % 3
    torch.save({"images": images, "labels": labels, "class_names": ["a", "b", "c"]}, "data.pt")
    args = ["net.pt", "--arch", f"{module}:Net", "--data", "data.pt", "--out", "rep"]
    args.append("--no-explorer")
    status, _, stderr = _report(args, capsys)  # the input shape comes from the data
    assert status == 0, stderr
    summary = json.loads(Path("rep/report.json").read_text())
    assert summary["input_shape"] == [1, 8, 8] and summary["layers"] == ["0", "4"]
    assert not Path("rep/explorer.html").exists()
    assert summary["notes"]["explorer.html"] == "skipped (--no-explorer)"
    models = widget_models(Path("rep/report.html"))
    assert models.count("HypergraphModel") == 1 and models.count("FrequencyMapModel") == 1
    # the conv is circular: fft is exact, σ_max is that of the dense operator
    conv = net[0]
    dense = sw.conv_svd(conv, (8, 8), method="exact").sigma_max
    assert float(_rows(Path("rep/layers.csv"))["0"]["sigma_max"]) == pytest.approx(dense, rel=1e-5)
    # a second report refuses the folder unless told to replace it, and then replaces it whole
    Path("rep/mine.txt").write_text("kept")
    status, _, stderr = _report(args, capsys)
    assert status == 2 and "exists and is not empty" in stderr
    assert Path("rep/mine.txt").read_text() == "kept"
    status, _, stderr = _report([*args, "--overwrite", "--method", "exact"], capsys)
    assert status == 0, stderr
    assert not Path("rep/mine.txt").exists()
    assert _rows(Path("rep/layers.csv"))["0"]["method"] == "exact"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (arguments, fragments the one-line message must contain)."""
    (tmp / "notes.pt").write_text("these are not weights\n")
    (tmp / "empty.pt").write_bytes(b"")
    torch.save(nn.Sequential(nn.Conv2d(1, 2, 3)), tmp / "whole.pt")
    torch.save(nn.Conv2d(1, 2, 3).state_dict(), tmp / "conv.pt")
    torch.save([1, 2, 3], tmp / "list.pt")
    p = str(tmp)
    return {
        "missing file": ([f"{p}/nosuch.pt"], ["no such checkpoint file", "nosuch.pt"]),
        "not a checkpoint": ([f"{p}/notes.pt"], ["notes.pt is not a PyTorch checkpoint"]),
        "empty file": ([f"{p}/empty.pt"], ["empty.pt is not a PyTorch checkpoint"]),
        "whole pickled module": (
            [f"{p}/whole.pt"],
            [
                "torch.nn.modules.container.Sequential",
                "weights_only=True) refuses",
                "run code",
                "weights_only=False",
                "--arch",
            ],
        ),
        "not a state_dict": ([f"{p}/list.pt"], ["holds list, not a state_dict"]),
        "state_dict without --arch": ([f"{p}/conv.pt"], ["2 tensors", "pass --arch"]),
        "state_dict of another architecture": (
            [f"{p}/conv.pt", "--arch", "default"],
            ["does not fit --arch 'default'", "missing keys", "unexpected keys ['weight'"],
        ),
        "unknown model name": (["resnet1888"], ["'resnet1888'", "torchvision"]),
        "unknown timm model": (["timm:nosuchnet_xyz"], ["timm"]),
        "unknown user module": ([f"{p}/conv.pt", "--arch", "nosuchmod_xyz:Net"], ["nosuchmod_xyz"]),
        "wrong channels": (
            ["default", "--input-shape", "3,28,28"],
            ["3 channels", "in_channels=1"],
        ),
        "input shape the model does not run on": (
            ["default", "--input-shape", "1,28,28,1"],
            ["forward pass of SmallResNet failed", "(1, 1, 28, 28, 1)"],
        ),
        "unparsable input shape": (["default", "--input-shape", "1,a,28"], ["'1,a,28'"]),
        "bad data file": (["default", "--data", f"{p}/conv.pt"], ["'images'", "conv.pt"]),
        "unknown method": (["default", "--method", "svd"], ["invalid choice: 'svd'"]),
    }


BAD = [
    "missing file",
    "not a checkpoint",
    "empty file",
    "whole pickled module",
    "not a state_dict",
    "state_dict without --arch",
    "state_dict of another architecture",
    "unknown model name",
    "unknown timm model",
    "unknown user module",
    "wrong channels",
    "input shape the model does not run on",
    "unparsable input shape",
    "bad data file",
    "unknown method",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_one_line_exit_2_nothing_written(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    args, fragments = _bad_inputs(inputs)[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    status, stdout, stderr = _report([*args, "--out", str(tmp_path / "out")], capsys)
    assert status == 2
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("svdwidgets")
    for fragment in fragments:
        assert fragment in lines[0]
    # neither the report folder nor a temporary sibling was left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_exact_sigma_max_only_for_small_layers_unless_asked() -> None:
    big = nn.Conv2d(16, 16, 3, padding=1)  # zero padding: fft approximates, 16*64*64 values
    prof = sw.profile(big, (16, 64, 64), cache=False, progress=False)
    assert not prof[""].exact
    exact, note = cli._exact_overview(prof, None)
    assert not exact and "65,536 values" in note and "--exact-sigma-max" in note
    assert cli._exact_overview(prof, True)[0]
    assert cli._exact_overview(prof, False) == (
        False,
        "no exact σ_max of the 1 approximate layers (--no-exact-sigma-max)",
    )


def test_parse_shape() -> None:
    assert cli.parse_shape("3,224,224") == (3, 224, 224)
    assert cli.parse_shape(" 1x28x28 ") == (1, 28, 28)
    for bad in ("", "3,,4", "0,28,28", "-1,2,2", "3.5,2,2"):
        with pytest.raises(sw.SVDWidgetsError, match="--input-shape"):
            cli.parse_shape(bad)


def test_spread_and_file_stems() -> None:
    names = [f"l{i}" for i in range(20)]
    picked = cli.spread(names, 8)
    assert len(picked) == 8 and picked[0] == "l0" and picked[-1] == "l19"
    assert cli.spread(names[:3], 8) == names[:3]
    assert cli.file_stems(["a b", "a_b", "layer4.1.conv2", "x" * 300]) == [
        "a_b",
        "a_b-2",
        "layer4.1.conv2",
        "x" * 120,
    ]


def _script() -> Path:
    """The console script pip installed beside this Python ([project.scripts])."""
    path = Path(sys.executable).with_name("svdwidgets")
    assert path.exists(), f"{path} is missing: pip install -e . installs the svdwidgets command"
    return path


def test_console_script(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(_script()), "report", str(tmp_path / "gone.pth"), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"svdwidgets report: error: no such checkpoint file: {tmp_path / 'gone.pth'}"
    ]
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_interrupt_while_writing_leaves_nothing_half_written(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = subprocess.Popen(
        [sys.executable, "-m", "svdwidgets.cli", "report", "default", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if any(p.name.endswith(".partial") for p in tmp_path.iterdir()):
                proc.send_signal(signal.SIGINT)  # in the middle of writing the files
                break
            time.sleep(0.005)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    if out.exists():  # the interrupt came after the rename: then the report is whole
        assert (out / "report.json").exists() and leftovers == ["report"]
    else:
        assert proc.returncode != 0 and leftovers == [], leftovers


# --------------------------------------------------------------------------- lab


def _shipped() -> Path:
    sources = cli.notebook_sources()
    assert sources is not None
    assert (sources / cli.QUICKSTART).exists() and (sources / "05-your-own-model.ipynb").exists()
    return sources


def test_lab_command_line() -> None:
    nb = Path("/work/nbs/01-quickstart.ipynb")
    assert cli.lab_command(nb, port=9999, browser=False, extra=["--ServerApp.token=t"]) == [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ServerApp.root_dir=/work/nbs",
        "--ServerApp.port=9999",
        "--ServerApp.open_browser=False",
        "--ServerApp.token=t",
        str(nb),
    ]
    assert cli.lab_command(nb) == [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ServerApp.root_dir=/work/nbs",
        str(nb),
    ]


def test_lab_copies_notebooks_and_keeps_edited_copies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = _shipped()
    work = tmp_path / "nbs"
    args = ["lab", "--dir", str(work), "--notebook", "05-your-own-model.ipynb"]
    assert cli.main([*args, "--port", "8899", "--print-command"]) == 0
    out = capsys.readouterr().out
    shipped = sorted(p.name for p in sources.glob("*.ipynb"))
    assert sorted(p.name for p in work.iterdir()) == shipped
    assert f"--ServerApp.root_dir={work}" in out and "--ServerApp.port=8899" in out
    assert out.strip().endswith(str(work / "05-your-own-model.ipynb"))
    edited = work / "05-your-own-model.ipynb"
    edited.write_text("{}")  # the user's own edits are never overwritten
    assert cli.main([*args, "--print-command"]) == 0
    assert edited.read_text() == "{}"
    assert "copied" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--notebook", "nope.ipynb"], "no notebook 'nope.ipynb'"), (["--port", "0"], "--port")],
)
def test_lab_bad_input(
    args: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["lab", "--dir", str(tmp_path / "nbs"), "--print-command", *args])
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1 and fragment in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_lab_starts_jupyterlab_on_the_quickstart(tmp_path: Path) -> None:
    _shipped()
    port, token = _free_port(), uuid.uuid4().hex
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    work = tmp_path / "nbs"
    cmd = [str(_script()), "lab", "--no-browser", "--port", str(port), "--dir", str(work), "--"]
    cmd += [f"--IdentityProvider.token={token}", "--ServerApp.ip=127.0.0.1"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers: JupyterLab refuses root
        cmd.append("--ServerApp.allow_root=True")
    log = (tmp_path / "lab.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        status = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    status = json.load(r)
                break
            except OSError:
                time.sleep(0.5)
        assert status is not None, (tmp_path / "lab.log").read_text()
        # the server's root is the working folder, which holds the quickstart it opens
        url = f"{base}/api/contents/{cli.QUICKSTART}?content=0&token={token}"
        with urllib.request.urlopen(url, timeout=30) as r:
            assert json.load(r)["type"] == "notebook"
    finally:
        proc.terminate()  # JupyterLab itself: the command exec'd it
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
