"""Training and inference throughput of zoo models, per backend, measured side by side.

    python -m benchmarks.throughput --models resnet20,parallel_resnet20 \
        --backends tensorflow,jax --batch 128 --out benchmarks/results/throughput_cpu.csv

Every (backend, model, precision) runs in a fresh subprocess, so peak memory is that
model's own and backends never share a process. Each measurement warms up (tracing,
compilation), then takes the median of ``--repeats`` timings of ``--steps`` steps.
Besides zoo names, ``handwritten_resnet20`` is a minimal ResNet-20 written here in plain
Keras (the overhead reference) and ``NAME@unfused`` builds a parallel model with one layer
per branch. The ratios asked of the zoo are printed after the table and written next to
the CSV (``*_ratios.csv``); the targeted ones (zoo vs hand-written, fused vs per-branch)
are re-measured with both models in one process, timed in alternating rounds, because
separate processes minutes apart differ by more than the effect. ``--accuracy-epochs`` adds the sequential-vs-parallel race:
time per epoch and test accuracy after equal epochs on MNIST.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FIELDS = ["model", "backend", "device", "precision", "batch", "input", "params", "gflops_per_image",
          "train_images_per_s", "infer_images_per_s", "train_step_ms", "infer_step_ms",
          "peak_memory_mb", "memory_kind", "keras", "backend_version", "zoo", "cpus", "date"]


# ---- the hand-written reference ---------------------------------------------------------

def handwritten_resnet20(input_shape, num_classes=10):
    """ResNet-20 in plain Keras: the same layers as zoo's resnet20 (1x1 projection at the
    two transitions), so any speed difference is the zoo's overhead."""
    import keras
    from keras import layers

    def conv(x, filters, k, stride=1):
        return layers.Conv2D(filters, k, stride, padding="same", use_bias=False,
                             kernel_initializer="he_normal")(x)

    def bn(x):
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)

    inputs = keras.Input(input_shape)
    x = layers.ReLU()(bn(conv(inputs, 16, 3)))
    for stage, filters in enumerate((16, 32, 64)):
        for unit in range(3):
            stride = 2 if stage > 0 and unit == 0 else 1
            shortcut = x
            if stride != 1:
                shortcut = bn(conv(x, filters, 1, stride))
            y = layers.ReLU()(bn(conv(x, filters, 3, stride)))
            y = bn(conv(y, filters, 3))
            x = layers.ReLU()(layers.Add()([shortcut, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def build(name, input_shape):
    import zoo

    if name == "handwritten_resnet20":
        return handwritten_resnet20(input_shape)
    base, _, variant = name.partition("@")
    kwargs = {"fused": False} if variant == "unfused" else {}
    if variant not in ("", "unfused"):
        raise ValueError(f"unknown variant {variant!r} in {name!r} (only @unfused)")
    return zoo.create_model(base, input_shape=input_shape, **kwargs)


# ---- one measurement (runs in its own process) ------------------------------------------

def _device():
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        return d, f"{d.platform}:{d.device_kind}"
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return None, f"gpu:{torch.cuda.get_device_name()}"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return None, "gpu:" + tf.config.experimental.get_device_details(gpus[0]).get(
                "device_name", "GPU")
    return None, f"cpu:{_cpu_name()}"


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _median_time(fn, steps, repeats):
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        samples.append((time.perf_counter() - start) / steps)
    return statistics.median(samples)


def _batch(batch, input_shape, precision):
    """Set the precision policy and return one fixed random batch (x, y)."""
    import keras
    import numpy as np

    if precision == "mixed_bfloat16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *input_shape)).astype("float32")
    return x, rng.integers(0, 10, size=(batch,))


def _compiled(name, input_shape):
    import keras

    from zoo.train import ProbabilityCrossentropy  # the loss every zoo training uses

    model = build(name, input_shape)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=ProbabilityCrossentropy())
    return model


def measure(name, batch, input_shape, precision, steps, repeats, warmup):
    import importlib.metadata as md

    import keras

    import zoo
    from zoo.models.complexity import flops, parameter_counts

    x, y = _batch(batch, input_shape, precision)
    model = _compiled(name, input_shape)
    params = parameter_counts(model)["trainable"]
    gflops = flops(model) / 1e9
    for _ in range(warmup):
        model.train_on_batch(x, y)  # returns host values: every step is synchronized
        model.predict_on_batch(x)
    train = _median_time(lambda: model.train_on_batch(x, y), steps, repeats)
    infer = _median_time(lambda: model.predict_on_batch(x), steps, repeats)
    device, device_name = _device()
    backend = keras.backend.backend()
    if device is not None and device.platform == "gpu":
        peak, kind = device.memory_stats().get("peak_bytes_in_use", 0) / 2**20, "device"
    else:
        peak, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "host_rss"
    package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    try:
        version = md.version(package)
    except md.PackageNotFoundError:
        version = md.version("tensorflow-cpu")
    return {
        "model": name, "backend": backend, "device": device_name, "precision": precision,
        "batch": batch, "input": "x".join(map(str, input_shape)), "params": params,
        "gflops_per_image": round(gflops, 4),
        "train_images_per_s": round(batch / train, 1), "infer_images_per_s": round(batch / infer, 1),
        "train_step_ms": round(1000 * train, 2), "infer_step_ms": round(1000 * infer, 2),
        "peak_memory_mb": round(peak, 1), "memory_kind": kind, "keras": keras.__version__,
        "backend_version": version, "zoo": zoo.__version__, "cpus": os.cpu_count(),
        "date": datetime.date.today().isoformat(),
    }


def paired_ratio(name_a, name_b, batch, input_shape, precision, steps, repeats, warmup):
    """Training throughput of ``name_a`` over ``name_b``, both built in this process and timed
    in alternating rounds (A, B, A, B, ...), so drift in the machine's load hits both alike.
    Returns the median of the per-round ratios and their range."""
    x, y = _batch(batch, input_shape, precision)
    steps_of = []
    for name in (name_a, name_b):
        model = _compiled(name, input_shape)
        for _ in range(warmup):
            model.train_on_batch(x, y)
        steps_of.append(lambda m=model: m.train_on_batch(x, y))
    per_round = []
    for _ in range(repeats):
        t_a = _median_time(steps_of[0], steps, 1)
        t_b = _median_time(steps_of[1], steps, 1)
        per_round.append(t_b / t_a)
    return {"value": round(statistics.median(per_round), 3), "low": round(min(per_round), 3),
            "high": round(max(per_round), 3), "rounds": repeats}


def accuracy_race(epochs, subset, batch):
    """Sequential vs parallel ResNet-20 on MNIST: seconds per epoch and test accuracy after
    the same epochs, same seed, same data."""
    import zoo

    rows = []
    for name in ("resnet20", "parallel_resnet20"):
        r = zoo.train.fit(name, "mnist", recipe="zoo", epochs=epochs, subset=subset,
                          batch_size=batch, seed=0, validate=False, verbose=0)
        rows.append({"model": name, "epochs": epochs, "train_examples": subset,
                     "seconds_per_epoch": round(r.seconds / epochs, 2),
                     "test_accuracy": round(r.test_accuracy, 4)})
    return rows


# ---- the driver -------------------------------------------------------------------------

def _spawn(backend, args_list):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-m", "benchmarks.throughput", *args_list],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1:] or ["(no message)"]
        print(f"  {backend}: failed: {tail[0]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


# Dense tensor-core peaks, TFLOP/s, from the vendors' datasheets (the "with sparsity"
# figures halved). float32 is held against the TF32 peak: on these chips XLA runs float32
# convolutions on TF32 tensor cores by default (plain FP32 peaks are 7-8x lower).
PEAK_TFLOPS = (
    ("H100 PCIe", {"float32": 378.0, "mixed_bfloat16": 756.0}),
    ("H100", {"float32": 494.7, "mixed_bfloat16": 989.4}),  # SXM
    ("H200", {"float32": 494.7, "mixed_bfloat16": 989.4}),
    ("A100", {"float32": 156.0, "mixed_bfloat16": 312.0}),
)


def flop_rate(row) -> dict:
    """Achieved training TFLOP/s (a training step costs ~3 forward passes: forward, and the
    gradients with respect to activations and to weights) and its share of the chip's peak
    where the chip is known (GPUs above; CPUs have no single peak, left empty)."""
    achieved = 3 * float(row["gflops_per_image"]) * float(row["train_images_per_s"]) / 1000
    peak = next((p.get(row["precision"]) for name, p in PEAK_TFLOPS
                 if str(row["device"]).startswith("gpu") and name in str(row["device"])), None)
    return {"train_tflops": round(achieved, 4), "peak_tflops": peak or "",
            "peak_share": round(achieved / peak, 4) if peak else ""}


# (what, numerator, denominator, target): the zoo's targets, measured as interleaved pairs
PAIRS = (
    ("zoo / hand-written ResNet-20 (training)", "resnet20", "handwritten_resnet20", 1.0),
    ("fused / per-branch parallel_resnet20 (training)", "parallel_resnet20",
     "parallel_resnet20@unfused", 1.0),
    ("fused / per-branch parallel_resnet56 (training)", "parallel_resnet56",
     "parallel_resnet56@unfused", 1.0),
)


def ratios(rows, paired=None):
    """The side-by-side ratios of issue targets, from rows of one run. ``paired`` maps
    (backend, what) to an interleaved measurement from :func:`paired_ratio`, which then
    replaces the ratio of the two separate rows (kept as ``separate``)."""
    paired = paired or {}
    def get(model, backend, precision="float32"):
        for r in rows:
            if (r["model"], r["backend"], r["precision"]) == (model, backend, precision):
                return r
        return None

    out = []
    backends = sorted({r["backend"] for r in rows})
    for b in backends:
        for what, num, den, target in (
            *PAIRS,
            ("parallel / sequential ResNet-20 (training)", "parallel_resnet20", "resnet20", None),
        ):
            a, c = get(num, b), get(den, b)
            if a and c:
                if what.startswith("fused") and str(a.get("device", "")).startswith("gpu"):
                    target = 1.5  # on a GPU the fusion must pay off, not just break even
                separate = round(a["train_images_per_s"] / c["train_images_per_s"], 3)
                pair = paired.get((b, what), {})
                out.append({"backend": b, "ratio": what, "value": pair.get("value", separate),
                            "low": pair.get("low", ""), "high": pair.get("high", ""),
                            "separate": separate, "target": target})
    for model in sorted({r["model"] for r in rows}):
        tf_row = get(model, "tensorflow")
        for b in ("jax", "torch"):
            other = get(model, b)
            if tf_row and other:
                value = round(other["train_images_per_s"] / tf_row["train_images_per_s"], 3)
                out.append({"backend": f"{b} vs tensorflow", "ratio": f"{model} training",
                            "value": value, "low": "", "high": "", "separate": value,
                            "target": None})
    return out


def _print_table(rows, fields):
    widths = {f: max(len(f), *(len(str(r.get(f, ""))) for r in rows)) for f in fields}
    print("  ".join(f.ljust(widths[f]) for f in fields))
    for r in rows:
        print("  ".join(str(r.get(f, "")).ljust(widths[f]) for f in fields))


def _parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet20,handwritten_resnet20,parallel_resnet20,"
                   "parallel_resnet20@unfused,dmrnet20,procresnet22,shallow_sequential")
    p.add_argument("--backends", default="tensorflow")
    p.add_argument("--precision", default="float32", help="float32 and/or mixed_bfloat16")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--input", default="32,32,3")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--accuracy-epochs", type=int, default=0,
                   help="also race resnet20 vs parallel_resnet20 on MNIST for this many epochs")
    p.add_argument("--accuracy-subset", type=int, default=5000)
    p.add_argument("--out", help="CSV file (ratios go to <out stem>_ratios.csv)")
    p.add_argument("--pair-rounds", type=int, default=7,
                   help="alternating rounds for each targeted ratio (0: ratios of the table only)")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one model here
    p.add_argument("--pair", help=argparse.SUPPRESS)  # internal: interleave two models here
    return p


def main(argv=None):
    p = _parser()
    args = p.parse_args(argv)
    shape = tuple(int(v) for v in args.input.split(","))
    if args.one:
        model, precision = args.one.split("|")
        row = measure(model, args.batch, shape, precision, args.steps, args.repeats, args.warmup)
        print(json.dumps(row))
        return 0
    if args.pair:
        pair, precision = args.pair.split("|")
        a, b = pair.split(",")
        print(json.dumps(paired_ratio(a, b, args.batch, shape, precision, args.steps,
                                      args.pair_rounds, args.warmup)))
        return 0

    common = ["--batch", str(args.batch), "--input", args.input, "--steps", str(args.steps),
              "--warmup", str(args.warmup)]
    rows = []
    for backend in args.backends.split(","):
        for precision in args.precision.split(","):
            for model in args.models.split(","):
                print(f"measuring {model} on {backend} ({precision}) ...", file=sys.stderr)
                row = _spawn(backend, ["--one", f"{model}|{precision}", *common,
                                       "--repeats", str(args.repeats)])
                if row:
                    rows.append(row)
    for row in rows:
        row.update(flop_rate(row))
    _print_table(rows, ["model", "backend", "precision", "params", "gflops_per_image",
                        "train_images_per_s", "infer_images_per_s", "train_step_ms",
                        "peak_memory_mb", "train_tflops", "peak_share"])
    paired = {}
    models = args.models.split(",")
    for backend in args.backends.split(","):
        for what, num, den, _ in PAIRS:
            if num in models and den in models and args.pair_rounds:
                print(f"pairing {num} with {den} on {backend} ...", file=sys.stderr)
                found = _spawn(backend, ["--pair", f"{num},{den}|float32", *common,
                                         "--pair-rounds", str(args.pair_rounds)])
                if found:
                    paired[(backend, what)] = found
    found = ratios(rows, paired)
    print()
    _print_table(found, ["backend", "ratio", "value", "low", "high", "separate", "target"])
    race = accuracy_race(args.accuracy_epochs, args.accuracy_subset, args.batch) \
        if args.accuracy_epochs else []
    if race:
        print()
        _print_table(race, list(race[0]))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        for path, table in ((out, rows), (out.with_name(out.stem + "_ratios.csv"), found),
                            (out.with_name(out.stem + "_race.csv"), race)):
            if table:
                with open(path, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(table[0]))
                    w.writeheader()
                    w.writerows(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
