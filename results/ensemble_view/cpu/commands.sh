#!/usr/bin/env bash
# The exact commands behind this folder's results (each resumes).
set -euo pipefail
cd "$(dirname "$0")/../../.."
zoo reproduce ensemble_view --budget cpu
zoo reproduce ensemble_view --budget cpu --redo gradient/
zoo reproduce ensemble_view --budget cpu --report-only
