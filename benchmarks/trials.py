"""Seconds per tuner trial, one search at a time and several sharing one machine.

    python -m benchmarks.trials --grid seed000 --dataset mnist --sample 32 \
        --concurrency 1,4,8 --out benchmarks/results/trials_gpu.csv

For each concurrency c the same seeded sample of grid points is searched from scratch
with ``zoo tune`` in a fresh project folder: c = 1 is one plain process, c > 1 is
KerasTuner's chief plus c worker processes (``zoo tune --workers c``), which share the
machine (on a GPU, each takes memory as it needs it: see ``zoo.tuning.launch``). The wall
time runs from the first process start to the last exit, so start-up and compilation are
paid for, as they are in a real search. ``amortized_s_per_trial`` is wall time / trials;
``median_fit_s`` is the median of the trials' own ``model.fit`` time.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FIELDS = ["grid", "dataset", "epochs", "subset", "sample", "seed", "concurrency", "trials",
          "completed", "wall_s", "amortized_s_per_trial", "median_fit_s", "backend", "device",
          "keras", "zoo", "cpus", "date"]


def _device_name(backend):
    # Asked in a child process: a JAX parent that touched the GPU would hold 75% of its
    # memory for the whole benchmark, leaving too little for the searches it starts.
    code = ("import sys; sys.path.insert(0, '.'); from benchmarks.throughput import _device; "
            "print(_device()[1])")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    return out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout else "?"


def run_search(concurrency, *, grid, dataset, epochs, sample, seed, subset, validation_fraction,
               project_dir, data_dir=None):
    """One timed search from scratch; returns (wall seconds, results frame)."""
    from zoo import tuning

    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if Path(project_dir).exists():
        shutil.rmtree(project_dir)
    argv = ["tune", "--grid", grid, "--dataset", dataset, "--epochs", str(epochs),
            "--sample", str(sample), "--seed", str(seed), "--project-dir", str(project_dir)]
    for flag, value in (("--subset", subset), ("--validation-fraction", validation_fraction),
                        ("--data-dir", data_dir)):
        if value is not None:
            argv += [flag, str(value)]
    if concurrency > 1:
        argv += ["--workers", str(concurrency)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "zoo.cli", *argv], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RuntimeError(f"zoo tune with concurrency {concurrency} failed: {tail}")
    return wall, tuning.results(project_dir)


def row(concurrency, wall, frame, settings, environment) -> dict:
    """A results row from one timed search."""
    done = frame[frame["status"] == "COMPLETED"] if not frame.empty else frame
    trials = len(frame)
    return {
        **settings,
        "concurrency": concurrency,
        "trials": trials,
        "completed": len(done),
        "wall_s": round(wall, 2),
        "amortized_s_per_trial": round(wall / trials, 3) if trials else "",
        "median_fit_s": round(float(done["seconds"].median()), 3) if len(done) else "",
        **environment,
    }


def _parser():
    p = argparse.ArgumentParser(prog="python -m benchmarks.trials",
                                description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="seed000")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--sample", type=int, default=32, help="grid points per search")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subset", type=int, help="training examples per trial (default: all)")
    p.add_argument("--validation-fraction", type=float)
    p.add_argument("--concurrency", default="1", help="comma-separated, e.g. 1,4,8")
    p.add_argument("--work-dir", help="where the searches run (default: a temporary folder)")
    p.add_argument("--data-dir")
    p.add_argument("--out", help="CSV file")
    return p


def main(argv=None):
    p = _parser()
    args = p.parse_args(argv)
    try:
        levels = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        p.error(f"--concurrency must be comma-separated integers, got {args.concurrency!r}")
    if any(c < 1 for c in levels):
        p.error(f"--concurrency levels must be >= 1, got {args.concurrency!r}")

    import keras

    import zoo

    backend = keras.backend.backend()
    environment = {"backend": backend, "device": _device_name(backend),
                   "keras": keras.__version__, "zoo": zoo.__version__, "cpus": os.cpu_count(),
                   "date": datetime.date.today().isoformat()}
    settings = {"grid": args.grid, "dataset": args.dataset, "epochs": args.epochs,
                "subset": args.subset or "all", "sample": args.sample, "seed": args.seed}
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="zoo-trials-"))
    rows = []
    for c in levels:
        wall, frame = run_search(c, grid=args.grid, dataset=args.dataset, epochs=args.epochs,
                                 sample=args.sample, seed=args.seed, subset=args.subset,
                                 validation_fraction=args.validation_fraction,
                                 project_dir=work / f"concurrency{c}", data_dir=args.data_dir)
        rows.append(row(c, wall, frame, settings, environment))
        r = rows[-1]
        print(f"concurrency {c}: {r['completed']}/{r['trials']} trials in {r['wall_s']} s -> "
              f"{r['amortized_s_per_trial']} s per trial (median fit {r['median_fit_s']} s)",
              flush=True)
    if args.out:
        import io

        from zoo.atomic import write_atomic

        text = io.StringIO()
        writer = csv.DictWriter(text, FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(Path(args.out), text.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
