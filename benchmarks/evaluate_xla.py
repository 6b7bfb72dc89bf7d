"""Seconds for one ``zoo.train.evaluate`` of a pretrained model, with and without XLA.

    python -m benchmarks.evaluate_xla --repeats 3 --out benchmarks/results/evaluate_xla_cpu.csv

A user evaluates a model once (a notebook cell, a golden test, ``zoo evaluate``), so each
measurement is a fresh interpreter that loads the model and times its first evaluation on the
full test split, compilation and the split's normalization included (the files are read
once before, so the disk is not timed); the arms alternate run by run, so a drift in the
machine's load hits both; the table gives the median and the fastest of ``repeats`` and the
accuracy, which must be the same both ways. It decides ``evaluate(jit_compile="auto")``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

MODELS = ("resnet20.mnist", "procresnet22.mnist", "dmrnet20.mnist", "preresnet110.mnist")
PROBE = """
import json, sys, time
import keras, zoo
from zoo.train import evaluate
name, jit = sys.argv[1], sys.argv[2] == "True"
model = zoo.load_pretrained(name)
dataset = zoo.pretrained_card(name)["dataset"]["name"]
zoo.data.load(dataset, "test")  # the disk is not what is timed
start = time.perf_counter()
result = evaluate(model, dataset, jit_compile=jit)
seconds = time.perf_counter() - start
print("RESULT=" + json.dumps({"seconds": seconds, "backend": keras.backend.backend(), **result}))
"""
FIELDS = ["model", "jit_compile", "median_s", "min_s", "max_s", "repeats", "accuracy", "loss",
          "backend", "cpus", "date"]


def run_once(name, jit):
    proc = subprocess.run([sys.executable, "-c", PROBE, name, str(jit)], capture_output=True,
                          text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT=")]
    if proc.returncode or not lines:
        raise SystemExit(f"{name} (jit_compile={jit}) failed:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][7:])


def measure(name, repeats):
    """Both arms of one model, alternating run by run."""
    runs = {True: [], False: []}
    for _ in range(repeats):
        for jit in (True, False):
            runs[jit].append(run_once(name, jit))
    accuracy = {jit: {r["accuracy"] for r in rs} for jit, rs in runs.items()}
    if len(accuracy[True] | accuracy[False]) != 1:
        raise SystemExit(f"{name}: XLA and the plain graph disagree: {accuracy}")
    rows = []
    for jit, rs in runs.items():
        seconds = [r["seconds"] for r in rs]
        rows.append({"model": name, "jit_compile": jit,
                     "median_s": round(statistics.median(seconds), 2),
                     "min_s": round(min(seconds), 2), "max_s": round(max(seconds), 2),
                     "repeats": repeats, "accuracy": rs[0]["accuracy"], "loss": rs[0]["loss"],
                     "backend": rs[0]["backend"]})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS), help="pretrained names, comma-separated")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", help="write the table as CSV here")
    args = p.parse_args(argv)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    common = {"cpus": cpus, "date": datetime.date.today().isoformat()}
    rows = [{**row, **common} for name in args.models.split(",")
            for row in measure(name, args.repeats)]
    print(f"{'model':24s} {'XLA':>5s} {'median s':>9s} {'min s':>7s} {'max s':>7s} accuracy")
    for r in rows:
        print(f"{r['model']:24s} {str(r['jit_compile']):>5s} {r['median_s']:9.2f} "
              f"{r['min_s']:7.2f} {r['max_s']:7.2f} {r['accuracy']:.4f}")
    if args.out:
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    print(f"({platform.processor() or platform.machine()}, {cpus} CPUs, {rows[0]['backend']})")


if __name__ == "__main__":
    main()
