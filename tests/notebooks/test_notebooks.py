"""Every notebook in ``notebooks/`` runs top to bottom, offline, in a fresh kernel.

Each notebook is copied into a temporary folder (so what it writes, e.g. exported figures, lands
there) and executed by nbclient with the ``python3`` kernel of this environment. A failing cell
fails the test with the cell's traceback. Notebooks are stored with their outputs cleared:
the second test checks that, so a re-run in the lab does not leak outputs into git.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 600


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    work = tmp_path / "run"
    work.mkdir()
    shutil.copy(path, work / path.name)
    # the kernel inherits the environment: its own spectrum cache, no stray GUI backend
    monkeypatch.setenv("SVDWIDGETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(work / path.name, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, errors


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_notebook_outputs_cleared(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state; clear it"


def test_notebook_folder_is_not_empty() -> None:
    assert PATHS, f"no notebooks in {NOTEBOOKS}"
