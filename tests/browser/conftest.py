"""Real-browser tests: JupyterLab on 127.0.0.1 and the system's headless Chromium.

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``; scripts/test.sh installs it) and the
``playwright`` Python package. ``playwright install`` is never run: we drive the system browser.
Screenshots, timings and logs go to ``test-artifacts/`` (git-ignored). Without Chromium the tests
skip, unless ``SVDWIDGETS_REQUIRE_BROWSER=1`` (set by scripts/test.sh) makes that an error.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
REQUIRED = os.environ.get("SVDWIDGETS_REQUIRE_BROWSER") == "1"


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    if reason is None or REQUIRED:  # required: let the tests fail on what is missing
        return
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """A JupyterLab server in a temporary root, on a free port, with a token."""

    def __init__(self, root: Path, base: str, token: str) -> None:
        self.root, self.base, self.token = root, base, token

    def url(self, notebook: str) -> str:
        # reset: a fresh workspace, not the tabs an earlier test left open on this server
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"

    def write_notebook(self, name: str, *cells: str) -> str:
        """Write a notebook of these code cells (python3 kernel) into the root; its name."""
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        nbformat.write(nb, self.root / name)
        return name


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[LabServer]:
    root = tmp_path_factory.mktemp("lab-root")
    config = tmp_path_factory.mktemp("jupyter-config")
    state = tmp_path_factory.mktemp("lab-state")
    # No news/announcements plugin: it would reach the internet and pop a notification.
    (config / "labconfig").mkdir()
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: the command registry
        f"--LabApp.user_settings_dir={state / 'settings'}",
        f"--LabApp.workspaces_dir={state / 'workspaces'}",
    ]
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config)}
    with open(artifacts / "jupyterlab.log", "w") as log:
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start: see {artifacts}/jupyterlab.log")
                time.sleep(0.25)
            yield LabServer(root, base, token)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# --------------------------------------------------------------------------------------------
# Helpers for notebook tests: page functions that talk to the open notebook's kernel
# --------------------------------------------------------------------------------------------


class NotebookJS:
    """``page.wait_for_function`` / ``page.evaluate`` snippets for the notebook in focus."""

    kernel_idle = """() => {
  const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const session = nb && nb.sessionContext && nb.sessionContext.session;
  const k = session && session.kernel;
  return !!(k && k.connectionStatus === 'connected' && k.status === 'idle'
            && nb.content && nb.content.widgets.length >= 1);
}"""
    """True once the notebook's kernel is connected and idle (the notebook is loaded)."""

    kernel_exec = """async (code) => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = k.requestExecute({code, store_history: false});
  let out = '';
  future.onIOPub = msg => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return out.trim();
}"""
    """Run ``code`` in the kernel, outside the notebook's cells; returns what it printed."""

    run_all = "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
    dark_theme = (
        "() => window.jupyterapp.commands.execute("
        "'apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )


@pytest.fixture(scope="session")
def notebook_js() -> type[NotebookJS]:
    return NotebookJS
