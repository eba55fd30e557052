"""benchmarks/gpu_suite.sh is what a lent GPU runs, once, with minutes to spare: its CPU dry run
(Triton's interpreter for the Jacobi kernel) must pass here, so a device run cannot fail on a
typo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_shell_script_parses() -> None:
    subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_suite.sh")], check=True)


def test_the_dry_run_measures_every_solver_and_checks_them(tmp_path: Path) -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--dry-run"]
    cmd += ["--out", str(tmp_path), "--sections", "solvers,engine"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "suite.json").read_text())
    rows = report["solvers"]["rows"]
    assert {r["kind"] for r in rows} == {"random", "graded"}
    for row in rows:
        for name in ("gesvda", "jacobi-f64", "jacobi-f32", "default"):
            assert row[name]["meets"], (row["kind"], row["m"], row["n"], name, row[name])
    assert report["solvers"]["table"], "a proposed table row per measured shape"
    engine = report["engine"]["resnet18"]["paths"]["jacobi-f64"]
    assert engine["complete"] and engine["frobenius_dev"] < 1e-6
    text = (tmp_path / "suite.md").read_text()
    assert "## Solvers" in text and "## Engine" in text
