"""Images per second that the two training-batch pipelines deliver, without a model.

    python -m benchmarks.pipelines --repeats 3 --out benchmarks/results/pipelines_cpu.csv

``zoo.train.fit`` batches through ``tf.data`` where TensorFlow is installed and through NumPy
(``zoo.data.batches.ArrayBatches``) where it is not -- the lent GPU machines. A pipeline that
delivers fewer images per second than the model trains on starves it: ResNet-20 trains at
about 140 CIFAR-sized images/s on 2 CPU cores (benchmarks/results/throughput_cpu.csv); a GPU
trains far faster (not measured here). Each row times full epochs of batches (shuffled, and
for the CIFAR-sized images padded, cropped and flipped) consumed as NumPy arrays, after one
epoch of warm-up; the median and fastest of ``repeats``. tf.data maps the augmentation over
every core; the NumPy batches are made on one thread (Keras's default for a PyDataset), so on
a many-core host the gap would widen.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import statistics
import time

import numpy as np

# (name, examples, image shape, augmentation): the training splits less 10% for validation
CASES = (("mnist", 54_000, (28, 28, 1), None),
         ("cifar10", 45_000, (32, 32, 3), "crop_flip"))
FIELDS = ["data", "pipeline", "augment", "batch_size", "examples", "median_images_per_s",
          "max_images_per_s", "repeats", "cpus", "date"]


def _epoch_seconds(batches, pipeline) -> tuple[float, int]:
    start = time.perf_counter()
    seen = 0
    if pipeline == "numpy":
        for i in range(len(batches)):
            seen += len(batches[i][1])
        batches.on_epoch_end()
    else:
        for _, y in batches.as_numpy_iterator():
            seen += len(y)
    return time.perf_counter() - start, seen


def measure(pipeline, data, examples, shape, augment, batch_size, repeats, seed=0) -> dict:
    from zoo.data.batches import ArrayBatches

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (examples, *shape)).astype(np.float32)
    y = rng.integers(0, 10, examples)
    if pipeline == "numpy":
        batches = ArrayBatches(x, y, batch_size, shuffle=True, augment=augment, seed=seed)
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from zoo.data.datasets import _pipeline, pipeline_name

        if pipeline_name() != "tf.data":
            raise SystemExit("tf.data needs TensorFlow, which is not installed here: "
                             "--pipelines numpy")

        batches = _pipeline(x, y, batch_size, True, augment, seed)
    _epoch_seconds(batches, pipeline)  # warm-up: tf.data traces its functions
    rates = []
    for _ in range(repeats):
        seconds, seen = _epoch_seconds(batches, pipeline)
        if seen != examples:
            raise SystemExit(f"{pipeline}: an epoch gave {seen} examples, not {examples}")
        rates.append(examples / seconds)
    return {"data": data, "pipeline": pipeline, "augment": augment or "none",
            "batch_size": batch_size, "examples": examples,
            "median_images_per_s": round(statistics.median(rates)),
            "max_images_per_s": round(max(rates)), "repeats": repeats,
            "cpus": os.cpu_count(), "date": datetime.date.today().isoformat()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--pipelines", default="tf.data,numpy")
    parser.add_argument("--out", help="CSV file to write (default: print only)")
    args = parser.parse_args(argv)
    rows = [measure(p, data, n, shape, augment, args.batch_size, args.repeats)
            for data, n, shape, augment in CASES for p in args.pipelines.split(",")]
    if args.out:
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    width = max(len(f) for f in FIELDS[:6])
    print(" | ".join(f"{f:>{width}}" for f in FIELDS[:6]))
    for row in rows:
        print(" | ".join(f"{row[f]!s:>{width}}" for f in FIELDS[:6]))
    return rows


if __name__ == "__main__":
    main()
