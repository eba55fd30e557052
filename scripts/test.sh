#!/usr/bin/env bash
# Install everything the tests need, then run lint, type checks and the whole test suite.
# This is the README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# The browser tests (tests/browser) drive the system's headless Chromium through Playwright's
# Python API (never `playwright install`). CI runs as root on Debian: install it when missing.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "scripts/test.sh: /usr/bin/chromium is missing (apt-get install -y chromium)" >&2
        exit 1
    fi
fi
export SVDWIDGETS_REQUIRE_BROWSER=1  # missing browser pieces fail the browser tests, not skip them

# torch is pinned: 2.13.0 is the CPU build on our machines; an unpinned torch pulls a
# multi-GB CUDA build. The install also builds the JupyterLab extension in labextension/
# (node 20 + jlpm from yarn.lock; CI=true makes yarn refuse to change the lockfile).
python -m pip install --quiet --disable-pip-version-check torch==2.13.0 -e ".[test,widgets]"
# torch-lucent declares torchvision & co. that we neither need nor can import: see pyproject.toml
python -m pip install --quiet --disable-pip-version-check --no-deps torch-lucent==0.1.8 kornia==0.4.1

python -m ruff check .
python -m ruff format --check .
python -m mypy
lint-imports  # the package boundaries: pyproject.toml's [tool.importlinter] contracts
python -m pytest "$@"
