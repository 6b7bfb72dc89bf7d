#!/usr/bin/env bash
# The exact commands behind this folder's results (each resumes).
set -euo pipefail
cd "$(dirname "$0")/../../.."
zoo reproduce merge_and_run --budget cpu
zoo reproduce merge_and_run --budget cpu --report-only
