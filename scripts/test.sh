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

# The zoo (tests/models_zoo: torchvision and timm CNNs, issue 12) in a second environment:
# torchvision does not import beside the CPU torch 2.13 above, so .venv-zoo (git-ignored) holds
# torch 2.14.1 (a CUDA build that runs on the CPU), torchvision and timm, and sees everything
# else (numpy, pandas, pytest, ...) from this environment (--system-site-packages). svdwidgets
# is the checkout itself, by a .pth file: no second editable install, no labextension rebuild.
# Built when missing or stale (another pin list or Python); about 50 s from local wheels, 5.3 GB.
# Only for the whole suite (no pytest arguments given).
if [ "$#" -eq 0 ]; then
    ZOO_REQUIREMENTS="torch==2.14.1 torchvision==0.29.1 timm==1.0.31"  # = pyproject's [zoo]
    zoo_stamp="$ZOO_REQUIREMENTS $(python -c 'import sys; print(sys.executable, sys.version)')"
    if [ ! -x .venv-zoo/bin/python ] || [ "$(cat .venv-zoo/svdwidgets-zoo.stamp 2>/dev/null)" != "$zoo_stamp" ]; then
        rm -rf .venv-zoo
        python -m venv --system-site-packages .venv-zoo
        # shellcheck disable=SC2086  # the pins are separate words
        .venv-zoo/bin/python -m pip install --quiet --disable-pip-version-check $ZOO_REQUIREMENTS
        .venv-zoo/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))' |
            { read -r site; pwd > "$site/svdwidgets-checkout.pth"; }
        echo "$zoo_stamp" > .venv-zoo/svdwidgets-zoo.stamp
    fi
    # missing torchvision/timm fail these tests here, rather than skip them
    SVDWIDGETS_REQUIRE_ZOO=1 .venv-zoo/bin/python -m pytest -p no:cacheprovider \
        tests/models_zoo tests/zoo/test_external.py
fi
