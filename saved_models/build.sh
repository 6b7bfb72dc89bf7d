#!/usr/bin/env bash
# How every model in saved_models/ was made: the exact commands, on 2 CPU cores (TensorFlow).
#   saved_models/build.sh train     trains each model into runs/pretrained/<name>.<dataset>/
#   saved_models/build.sh publish   writes saved_models/<name>.<dataset>/ (model, card) from a run
# Data come from $ZOO_DATA_DIR (MNIST and Fashion-MNIST IDX files).
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO=${ZOO:-zoo}
RUNS=${RUNS:-runs/pretrained}

# name dataset epochs subset(0 = all 60,000)
MODELS="
shallow_sequential  mnist          1 20000
shallow_parallel    mnist          1 20000
parallel_resnet20   mnist          1 20000
plain20             mnist          1 20000
dmrnet20            mnist          1 20000
procresnet22        mnist          1 20000
procresnet22_noproj mnist          1 20000
shallow_sequential  fashion_mnist  1 20000
shallow_parallel    fashion_mnist  1 20000
parallel_resnet20   fashion_mnist  1 20000
plain20             fashion_mnist  1 20000
dmrnet20            fashion_mnist  1 20000
procresnet22        fashion_mnist  1 20000
procresnet22_noproj fashion_mnist  1 20000
resnet20            fashion_mnist  1 30000
resnet20            mnist          5 0
"

echo "$MODELS" | while read -r name dataset epochs subset; do
  [ -z "$name" ] && continue
  run="$RUNS/$name.$dataset"
  case "${1:-}" in
    train)
      if [ -f "$run/results.json" ]; then echo "done: $run"; continue; fi
      extra=()
      [ "$subset" != 0 ] && extra=(--subset "$subset")
      $ZOO train "$name" --dataset "$dataset" --recipe zoo --epochs "$epochs" --seed 0 \
        --no-validation "${extra[@]}" --out "$run" ;;
    publish)
      $ZOO publish "$run" --to saved_models ;;
    *) echo "usage: $0 train|publish" >&2; exit 2 ;;
  esac
done
