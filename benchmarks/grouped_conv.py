"""Per-branch convolutions of the fused parallel stage: grouped vs n dense ("split") convs.

Decides ``ParallelResidualStage(grouped_implementation="auto")``. Prints a CSV table and
writes it to --out. Run on each backend:

    KERAS_BACKEND=tensorflow python -m benchmarks.grouped_conv --out benchmarks/results/grouped_conv_cpu_tensorflow.csv
    KERAS_BACKEND=jax        python -m benchmarks.grouped_conv --out benchmarks/results/grouped_conv_cpu_jax.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from zoo.layers import BranchConv2D  # noqa: E402

CASES = [(3, 16), (3, 64), (9, 16), (18, 16), (9, 32)]  # (branches, channels per branch)


def compiled(fn):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    return fn


def time_ms(fn, x, repeats):
    for _ in range(3):  # warm-up: tracing / compilation
        keras.ops.convert_to_numpy(fn(x))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(fn(x))
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out")
    args = p.parse_args(argv)
    rows = []
    for n, c in CASES:
        x = keras.random.normal((args.batch, args.size, args.size, n * c), seed=0)
        row = {"backend": keras.backend.backend(), "device": platform.processor() or platform.machine(),
               "cpus": os.cpu_count(), "branches": n, "channels": c, "batch": args.batch,
               "size": args.size, "keras": keras.__version__}
        for impl in ("grouped", "split"):
            layer = BranchConv2D(n, c, 3, implementation=impl)
            layer.build(x.shape)
            row[f"{impl}_ms"] = round(time_ms(compiled(layer.call), x, args.repeats), 2)
        row["grouped_over_split"] = round(row["grouped_ms"] / row["split_ms"], 2)
        rows.append(row)
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
