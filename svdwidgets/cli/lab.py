"""``svdwidgets lab``: copy the shipped notebooks into a working folder, start JupyterLab there."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from svdwidgets.errors import SVDWidgetsError

__all__ = ["NOTEBOOK_DIR", "QUICKSTART", "lab_command", "notebook_sources", "prepare_notebooks"]

QUICKSTART = "01-quickstart.ipynb"
NOTEBOOK_DIR = Path("~/svdwidgets-notebooks")


def notebook_sources() -> Path | None:
    """Where the notebooks shipped with svdwidgets are: package data, or the source checkout."""
    package = Path(__file__).resolve().parent.parent  # svdwidgets/
    for folder in (package / "notebooks", package.parent / "notebooks"):
        if folder.is_dir() and any(folder.glob("*.ipynb")):
            return folder
    return None


def prepare_notebooks(work: Path, notebook: str = QUICKSTART) -> tuple[Path, list[str]]:
    """Copy the shipped notebooks missing from ``work`` into it; return ``notebook``'s path."""
    sources = notebook_sources()
    if sources is None:
        raise SVDWidgetsError(
            "the svdwidgets notebooks are not installed with this package (looked in "
            f"{Path(__file__).resolve().parent.parent / 'notebooks'} and the source checkout)"
        )
    if not (sources / notebook).is_file() and not (work / notebook).is_file():
        shipped = sorted(p.name for p in sources.glob("*.ipynb"))
        raise SVDWidgetsError(f"no notebook {notebook!r} in {sources}; there are {shipped}")
    work.mkdir(parents=True, exist_ok=True)
    copied = []
    for nb in sorted(sources.glob("*.ipynb")):
        if not (work / nb.name).exists():  # never overwrite the user's edited copy
            shutil.copy2(nb, work / nb.name)
            copied.append(nb.name)
    return work / notebook, copied


def lab_command(
    notebook: Path, *, port: int | None = None, browser: bool = True, extra: Sequence[str] = ()
) -> list[str]:
    """The JupyterLab command line that opens ``notebook`` with its folder as the root."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebook.parent}"]
    if port is not None:
        cmd.append(f"--ServerApp.port={port}")
    if not browser:
        cmd.append("--ServerApp.open_browser=False")
    return [*cmd, *extra, str(notebook)]


def run_lab(args: argparse.Namespace, extra: Sequence[str]) -> int:
    if args.port is not None and not 0 < args.port < 65536:
        raise SVDWidgetsError(f"--port must be in 1..65535, got {args.port}")
    if importlib.util.find_spec("jupyterlab") is None:
        raise SVDWidgetsError("JupyterLab is not installed: pip install 'svdwidgets[widgets]'")
    work = Path(args.dir).expanduser().resolve()
    notebook, copied = prepare_notebooks(work, args.notebook)
    if copied:
        print(f"svdwidgets: copied {', '.join(copied)} into {work}")
    cmd = lab_command(notebook, port=args.port, browser=not args.no_browser, extra=extra)
    if args.print_command:
        print(subprocess.list2cmdline(cmd))
        return 0
    print(f"svdwidgets: starting JupyterLab on {notebook}", flush=True)
    sys.stderr.flush()
    if os.name == "posix":  # JupyterLab becomes this process: signals and exit status are its
        os.execv(cmd[0], cmd)
    return subprocess.call(cmd)
