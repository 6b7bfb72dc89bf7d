#!/usr/bin/env bash
# The GPU part of the benchmarks (issue 7), one stage per device call (each must finish in
# 10 minutes). Recipe: ../shared/GPU.md. The GPU machine has JAX but no TensorFlow, so
# Keras runs on JAX from wheels carried in .whl/, and MNIST comes in .gpu-data/:
#
#   run(command='bash benchmarks/gpu.sh throughput "$OUT"', carry=[".whl", ".gpu-data"])
#   run(command='bash benchmarks/gpu.sh trials "$OUT"',     carry=[".whl", ".gpu-data"])
#   run(command='bash benchmarks/gpu.sh race "$OUT"',       carry=[".whl", ".gpu-data"])
#   run(command='STUDY=sequential_vs_parallel LIMIT=300 bash benchmarks/gpu.sh study "$OUT"',
#       carry=[".whl", ".gpu-data"], timeout_s=LIMIT + 160)
#
# The study stage resumes results/NAME/gpu (NAME: the study's name, which an old name in STUDY
# is turned into; committed, so it travels with the checkout) for
# LIMIT seconds (at most 420: no new trial starts after it, the last one is killed 120 s
# later, and one device call ends at 600 s) and sends the folder back as one study.tgz: the
# device returns neither deep folders nor many files. Here: `tar xzf .../study.tgz -C
# results/NAME` (the archive holds gpu/), `zoo reproduce NAME --budget gpu --report-only`,
# commit. Put nothing else under OUT in the same call: on 2026-12-04 a call that left 15
# files there got 8 back, and study.tgz was not among them (its trials were lost).
# The call may carry at most 64 MiB: the data (42 MB) and the wheels (15 MB, with
# statsmodels and patsy for the report: add them to GPU.md's pip download) leave no room for
# the 49 MB of saved_models/, so take them out of the index for the call and put them back
# after: git rm -r -q --cached saved_models; echo /saved_models/ >> .git/info/exclude; ...
# run ...; git reset -q saved_models; and drop that line from .git/info/exclude again.
# A training run that the kill cuts (merge_and_run, norm_preservation: one net of 30 epochs
# can outlast a call) continues from its last finished epoch in the next call: its run folder's
# checkpoint/ comes back in study.tgz and travels, untracked, with the next call's checkout;
# commit the results without it (git add results/NAME/gpu ':!*/checkpoint/*', NAME the
# study's name, not an old one).
# Training needs no TensorFlow there: without it the batches come from NumPy (zoo.data.batches).
set -euo pipefail
stage=${1:?usage: benchmarks/gpu.sh throughput|trials|race|study OUTPUT_DIR}
out=${2:?usage: benchmarks/gpu.sh throughput|trials|race|study OUTPUT_DIR}
cd "$(dirname "$0")/.."
mkdir -p "$out"

if [ ! -d /tmp/site/keras ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax ZOO_DATA_DIR=$PWD/.gpu-data PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"

case "$stage" in
  throughput)  # float32 and bf16; batch 1024 keeps an H100 busy on 32x32 inputs
    python3 -m benchmarks.throughput --backends jax --precision float32,mixed_bfloat16 \
      --models resnet20,handwritten_resnet20,parallel_resnet20,parallel_resnet20@unfused,dmrnet20,procresnet22,resnet56 \
      --batch 1024 --input 32,32,3 --steps 20 --repeats 5 --warmup 5 --pair-rounds 5 \
      --out "$out/throughput_gpu.csv" 2>&1 | tee "$out/throughput.log"
    ;;
  trials)  # seconds per sequential_vs_parallel trial (its grid: seed000; MNIST, 1 epoch, all
           # 60k), 1, 4 and 8 at a time
    python3 -m benchmarks.trials --grid seed000 --dataset mnist --epochs 1 --sample 16 \
      --concurrency 1,4,8 --work-dir /tmp/zoo-trials --out "$out/trials_gpu.csv" \
      2>&1 | tee "$out/trials.log"
    ;;
  race)  # sequential vs parallel ResNet-20 on all of MNIST, equal epochs, same seed
    python3 -m benchmarks.throughput --backends jax --models resnet20 --batch 128 \
      --input 28,28,1 --steps 5 --repeats 3 --warmup 3 --pair-rounds 0 \
      --accuracy-epochs 5 --accuracy-subset 60000 --out "$out/race_gpu.csv" \
      2>&1 | tee "$out/race.log"
    ;;
  study)  # a study's gpu budget, resumed for LIMIT seconds (no new trial after that)
    study=${STUDY:?set STUDY, e.g. STUDY=sequential_vs_parallel}
    limit=${LIMIT:-300}
    # the study's name, checked (one line if unknown), for it or an old one (seed000 ...):
    # its folder is results/<name>/gpu
    study=$(python3 -c 'import sys; from zoo.studies.runner import study_name
try:
    print(study_name(sys.argv[1]))
except ValueError as e:
    sys.exit(f"STUDY: {e}")' "$study") || exit 2
    [[ "$limit" =~ ^[0-9]+$ ]] && (( limit <= 420 )) || {
      echo "LIMIT must be whole seconds, at most 420, got '$limit'" >&2; exit 2; }
    mkdir -p "results/$study/gpu"
    # the last trial may run past the limit: the kill leaves time to pack what is done
    timeout -s KILL $(( limit + 120 )) python3 -m zoo.cli reproduce "$study" \
      --budget gpu --time-limit "$limit" \
      > "$out/study.log" 2>&1 || echo "zoo reproduce ended with status $? (137: killed" \
        "$(( limit + 120 )) s in)" | tee -a "$out/study.log"
    tail -5 "$out/study.log"
    tar czf "$out/study.tgz" -C "results/$study" gpu
    ;;
  *)
    echo "unknown stage '$stage' (throughput, trials, race or study)" >&2
    exit 2
    ;;
esac
