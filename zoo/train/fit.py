"""``zoo.train.fit``: train a zoo model on a dataset with a named recipe, reproducibly.

A run folder records everything needed to trust or repeat the run: ``config.json`` (the
resolved recipe, model, dataset, seed and library versions), ``metrics.csv`` (one row per
epoch, with its seconds), ``results.json`` (test loss/accuracy, time, hardware) and
``model.keras``. Files are written to a temporary name and renamed, so an interrupted run
never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras

import zoo
from zoo import validation as check
from zoo.atomic import read_json, write_atomic, write_json  # noqa: F401 (write_atomic: re-exported)
from zoo.data import dataset_info, load
from zoo.layers import NormPreservingProjection, projected_layers
from zoo.layers.parallel import has_gpu
from zoo.models.stem_head import expects_raw_pixels
from zoo.registry import create_model
from zoo.train.optimizers import make_optimizer
from zoo.train.recipes import get_recipe


@dataclass
class RunResult:
    model: keras.Model
    history: dict
    test_loss: float
    test_accuracy: float
    seconds: float
    run_dir: Path | None


def environment() -> dict:
    """Versions and hardware, recorded with every result."""
    import importlib.metadata as md

    versions = {}
    for pkg in ("keras", "tensorflow-cpu", "tensorflow", "jax", "torch", "numpy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    devices = []
    try:
        devices = [str(d) for d in keras.distribution.list_devices()]
    except Exception:
        pass
    return {
        "zoo": zoo.__version__,
        "backend": keras.backend.backend(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "devices": devices,
        "versions": versions,
    }


def save_model_atomic(model: keras.Model, path: Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build_training_state(model: keras.Model) -> None:
    """Create a compiled model's optimizer and metric variables now, before ``fit``.

    On TensorFlow, Keras defers them into the first trace of the train step, and a
    ``tf.function`` that creates variables is traced a second time: building them first
    saves one trace, 4-9 s per fit of a 20-layer net on 2 CPU cores. Same numbers either
    way (the variables start at zero). The JAX and PyTorch trainers already build them
    up front.
    """
    from zoo import compat

    if keras.backend.backend() != "tensorflow" or not compat.can_symbolic_build(model):
        return
    x = keras.KerasTensor((None, *model.input_shape[1:]), dtype="float32")
    y = keras.KerasTensor((None,), dtype="int32")
    try:
        compat.symbolic_build(model, x, y)
    except TypeError:  # a Keras whose private signature changed: fit() builds them itself
        pass


CHECKPOINT_DIR = "checkpoint"
RUN_FILES = ("config.json", "metrics.csv", "model.keras", "results.json", CHECKPOINT_DIR,
             "tensorboard")


class TrainingDiverged(ValueError):
    """The training loss became NaN or infinite."""


def _prepare_run_dir(run_dir: Path, config: dict, *, resume: bool, overwrite: bool):
    """Refuse to mix two runs in one folder: an existing run is continued (``resume``, same
    settings), replaced (``overwrite``), or left alone with one clear error."""
    existing = [p.name for p in run_dir.iterdir()] if run_dir.is_dir() else []
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir} is a file, not a folder")
    if existing and not (resume or overwrite):
        raise ValueError(f"{run_dir} already holds a run ({', '.join(sorted(existing)[:4])}); "
                         "pass --resume to continue it or --overwrite to replace it")
    if resume and (run_dir / "config.json").is_file():
        old = read_json(run_dir / "config.json")
        keys = ("model", "model_config", "dataset", "train_examples", "recipe", "seed",
                "mixed_precision", "augment")
        changed = [k for k in keys if json.loads(json.dumps(old.get(k))) !=
                   json.loads(json.dumps(config[k]))]
        if changed:
            raise ValueError(f"{run_dir} holds a run with other {', '.join(changed)}; resume "
                             "it with its own settings, or pass --overwrite")
        _add_seconds_column(run_dir / "metrics.csv")
    if overwrite:
        for name in RUN_FILES:
            path = run_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)


class EpochSeconds(keras.callbacks.Callback):
    """Puts each epoch's wall-clock seconds into its logs as ``seconds``, so ``metrics.csv``
    times every epoch and a run resumed in a later session still adds up its whole time."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = round(time.perf_counter() - self._start, 3)


