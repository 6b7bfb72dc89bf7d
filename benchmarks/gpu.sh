#!/usr/bin/env bash
# The GPU part of the benchmarks (issue 7), one stage per device call (each must finish in
# 10 minutes). Recipe: ../shared/GPU.md. The GPU machine has JAX but no TensorFlow, so
# Keras runs on JAX from wheels carried in .whl/, and MNIST comes in .gpu-data/:
#
#   run(command='bash benchmarks/gpu.sh throughput "$OUT"', carry=[".whl", ".gpu-data"])
#   run(command='bash benchmarks/gpu.sh trials "$OUT"',     carry=[".whl", ".gpu-data"])
#   run(command='bash benchmarks/gpu.sh race "$OUT"',       carry=[".whl", ".gpu-data"])
#
# then copy to benchmarks/results/: throughput_gpu.csv and throughput_gpu_ratios.csv,
# trials_gpu.csv, and race_gpu_race.csv as throughput_gpu_race.csv; and regenerate the
# README section: python -m benchmarks.report --update README.md
set -euo pipefail
stage=${1:?usage: benchmarks/gpu.sh throughput|trials|race OUTPUT_DIR}
out=${2:?usage: benchmarks/gpu.sh throughput|trials|race OUTPUT_DIR}
cd "$(dirname "$0")/.."
mkdir -p "$out"

if [ ! -d /tmp/site/keras ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax ZOO_DATA_DIR=$PWD/.gpu-data PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"

case "$stage" in
  throughput)  # float32 and bf16; batch 1024 keeps an H100 busy on 32x32 inputs
    python3 -m benchmarks.throughput --backends jax --precision float32,mixed_bfloat16 \
      --models resnet20,handwritten_resnet20,parallel_resnet20,parallel_resnet20@unfused,dmrnet20,procresnet22,resnet56 \
      --batch 1024 --input 32,32,3 --steps 20 --repeats 5 --warmup 5 --pair-rounds 5 \
      --out "$out/throughput_gpu.csv" 2>&1 | tee "$out/throughput.log"
    ;;
  trials)  # seconds per seed000 trial (MNIST, 1 epoch, all 60k), 1, 4 and 8 at a time
    python3 -m benchmarks.trials --grid seed000 --dataset mnist --epochs 1 --sample 16 \
      --concurrency 1,4,8 --work-dir /tmp/zoo-trials --out "$out/trials_gpu.csv" \
      2>&1 | tee "$out/trials.log"
    ;;
  race)  # sequential vs parallel ResNet-20 on all of MNIST, equal epochs, same seed
    python3 -m benchmarks.throughput --backends jax --models resnet20 --batch 128 \
      --input 28,28,1 --steps 5 --repeats 3 --warmup 3 --pair-rounds 0 \
      --accuracy-epochs 5 --accuracy-subset 60000 --out "$out/race_gpu.csv" \
      2>&1 | tee "$out/race.log"
    ;;
  *)
    echo "unknown stage '$stage' (throughput, trials or race)" >&2
    exit 2
    ;;
esac
