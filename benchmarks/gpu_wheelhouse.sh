#!/usr/bin/env bash
# Make the wheelhouse benchmarks/gpu_suite.sh installs from on a GPU machine that reaches no
# package registry (run here, where pip works): every runtime dependency that a CUDA image with
# torch, triton, numpy, scipy, pandas, matplotlib, scikit-learn and networkx lacks, for
# CPython 3.12 on x86-64 Linux. The project itself is not in it: the suite runs the checkout.
#   bash benchmarks/gpu_wheelhouse.sh [DIR]   (default .whl; keep it out of git)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.whl}
PY=${PYTHON:-python3}
rm -rf "$DIR" && mkdir -p "$DIR"
platform=(--only-binary=:all: --python-version 3.12 --implementation cp
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)
"$PY" -m pip download -q "${platform[@]}" -d "$DIR" "ipywidgets>=8.1,<9" "bqplot==0.13.1" \
    "hypernetx==2.4.3" "mlxtend>=0.23" decorator
"$PY" -m pip download -q --no-deps "${platform[@]}" -d "$DIR" torch-lucent==0.1.8 kornia==0.4.1
# what the CUDA image already has (its own builds must win)
for name in certifi charset_normalizer cloudpickle contourpy cycler fonttools idna joblib \
    kiwisolver matplotlib narwhals networkx numpy packaging pandas pillow psutil pygments \
    pyparsing python_dateutil pytz requests scikit_learn scipy threadpoolctl typing_extensions \
    tzdata urllib3; do
    rm -f "$DIR/$name"-[0-9]*.whl
done
du -sh "$DIR"
