#!/usr/bin/env bash
# How every model in saved_models/ was made: the exact commands, on 2 CPU cores (TensorFlow).
#   saved_models/build.sh train     trains each model into runs/pretrained/<name>.<dataset>/,
#                                   resuming a run that was interrupted
#   saved_models/build.sh publish   writes saved_models/<name>.<dataset>/ (model, card, curves)
#   saved_models/build.sh train resnet20.mnist plain20.mnist   only those models
# Data come from $ZOO_DATA_DIR (MNIST and Fashion-MNIST IDX files).
#
# Recipe "zoo" (Adam 2e-3, batch 128, lr /10 at 50% and 75% of the epochs) on the full
# 60,000-image training split. Fashion-MNIST's 20-layer nets train with pad-4 crops and
# horizontal flips (clothes are left-right symmetric; digits are not, so MNIST has none).
# The models train in float32. Mixed bfloat16 would not help: on this host (AVX2, no AVX-512
# BF16) an epoch of ResNet-20 took 203 s against 28-32 s in float32, and the saved model would
# keep its bfloat16 policy on every user's machine. KERAS_BACKEND=torch took 41 s.
# MNIST's ProcResNet-22s train 10 epochs: after 6, both scored 99.38% (train accuracy 99.78%),
# 0.02 pt short of the target, where the other 20-layer nets reached 99.48-99.58%; after 10,
# they scored 99.49% (procresnet22) and 99.51% (procresnet22_noproj).
# Fashion-MNIST's ProcResNet-22s train 25 epochs: after 15, procresnet22 scored 92.41%, 0.09 pt
# short of the target, where the other 20-layer nets reached 92.78-93.45% (running train accuracy
# 92.8% under crops and flips; it still rose 0.5 pt per epoch when the first lr drop came). After
# 25, procresnet22 scored 93.26% (running train accuracy 93.8%) and procresnet22_noproj 93.02%
# (93.8%).
# The studies' published nets were trained by `zoo reproduce` and published from their run
# folders (ensemble_view's are committed only here; merge_and_run's and norm_preservation's model.keras files are not
# committed in results/, so publishing them again means retraining with the study first):
#   zoo publish results/ensemble_view/cpu/$D/preresnet110 --name preresnet110 --tag $D --to saved_models
#   zoo publish results/ensemble_view/cpu/$D/plain20 --tag seed002_$D --to saved_models
#   zoo publish results/merge_and_run/cpu/fashion_mnist/$M/seed-0 --name $N --tag seed001_fashion_mnist \
#       --to saved_models   ($M $N: dmrnet dmrnet20, identity dmrnet20_identity,
#                            inception_like dmrnet20_inception_like, resnet38 resnet38)
#   zoo publish results/norm_preservation/cpu/fashion_mnist/accuracy/$M/seed-0 \
#       --tag seed003_fashion_mnist --to saved_models   ($M: procresnet22, procresnet22_noproj)
# for D in mnist fashion_mnist.
# Targets (issue 16): 20-layer nets MNIST >= 99.4%, Fashion-MNIST >= 92.5%; shallow nets
# >= 98.5% and >= 89%.
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO=${ZOO:-zoo}
RUNS=${RUNS:-runs/pretrained}

# name dataset epochs augment
MODELS="
shallow_sequential  mnist          10 none
shallow_parallel    mnist          10 none
shallow_sequential  fashion_mnist  10 none
shallow_parallel    fashion_mnist  10 none
resnet20            fashion_mnist  15 crop_flip
parallel_resnet20   fashion_mnist  15 crop_flip
dmrnet20            fashion_mnist  15 crop_flip
plain20             fashion_mnist  15 crop_flip
procresnet22        fashion_mnist  25 crop_flip
procresnet22_noproj fashion_mnist  25 crop_flip
parallel_resnet20   mnist          6  none
dmrnet20            mnist          6  none
plain20             mnist          6  none
procresnet22        mnist          10 none
procresnet22_noproj mnist          10 none
resnet20            mnist          6  none
"

action=${1:-}
shift || true
only=" $* "  # optional NAME.DATASET filter
for id in "$@"; do
  echo "$MODELS" | awk '{print $1"."$2}' | grep -qx "$id" || { echo "$0: unknown model $id" >&2; exit 2; }
done

echo "$MODELS" | while read -r name dataset epochs augment; do
  [ -z "$name" ] && continue
  if [ "$only" != "  " ] && [[ "$only" != *" $name.$dataset "* ]]; then continue; fi
  run="$RUNS/$name.$dataset"
  case "$action" in
    train)
      if [ -f "$run/results.json" ]; then echo "done: $run"; continue; fi
      resume=()
      [ -f "$run/config.json" ] && resume=(--resume)
      $ZOO train "$name" --dataset "$dataset" --recipe zoo --epochs "$epochs" --seed 0 \
        --augment "$augment" --no-validation "${resume[@]}" --out "$run" ;;
    publish)
      if [ -f "$run/results.json" ]; then $ZOO publish "$run" --to saved_models; fi ;;
    *) echo "usage: $0 train|publish" >&2; exit 2 ;;
  esac
done
