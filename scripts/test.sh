#!/usr/bin/env bash
# Install everything the tests need, then run lint, type checks and the whole test suite.
# This is the README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# torch is pinned: 2.13.0 is the CPU build on our machines; an unpinned torch pulls a
# multi-GB CUDA build.
python -m pip install --quiet --disable-pip-version-check torch==2.13.0 -e ".[test]"

python -m ruff check .
python -m ruff format --check .
python -m mypy
python -m pytest "$@"
