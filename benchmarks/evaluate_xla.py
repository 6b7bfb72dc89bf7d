"""Seconds for one ``zoo.train.evaluate`` of a pretrained model, with and without XLA.

    python -m benchmarks.evaluate_xla --repeats 3 --out benchmarks/results/evaluate_xla_cpu.csv

A user evaluates a model once (a notebook cell, a golden test, ``zoo evaluate``), so each
measurement is a fresh interpreter that loads the model and times its first evaluation on the
full test split, compilation included; the table gives the median of ``repeats`` and the
accuracy both ways (they must agree). It decides what ``evaluate(jit_compile="auto")`` does on
this backend.
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
import zoo
from zoo.train import evaluate
name, jit = sys.argv[1], sys.argv[2] == "True"
model = zoo.load_pretrained(name)
dataset = zoo.pretrained_card(name)["dataset"]["name"]
zoo.data.load(dataset, "test")  # reading the files is not what is timed
start = time.perf_counter()
result = evaluate(model, dataset, jit_compile=jit)
print("RESULT=" + json.dumps({"seconds": time.perf_counter() - start, **result}))
"""
FIELDS = ["model", "jit_compile", "median_s", "min_s", "max_s", "repeats", "accuracy", "loss",
          "backend", "cpus", "date"]


def measure(name, jit, repeats):
    runs = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, "-c", PROBE, name, str(jit)], capture_output=True,
                              text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT=")]
        if proc.returncode or not lines:
            raise SystemExit(f"{name} (jit_compile={jit}) failed:\n{proc.stderr[-2000:]}")
        runs.append(json.loads(lines[-1][7:]))
    seconds = [r["seconds"] for r in runs]
    return {"model": name, "jit_compile": jit, "median_s": round(statistics.median(seconds), 2),
            "min_s": round(min(seconds), 2), "max_s": round(max(seconds), 2),
            "repeats": repeats, "accuracy": runs[0]["accuracy"], "loss": runs[0]["loss"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS), help="pretrained names, comma-separated")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", help="write the table as CSV here")
    args = p.parse_args(argv)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    common = {"backend": backend, "cpus": os.cpu_count(),
              "date": datetime.date.today().isoformat()}
    rows = []
    for name in args.models.split(","):
        for jit in (True, False):  # alternating, so a drift in the machine's load hits both
            rows.append({**measure(name, jit, args.repeats), **common})
    print(f"{'model':24s} {'XLA':>5s} {'median s':>9s} {'min s':>7s} {'max s':>7s} accuracy")
    for r in rows:
        print(f"{r['model']:24s} {str(r['jit_compile']):>5s} {r['median_s']:9.2f} "
              f"{r['min_s']:7.2f} {r['max_s']:7.2f} {r['accuracy']:.4f}")
    if args.out:
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    print(f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {backend})")


if __name__ == "__main__":
    main()
