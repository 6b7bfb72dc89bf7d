#!/usr/bin/env bash
# The exact commands behind results/seed000/ (2-core CPU machine, TensorFlow backend; each resumes).
set -euo pipefail
cd "$(dirname "$0")/../.."
zoo tune --grid seed000 --dataset mnist --epochs 1 --sample 100 --seed 0 \
zoo reproduce seed000 --budget cpu
