#!/usr/bin/env bash
# The exact commands behind this folder's results (each resumes).
set -euo pipefail
cd "$(dirname "$0")/../../.."
zoo reproduce sequential_vs_parallel --budget cpu
zoo reproduce sequential_vs_parallel --budget cpu --report-only
