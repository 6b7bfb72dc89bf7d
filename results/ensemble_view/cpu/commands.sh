#!/usr/bin/env bash
# The exact commands behind this folder's results (each resumes).
set -euo pipefail
cd "$(dirname "$0")/../../.."
zoo reproduce seed002 --budget cpu
zoo reproduce seed002 --budget cpu --redo gradient/
zoo reproduce seed002 --budget cpu --report-only
zoo reproduce ensemble_view --budget cpu --report-only
