"""The command line fails early, in one line, and leaves nothing behind (issue #14, item 9).

Each test runs ``python -m svdwidgets.cli`` as a subprocess on the bundled model.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from svdwidgets.zoo import load_default

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's svdwidgets, from any cwd
    return subprocess.Popen(
        [sys.executable, "-m", "svdwidgets.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(*args: str, cwd: Path) -> tuple[int, str, str, float]:
    start = time.perf_counter()
    proc = _cli(*args, cwd=cwd)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err, time.perf_counter() - start


def _one_line_error(rc: int, err: str, *needles: str) -> None:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("svdwidgets report: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_out_under_a_file_fails_before_the_work(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("a file")
    rc, out, err, seconds = _run(
        "report", "default", "--out", "f/sub/r", "--no-explorer", cwd=tmp_path
    )
    _one_line_error(rc, err, "f/sub/r", "is a file")
    assert out == ""  # no layer table: nothing was profiled
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    assert seconds < 30


def test_out_where_no_folder_can_be_made_fails_before_the_work(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root ignores permission bits: /proc refuses anyone's folder
        target = "/proc/svdwidgets-report"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        target = str(ro / "r")
    rc, out, err, _ = _run("report", "default", "--out", target, "--no-explorer", cwd=tmp_path)
    _one_line_error(rc, err, target, "not writable")
    assert out == ""


def test_an_arch_module_that_exits_on_import_is_an_error_not_success(tmp_path: Path) -> None:
    (tmp_path / "exiter.py").write_text("import sys\nsys.exit(0)\n")
    torch.save(load_default().model.state_dict(), tmp_path / "m.pt")
    rc, _, err, _ = _run("report", "m.pt", "--arch", "exiter:Net", "--out", "r", cwd=tmp_path)
    _one_line_error(rc, err, "exiter", "sys.exit(0)")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_writing_leaves_no_partial_folder(tmp_path: Path, sig: int) -> None:
    proc = _cli("report", "default", "--out", "report", "--no-explorer", cwd=tmp_path)
    sent = False
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if any(p.name.endswith(".partial") for p in tmp_path.iterdir()):
                proc.send_signal(sig)  # in the middle of writing the files
                sent = True
                break
            time.sleep(0.002)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert sent, "the .partial folder was never seen"
    if proc.returncode == 0:  # the signal came after the rename: then the report is whole
        assert (tmp_path / "report" / "report.json").exists() and leftovers == ["report"]
    else:
        assert proc.returncode == 128 + sig and leftovers == [], (proc.returncode, leftovers)
