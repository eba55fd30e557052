"""The layering of DESIGN.md: the core and the model walk import without the widget stack.

Each check runs in a fresh interpreter in which the widget packages cannot be imported (an
import hook refuses them), so a stray top-level import in the core shows up as a failure here.
"""

from __future__ import annotations

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


def test_the_widgets_never_import_torch_internals_at_module_level() -> None:
    # widgets -> core only: no widget module reaches into torch.nn.functional or autograd
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1] / "svdwidgets" / "widgets"
    offenders = [
        p.name
        for p in root.glob("*.py")
        if any(
            line.startswith(("import torch.nn", "from torch.nn", "from torch.autograd"))
            for line in p.read_text().splitlines()
        )
    ]
    assert offenders == []
