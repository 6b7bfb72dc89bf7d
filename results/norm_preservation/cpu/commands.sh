#!/usr/bin/env bash
# The exact commands behind this folder's results (each resumes).
set -euo pipefail
cd "$(dirname "$0")/../../.."
zoo reproduce norm_preservation --budget cpu
zoo reproduce norm_preservation --budget cpu --redo ratios/
zoo reproduce norm_preservation --budget cpu --report-only
zoo reproduce norm_preservation --budget cpu --time-limit 1200
