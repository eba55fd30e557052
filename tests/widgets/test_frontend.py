"""The TypeScript side: vitest unit tests and the type check, run from the Python suite."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(shutil.which("jlpm") is None, reason="jlpm (jupyter-builder) missing"),
]


def _jlpm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true", "FORCE_COLOR": "0", "NO_COLOR": "1"}
    return subprocess.run(
        ["jlpm", *args],
        cwd=LABEXTENSION,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """``pip install -e .`` has installed them; a fresh checkout installs from yarn.lock."""
    if not (LABEXTENSION / "node_modules" / ".bin" / "vitest").exists():
        done = _jlpm("install", "--immutable", timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    return LABEXTENSION / "node_modules"


def test_vitest(node_modules: Path) -> None:
    done = _jlpm("test")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert " failed" not in out, out
    assert "Tests " in out and " passed" in out, out


def test_typescript_type_checks(node_modules: Path) -> None:
    done = _jlpm("typecheck")
    assert done.returncode == 0, done.stdout + done.stderr
