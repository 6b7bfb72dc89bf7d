#!/usr/bin/env bash
# The exact commands behind results/seed000/ (2-core CPU machine, TensorFlow backend).
# A seeded random sample of 100 of the 3,456 MNIST points of the seed000 grid; each trial
# trains 1 epoch on 500 training images and validates on 500 test images (CPU budget).
set -euo pipefail
cd "$(dirname "$0")/../.."
zoo tune --grid seed000 --dataset mnist --epochs 1 --sample 100 --seed 0 \
  --subset 500 --validation-subset 500 --project-dir runs/seed000/mnist-cpu-sample100
zoo tune-report runs/seed000/mnist-cpu-sample100 --out results/seed000/mnist-cpu-sample100
zoo reproduce seed000 --budget cpu
