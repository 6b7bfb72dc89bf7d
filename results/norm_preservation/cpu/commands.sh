#!/usr/bin/env bash
# The exact commands behind this folder's results (each resumes).
set -euo pipefail
cd "$(dirname "$0")/../../.."
zoo reproduce seed003 --budget cpu
zoo reproduce seed003 --budget cpu --redo ratios/
zoo reproduce seed003 --budget cpu --report-only
zoo reproduce seed003 --budget cpu --time-limit 1200
zoo reproduce norm_preservation --budget cpu --report-only
