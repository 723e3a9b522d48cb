#!/usr/bin/env bash
# Run the benchmark suite in the `full` profile on a GPU and record the device.
#
#   bash benchmarks/gpu.sh [run.py arguments...]      e.g. bash benchmarks/gpu.sh --only throughput
#
# Writes benchmarks/gpu/RESULTS.md and benchmarks/gpu/results.json (the CPU results in benchmarks/ stay as
# they are), plus benchmarks/gpu/device.txt with nvidia-smi's view of the device. Without a GPU it exits
# with status 2 and says so: the CPU suite is `make bench`.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
if [ ! -x "$PYTHON" ]; then
    PYTHON=python3
fi

visible=""
if command -v nvidia-smi >/dev/null 2>&1; then
    visible="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true)"
fi
tensorflow_gpus="$(TF_CPP_MIN_LOG_LEVEL=3 "$PYTHON" -c 'import tensorflow as tf; print(len(tf.config.list_physical_devices("GPU")))' 2>/dev/null || echo 0)"

if [ -z "$visible" ] && [ "${tensorflow_gpus:-0}" = "0" ]; then
    echo "gpu.sh: no GPU found (nvidia-smi lists none and TensorFlow sees none); nothing was run." >&2
    echo "gpu.sh: run the CPU suite with 'make bench', or run this script on a machine with an NVIDIA GPU and a CUDA build of TensorFlow." >&2
    exit 2
fi
if [ "${tensorflow_gpus:-0}" = "0" ]; then
    echo "gpu.sh: nvidia-smi sees a GPU ($visible) but TensorFlow does not: install a CUDA build (pip install 'tensorflow[and-cuda]'); nothing was run." >&2
    exit 2
fi

mkdir -p benchmarks/gpu
{
    echo "recorded: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "nvidia-smi: ${visible:-not available}"
    echo "tensorflow GPUs: $tensorflow_gpus"
} > benchmarks/gpu/device.txt
cat benchmarks/gpu/device.txt

TGAI_OFFLINE=1 TGAI_PROFILE=full "$PYTHON" benchmarks/run.py --output benchmarks/gpu "$@"
