"""Rerun single seed-000 grid points, as a study trial trains them, under other seeds or
numerics: is a trial's divergence a property of the point, of its seed, or of the device?

    python -m benchmarks.rerun_points --points 1608 --seeds 0,1,2 --epochs 10 \
        --early-stopping 2 --out rerun.csv
    JAX: --matmul-precision highest (float32 matmuls and convolutions; JAX's default on
    recent NVIDIA GPUs computes them in TF32)

Each (point, seed) runs through ``zoo.tuning.make_tuner`` exactly as a study trial does
(every training image less a seeded 10% for validation, early stopping, fail at chance), in
a fresh temporary project, and one CSV row records its status, losses and epochs.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FIELDS = ["point", "seed", "epochs", "early_stopping", "matmul_precision", "status", "loss",
          "val_loss", "val_accuracy", "trained_epochs", "message", "seconds", "backend",
          "classifier"]


def rerun(point, seed, args) -> dict:
    """One study trial of ``point`` in a throwaway project: its CSV row."""
    import keras

    from zoo.tuning.search import make_tuner

    found = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        tuner = make_tuner("seed000", args.dataset, project_dir=folder, epochs=args.epochs,
                           seed=seed, evaluate_test=False, early_stopping=args.early_stopping,
                           indices=[point], on_trial=found.append, fail_at_chance=True)
        tuner.search(verbose=0)
        (trial,) = found
        # which softmax the net ended in (the zoo's, or Keras's before the zoo had one)
        act = tuner.hypermodel.build(trial.hyperparameters).get_layer("predictions").activation
    classifier = ("zoo softmax" if act.__module__.startswith("zoo.") else
                  f"keras {act.__name__}")
    metrics = trial.metrics

    def value(key):
        return metrics.get_last_value(key) if metrics.exists(key) else ""

    message = (trial.message or "").strip().splitlines()
    return {"point": point, "seed": seed, "epochs": args.epochs,
            "early_stopping": args.early_stopping, "matmul_precision": args.matmul_precision,
            "status": trial.status, "loss": value("loss"), "val_loss": value("val_loss"),
            "val_accuracy": value("val_accuracy"), "trained_epochs": value("epochs"),
            "message": message[-1] if message else "",
            "seconds": round(time.perf_counter() - start, 1),
            "backend": keras.backend.backend(), "classifier": classifier}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.rerun_points",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--points", required=True, help="comma-separated grid indices")
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--early-stopping", type=int, default=2, help="patience in epochs")
    p.add_argument("--matmul-precision", choices=("default", "high", "highest"),
                   default="default", help="JAX only")
    p.add_argument("--out", required=True, help="CSV file (appended)")
    args = p.parse_args(argv)
    if os.path.exists(args.out):  # append only under the same columns, checked before training
        with open(args.out, newline="") as f:
            header = next(csv.reader(f), [])
        if header != FIELDS:
            p.error(f"{args.out} has other columns ({','.join(header)}); write a new file")
    if args.matmul_precision != "default":
        os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = args.matmul_precision

    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for point in (int(i) for i in args.points.split(",")):
            row = rerun(point, seed, args)
            print(",".join(str(row[f]) for f in FIELDS), flush=True)
            rows.append(row)
    new = not os.path.exists(args.out)
    with open(args.out, "a", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        if new:
            w.writeheader()
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
