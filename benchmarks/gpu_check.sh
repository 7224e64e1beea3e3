#!/usr/bin/env bash
# The GPU measurements of the torch cells, as one prepared script for a GPU
# machine that reaches no package index (its python3 has torch with CUDA,
# numpy, scipy, pandas, matplotlib, pluggy, click, jinja2, tqdm and
# threadpoolctl, but no pydantic; pluggy is carried too, for its version).
#
#   bash benchmarks/gpu_check.sh fetch   # here, with a package index: rnnbench's wheel and the missing
#                                        # wheels into .whl/ (git ignores it; about 3 MiB)
#   bash benchmarks/gpu_check.sh run     # there, in a copy of the repository with .whl/ beside it
#   bash benchmarks/gpu_check.sh run timings | check   # one of the two parts only
#
# `run` installs the wheels into a scratch folder, then prints, and writes to
# $OUT (or ./gpu-check when OUT is unset):
#   torch_cells.txt   (timings) python -m benchmarks.torch_cells --device cuda --no-cpu-table --workers 1 4 16
#                     --gpu-steps 20: each torch cell's GPU step beside the numpy engine's
#                     CPU step and the fused cuDNN cell; N workers sharing the GPU
#   device_check.txt  (check) python -m benchmarks.device_check --devices cpu cuda cuda
#                     same seeds on the CPU and the GPU (twice): same selections? same
#                     verdicts? how far apart are the numbers? does the GPU repeat itself?
# Not yet measured on a GPU: expect a few minutes for each part; give the command a
# 10-minute limit. The output files grow as it goes, so a part cut short still comes back.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# rnnbench's sources and plugins, hashed: the wheel's entry points must match the checkout
source_hash() {
    find rnnbench plugins -type f \( -name '*.py' -o -name '*.toml' -o -name '*.j2' \) | LC_ALL=C sort \
        | xargs sha256sum | sha256sum | cut -d' ' -f1
}

case "${1:-}" in
fetch)
    rm -rf .whl && mkdir -p .whl
    "$PY" -m pip wheel -q --no-deps -w .whl .
    source_hash > .whl/SOURCE  # run refuses a wheel built from other sources than the checkout
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl pydantic pydantic-core annotated-types typing-inspection "typing-extensions>=4.16" "pluggy>=1.7"
    ls -l .whl
    ;;
run)
    if [ "$(cat .whl/SOURCE 2>/dev/null)" != "$(source_hash)" ]; then
        echo "gpu_check: .whl/ was not fetched from these sources; run 'bash benchmarks/gpu_check.sh fetch' again" >&2
        exit 2
    fi
    out=${OUT:-gpu-check}
    mkdir -p "$out"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt" || true
    parts=${2:-timings check}
    if [[ " $parts " == *" timings "* ]]; then
        "$PY" -m benchmarks.torch_cells --device cuda --no-cpu-table --workers 1 4 16 --gpu-steps 20 2>&1 | tee "$out/torch_cells.txt"
    fi
    if [[ " $parts " == *" check "* ]]; then
        "$PY" -m benchmarks.device_check --devices cpu cuda cuda 2>&1 | tee "$out/device_check.txt"
    fi
    ;;
*)
    echo "usage: bash benchmarks/gpu_check.sh fetch|run" >&2
    exit 2
    ;;
esac
