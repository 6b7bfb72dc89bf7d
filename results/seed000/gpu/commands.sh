#!/usr/bin/env bash
# The exact commands behind this folder's results (each resumes).
set -euo pipefail
cd /work/main
zoo reproduce seed000 --budget gpu --out /tmp/r/seed000-gpu --time-limit 230
zoo reproduce seed000 --budget gpu --report-only
# These trials ran on the lent H200 (KERAS_BACKEND=jax, Keras 3.15.1, 2026-12-04) in one run
# of 250 s into /tmp/r/seed000-gpu, copied here (so its `--out /tmp/r/...` line does not rebuild this
# folder; the next GPU session resumes it in place); an earlier call's 17 trials did not come
# back (the device returns no deep folders). Resume on a lent GPU (see benchmarks/gpu.sh):
#   STUDY=seed000 LIMIT=300 bash benchmarks/gpu.sh study "$OUT"
zoo reproduce seed000 --budget gpu --out results/seed000/gpu --time-limit 400
zoo reproduce seed000 --budget gpu --out results/seed000/gpu --time-limit 250
