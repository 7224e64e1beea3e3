#!/usr/bin/env bash
# The GPU measurements of the torch cells, as one prepared script for a GPU
# machine that reaches no package index (its python3 has torch with CUDA,
# numpy, scipy, pandas, matplotlib, pluggy, click, jinja2, tqdm and
# threadpoolctl, but no pydantic).
#
#   bash benchmarks/gpu_check.sh fetch   # here, with a package index: rnnbench's wheel and the missing
#                                        # wheels into .whl/ (git ignores it; about 3 MiB)
#   bash benchmarks/gpu_check.sh run     # there, in a copy of the repository with .whl/ beside it
#
# `run` installs the wheels into a scratch folder, then prints, and writes to
# $OUT (or ./gpu-check when OUT is unset):
#   torch_cells.txt   python -m benchmarks.torch_cells --device cuda --workers 1 4 8 16
#                     (the CPU table, one GPU step per cell, N workers sharing the GPU)
#   device_check.txt  python -m benchmarks.device_check (same seeds on the CPU and the GPU:
#                     same selections? same verdicts? how far apart are the numbers?)
# About 5 minutes on a 16-core machine with one H200; run it with a 10-minute limit.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

case "${1:-}" in
fetch)
    rm -rf .whl && mkdir -p .whl
    "$PY" -m pip wheel -q --no-deps -w .whl .
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl pydantic pydantic-core annotated-types typing-inspection "typing-extensions>=4.16"
    ls -l .whl
    ;;
run)
    out=${OUT:-gpu-check}
    mkdir -p "$out"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt" || true
    "$PY" -m benchmarks.torch_cells --device cuda --workers 1 4 8 16 2>&1 | tee "$out/torch_cells.txt"
    "$PY" -m benchmarks.device_check 2>&1 | tee "$out/device_check.txt"
    ;;
*)
    echo "usage: bash benchmarks/gpu_check.sh fetch|run" >&2
    exit 2
    ;;
esac
