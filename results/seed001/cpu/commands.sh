#!/usr/bin/env bash
# The exact commands behind this folder's results (each resumes).
set -euo pipefail
zoo reproduce seed001 --budget cpu
