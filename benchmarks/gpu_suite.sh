#!/usr/bin/env bash
# The GPU suite in one command (see benchmarks/gpu_suite.py): install the project, run the
# CUDA tests, then every measurement; prints a table and writes suite.json / suite.md.
#
#   bash benchmarks/gpu_suite.sh [--dry-run] [--out DIR] [--write-table] [...]
#
# Install step: with a wheelhouse (a folder of wheels: $SVDWIDGETS_WHEELHOUSE, default .whl/,
# for a machine that reaches no package registry; `bash benchmarks/gpu_wheelhouse.sh` makes
# one) the project's missing dependencies are installed from it into a private folder and the
# checkout itself is run; otherwise the README's install command runs. torch and triton are
# the machine's own.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
WHEELS=${SVDWIDGETS_WHEELHOUSE:-.whl}
OUT=gpu-suite-out
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    [ "${args[$i]}" = "--out" ] && OUT=${args[$((i + 1))]}
done
mkdir -p "$OUT"
started=$(date +%s)
status=0
if [ -d "$WHEELS" ] && compgen -G "$WHEELS/*.whl" >/dev/null; then
    site=$(mktemp -d /tmp/svdwidgets-site.XXXX)
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$WHEELS"/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    # scripts run from this checkout import its svdwidgets/ (cwd first on sys.path), not the
    # wheel's: give it the version module a build would write
    [ -f svdwidgets/_version.py ] || "$PY" -c "import json; v = json.load(open('labextension/package.json'))['version']; open('svdwidgets/_version.py', 'w').write(f'__version__ = {v!r}\n')"
else
    "$PY" -m pip install -q -e ".[widgets,gpu]"
    "$PY" -m pip install -q --no-deps torch-lucent==0.1.8 kornia==0.4.1
fi
echo "install: $(($(date +%s) - started)) s"
"$PY" -c "import svdwidgets, torch; print('svdwidgets', svdwidgets.__version__, 'from', svdwidgets.__file__, '| torch', torch.__version__, '| cuda', torch.cuda.is_available())"

dry=0
for a in "$@"; do [ "$a" = "--dry-run" ] && dry=1; done
if [ "$dry" = 0 ]; then
    # the tests that skip without CUDA (marker `cuda`), compiled kernels on the device
    # and the solver's tests, which run on CUDA tensors where CUDA is present
    "$PY" -m pytest -q -p no:cacheprovider tests/core/test_jacobi.py tests/core/test_conv_svd.py -k "jacobi or cuda" 2>&1 | tee "$OUT/cuda-tests.log" | tail -15 || true
fi
"$PY" benchmarks/gpu_suite.py --sections solvers,engine,featurevis "$@" || status=$?
# the Explorer last and under its own time limit: it must not cost the measurements above
timeout "${EXPLORER_TIMEOUT:-200}" "$PY" benchmarks/gpu_suite.py "$@" --sections explorer --out "$OUT/explorer" || status=$?
echo "suite: $(($(date +%s) - started)) s"
exit "$status"
