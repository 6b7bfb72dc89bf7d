#!/usr/bin/env bash
# The exact commands behind this folder's results (each resumes).
set -euo pipefail
cd "$(dirname "$0")/../../.."
zoo reproduce seed001 --budget cpu
zoo reproduce seed001 --budget cpu --report-only
zoo reproduce merge_and_run --budget cpu --report-only