def _add_seconds_column(csv_path):
    """A run begun before epochs were timed gets an empty ``seconds`` column, so the rows that
    its resumed epochs append match the header."""
    if not csv_path.is_file():
        return
    lines = csv_path.read_text().splitlines()
    if lines and "seconds" not in lines[0].split(","):
        # the CSV logger orders its columns: epoch, then the logs' keys sorted
        header = lines[0].split(",")
        keys = sorted(header[1:] + ["seconds"])
        at = 1 + keys.index("seconds")
        rows = [line.split(",") for line in lines]
        rows[0].insert(at, "seconds")
        for row in rows[1:]:
            row.insert(at, "")
        write_atomic(csv_path, "".join(",".join(row) + "\r\n" for row in rows))  # as it writes


def _run_seconds(csv_path, fallback):
    """The sum of the epochs' ``seconds`` in a run's metrics.csv (every session of a resumed
    run), or ``fallback`` when some epoch was not timed."""
    import csv

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        return sum(float(row["seconds"]) for row in rows) if rows else fallback
    except (KeyError, TypeError, ValueError):
        return fallback


def fit(
    model,
    dataset,
    *,
    recipe="quick",
    epochs=None,
    batch_size=None,
    learning_rate=None,
    seed=0,
    subset=None,
    test_subset=None,
    data_dir=None,
    out_dir=None,
    mixed_precision=False,
    augment="default",
    tensorboard=False,
    validate=True,
    verbose="auto",
    resume=False,
    overwrite=False,
    **model_kwargs,
) -> RunResult:
    """Train ``model`` (a registered name or a built ``keras.Model``) on ``dataset``.

    A name is built for the dataset's image shape and number of classes (``model_kwargs``
    override builder arguments). Returns the trained model, its history and the test-split
    metrics; with ``out_dir`` also writes a run folder. ``mixed_precision`` (float16 compute
    on GPU, bfloat16 on CPU) needs a name, since the policy applies when layers are built.

    A run folder is checkpointed after every epoch (Keras ``BackupAndRestore``), so a run that
    was killed, or failed to save its model (a full disk), continues with ``resume=True``
    from its last finished epoch. A folder that already holds a run is refused unless
    ``resume`` (same settings) or ``overwrite`` says what to do with it. A loss that turns
    NaN stops training (``TerminateOnNaN``) and raises; nothing is saved as if it were fine.

    ``augment``: the training split's augmentation, "default" (the papers': pad-4 crop and
    flip for CIFAR, crop for SVHN, none for MNIST-like data), "crop_flip", "crop" or None.
    """
    for key in ("input_shape", "num_classes"):
        if key in model_kwargs:
            raise ValueError(f"{key}= comes from the dataset ({dataset}); drop it from fit()")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other")
    recipe = get_recipe(recipe).with_overrides(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate
    )
    check.positive_int("epochs", recipe.epochs)
    check.positive_int("batch_size", recipe.batch_size)
    info = dataset_info(dataset)
    keras.utils.set_random_seed(seed)

    # Models built here normalize inside themselves (raw 0-255 pixels in), so a saved model
    # needs no preprocessing code; a built model gets what it expects.
    if isinstance(model, str):
        model_kwargs.setdefault("input_normalization", dataset)
        raw = model_kwargs["input_normalization"] is not None
    else:
        raw = expects_raw_pixels(model)
    normalize = None if raw else "standardize"
    # Data first: a missing dataset should fail before minutes of model building.
    train = load(dataset, "train", data_dir=data_dir, subset=subset, seed=seed,
                 batch_size=recipe.batch_size, normalize=normalize, augment=augment)
    if augment == "default":
        augment = info.augment
    x_test, y_test = load(dataset, "test", data_dir=data_dir, subset=test_subset, seed=seed,
                          normalize=normalize)
    n_train = info.sizes["train"] if subset is None else min(subset, info.sizes["train"])
    steps = int(train.cardinality()) if hasattr(train, "cardinality") else None

    model_name = model if isinstance(model, str) else model.name
    previous_policy = keras.config.dtype_policy()
    if isinstance(model, str):
        if mixed_precision:
            keras.config.set_dtype_policy(
                "mixed_float16" if has_gpu() else "mixed_bfloat16")
        try:
            model = create_model(model, input_shape=info.shape, num_classes=info.num_classes,
                                 **model_kwargs)
        finally:
            keras.config.set_dtype_policy(previous_policy)
    elif mixed_precision:
        raise ValueError("mixed_precision=True needs a model name, not a built model")

    model.compile(
        optimizer=make_optimizer(recipe, steps or max(1, n_train // recipe.batch_size),
                                 recipe.epochs),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    build_training_state(model)
    callbacks = [EpochSeconds()]  # first, so that the CSV logger below records its column
    projection = None
    if projected_layers(model):
        projection = NormPreservingProjection(recipe.projection_probability, seed=seed)
        callbacks.append(projection)
    run_dir = None
    if out_dir is not None:
        run_dir = Path(out_dir)
        config = {
            "model": model_name,
            "model_config": model_kwargs,
            "params": int(model.count_params()),
            "dataset": dataset,
            "train_examples": int(n_train),
            "test_examples": int(len(y_test)),
            "recipe": recipe.to_dict(),
            "seed": seed,
            "mixed_precision": bool(mixed_precision),
            "augment": augment,
            "environment": environment(),
        }
        _prepare_run_dir(run_dir, config, resume=resume, overwrite=overwrite)
        write_json(run_dir / "config.json", config)
        # every epoch: weights, optimizer and epoch, so that --resume continues exactly
        callbacks.append(keras.callbacks.BackupAndRestore(str(run_dir / CHECKPOINT_DIR),
                                                          delete_checkpoint=False))
        callbacks.append(keras.callbacks.CSVLogger(str(run_dir / "metrics.csv"), append=resume))
        if tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    callbacks.append(keras.callbacks.TerminateOnNaN())
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2

    start = time.perf_counter()
    # shuffle=False: the tf.data pipeline already reshuffles every epoch, seeded
    # Per-epoch validation on the test split is for monitoring only (no model selection);
    # validate=False skips it, the final test evaluation always runs.
    history = model.fit(train, epochs=recipe.epochs, shuffle=False,
                        validation_data=(x_test, y_test) if validate else None,
                        callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    losses = history.history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise TrainingDiverged(
            f"training diverged: the loss became {losses[-1]} in epoch {len(losses)} "
            f"(learning rate {recipe.learning_rate:g}); nothing was saved as a result")
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    result = RunResult(model, history.history, float(test_loss), float(test_accuracy),
                       seconds, run_dir)
    if run_dir is not None:
        save_model_atomic(model, run_dir / "model.keras")
        summary = {
            "test_loss": result.test_loss,
            "test_accuracy": result.test_accuracy,
            # all epochs, also those of earlier sessions of a resumed run
            "train_seconds": round(_run_seconds(run_dir / "metrics.csv", seconds), 2),
            "epochs": recipe.epochs,
            "projections_applied": projection.applied if projection else 0,
        }
        write_json(run_dir / "results.json", summary)
        shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)  # the run is complete
    return result


def evaluate(model, dataset, *, split="test", subset=None, seed=0, data_dir=None,
             batch_size=256, jit_compile="auto") -> dict:
    """Loss and accuracy of ``model`` (a ``keras.Model`` or a ``.keras`` path) on a split.

    ``jit_compile="auto"`` evaluates through XLA except on PyTorch: the same numbers, 1.5-2.5x
    sooner on CPU (ProcResNet-22 on 10,000 images: 8.5 s with the compilation, 13 s without).
    """
    if jit_compile == "auto":
        jit_compile = keras.backend.backend() != "torch"
    elif not isinstance(jit_compile, bool):
        raise ValueError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}")
    if not isinstance(model, keras.Model):
        from zoo.saving import load_model

        model = load_model(model)
    info = dataset_info(dataset)
    if tuple(model.input_shape[1:]) != info.shape:
        raise ValueError(
            f"model expects inputs of shape {tuple(model.input_shape[1:])}, but {dataset} "
            f"images are {info.shape}"
        )
    outputs = model.output_shape  # one probability per class, or the loss is nan
    if not (isinstance(outputs, tuple) and len(outputs) == 2 and outputs[1] == info.num_classes):
        raise ValueError(f"model outputs shape {outputs}, but {dataset} has {info.num_classes} "
                         f"classes: it needs one output of shape (None, {info.num_classes})")
    x, y = load(dataset, split, data_dir=data_dir, subset=subset, seed=seed,
                normalize=None if expects_raw_pixels(model) else "standardize")
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit_compile)
    loss, accuracy = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy), "examples": int(len(y))}
