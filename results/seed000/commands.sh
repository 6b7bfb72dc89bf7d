#!/usr/bin/env bash
# The exact commands behind results/seed000/ (2-core CPU machine, TensorFlow backend; each resumes).
set -euo pipefail
cd "$(dirname "$0")/../.."
zoo reproduce seed000 --budget cpu
