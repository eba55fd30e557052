"""The layering of DESIGN.md: import-linter's contracts, and what an import actually loads.

The contracts (pyproject.toml, ``lint-imports``) see every import statement; the checks below
run fresh interpreters: the core and the model walk import without the widget stack (an import
hook refuses it), and ``import svdwidgets`` / ``import svdwidgets.widgets`` load no torch.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import textwrap

BLOCKED = ("ipywidgets", "bqplot", "bqscales", "lucent", "kornia", "matplotlib", "hypernetx")

GUARD = f"""
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError(f'{{name}} is blocked by the layering test')
        return None
sys.meta_path.insert(0, Refuse())
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", GUARD + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_core_and_model_import_without_the_widget_stack() -> None:
    done = _run(
        """
        import torch
        import svdwidgets as sw
        from svdwidgets.model.profile import profile
        spec = sw.conv_svd(torch.randn(4, 3, 3, 3), (6, 6), padding=1, padding_mode="circular")
        assert spec.method == "fft" and spec.exact
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU())
        assert profile(model, (1, 8, 8), cache=False, progress=False).layers == ["0"]
        loaded = sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)
        assert not loaded, loaded
        print("ok")
        """.replace("BLOCKED", repr(BLOCKED))
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_dashboard_says_what_it_needs_when_the_widgets_are_missing() -> None:
    done = _run(
        """
        import svdwidgets as sw
        try:
            sw.Explorer
        except ImportError as err:
            print("ImportError:", err)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "ImportError:" in done.stdout and "blocked by the layering test" in done.stdout


ROOT = pathlib.Path(__file__).resolve().parents[1]


def _lint_imports(root: pathlib.Path) -> subprocess.CompletedProcess[str]:
    lint = shutil.which("lint-imports")
    assert lint is not None, "import-linter is not installed (pip install 'svdwidgets[test]')"
    return subprocess.run(
        [lint, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300
    )


def test_the_import_contracts_hold() -> None:
    # pyproject.toml's [tool.importlinter]: one-way layers without cycles, a core that imports
    # nothing above it, widgets that import no torch and no model / featurevis / neighbours
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 3 kept, 0 broken." in done.stdout, done.stdout


def test_the_contracts_catch_a_widget_computing_and_a_loop(tmp_path: pathlib.Path) -> None:
    # the same contracts on a copy of the package with the two faults issue 13 removed put back
    copy = tmp_path / "repo"
    shutil.copytree(
        ROOT / "svdwidgets",
        copy / "svdwidgets",
        ignore=shutil.ignore_patterns("labextension", "embed", "__pycache__", "*.pt", "*.js"),
    )
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    with (copy / "svdwidgets" / "widgets" / "_sync.py").open("a") as f:
        f.write("\nimport torch  # a view that computes\n")
    with (copy / "svdwidgets" / "plots" / "save.py").open("a") as f:
        f.write("\nfrom svdwidgets.widgets import SpectrumView  # plots -> widgets -> plots\n")
    done = _lint_imports(copy)
    assert done.returncode != 0
    assert "Contracts: 1 kept, 2 broken." in done.stdout, done.stdout
    assert "svdwidgets.widgets._sync -> torch" in done.stdout
    assert "svdwidgets.plots.save -> svdwidgets.widgets" in done.stdout


def test_import_svdwidgets_and_its_widgets_import_no_torch_and_no_model_layer() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys
                import svdwidgets as sw
                import svdwidgets.widgets
                # the hypergraph's layout is numpy only (the view places it); its classes are not
                heavy = ("torch", "lucent", "svdwidgets.model", "svdwidgets.featurevis",
                         "svdwidgets.hypergraph.classes", "svdwidgets.hypergraph.influence",
                         "svdwidgets.neighbours", "svdwidgets.sweeps", "svdwidgets.analysis",
                         "svdwidgets.explorer", "svdwidgets.core.conv_svd")
                loaded = sorted(m for m in sys.modules if m.startswith(heavy))
                assert not loaded, loaded
                assert sw.profile.__module__ == "svdwidgets.model.profile"  # on first use
                assert "torch" in sys.modules and "svdwidgets.model.profile" in sys.modules
                import svdwidgets.model.projection as projection
                assert sw.project is projection.project and "profile" in dir(sw)
                assert [n for n in sw.__all__ if getattr(sw, n, None) is None] == []
                try:
                    sw.nothing
                except AttributeError as err:
                    assert "no attribute 'nothing'" in str(err)
                print("ok")
                """
            ),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
