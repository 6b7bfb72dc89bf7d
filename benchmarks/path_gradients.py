"""Host memory and time per backward route of ``zoo.analysis.gradients.PathGradients``.

    python -m benchmarks.path_gradients --routes 60 --out benchmarks/results/path_gradients_cpu.csv

Veit et al.'s path sampling backpropagates one forward pass along thousands of routes, so
whatever a backward pass leaves behind adds up (the ensemble_view study's process grew to 22 GB on a
ResNet-110). For each pullback, the table gives seconds and megabytes of resident memory gained
per route on a pre-activation ResNet-20 (32 images, 28x28x1), and the largest difference of
its input gradients from the zoo's pullback:

- ``compiled`` -- the zoo's (TensorFlow): a ``tf.function`` that re-runs the segment's forward
  pass under a fresh tape for every call;
- ``persistent_tape`` -- the obvious alternative it replaced: one persistent tape per segment,
  ``gradient()`` called on it again and again.

Target: under 1 MB gained per route (TensorFlow backend).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import gc
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FIELDS = ["pullback", "backend", "model", "routes", "seconds_per_route", "mb_per_route",
          "max_abs_difference", "target_mb", "met", "date"]
TARGET_MB = 1.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _persistent_tape_vjp(fn, x, reusable=False):
    import tensorflow as tf

    x = tuple(map(tf.convert_to_tensor, x)) if isinstance(x, tuple) else tf.convert_to_tensor(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = fn(x)
    return y, lambda g: (tape.gradient(y, x, output_gradients=g),)


def measure(routes: int) -> list[dict]:
    import keras
    import numpy as np

    import zoo
    from zoo.analysis import gradients

    keras.utils.set_random_seed(0)
    model = zoo.resnet(20, preactivation=True, input_shape=(28, 28, 1))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(32, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=32)
    plan = [gradients.path_routes(gradients.residual_units(model), k % 8, rng)
            for k in range(routes)]
    rows, reference = [], None
    for name in ("compiled", "persistent_tape"):
        original = gradients.vjp
        if name == "persistent_tape":
            gradients.vjp = _persistent_tape_vjp
        try:
            paths = gradients.PathGradients(model, x, y)
            first = keras.ops.convert_to_numpy(paths.input_gradient(plan[0]))  # traces, warms up
            gc.collect()
            start, before = time.perf_counter(), _rss_mb()
            for route in plan:
                paths.input_gradient(route)
            seconds = (time.perf_counter() - start) / routes
            gc.collect()
            gained = (_rss_mb() - before) / routes
        finally:
            gradients.vjp = original
        reference = first if reference is None else reference
        rows.append({"pullback": name, "backend": keras.backend.backend(), "model": "preresnet20",
                     "routes": routes, "seconds_per_route": round(seconds, 4),
                     "mb_per_route": round(gained, 3),
                     "max_abs_difference": float(np.abs(first - reference).max()),
                     "target_mb": TARGET_MB, "met": gained < TARGET_MB,
                     "date": datetime.date.today().isoformat()})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--routes", type=int, default=60)
    p.add_argument("--out", help="write the table as CSV here")
    args = p.parse_args(argv)
    rows = measure(args.routes)
    print(" | ".join(FIELDS))
    for r in rows:
        print(" | ".join(str(r[k]) for k in FIELDS))
    if args.out:
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
