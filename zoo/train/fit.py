"""``zoo.train.fit``: train a zoo model on a dataset with a named recipe, reproducibly.

A run folder records everything needed to trust or repeat the run: ``config.json`` (the
resolved recipe, model, dataset, seed, validation hold-out and library versions),
``metrics.csv`` (one row per epoch, with its seconds; ``loss``/``accuracy`` are the running
means on the training stream, ``val_*`` come from the part held out of the training split),
``results.json`` (test loss/accuracy on the test split, the last validation numbers, time) and
``model.keras``. Files are written to a temporary name and renamed, so an interrupted run
never leaves a half-written file behind. A folder in use is locked (``.lock``, the kernel's
``flock``): a second process is refused in one line naming the owner.
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
from zoo.data import VALIDATION_FRACTION, dataset_info, holdout, load
from zoo.data.datasets import AUGMENTATIONS, _pipeline
from zoo.layers import NormPreservingProjection, projected_layers
from zoo.layers.parallel import has_gpu
from zoo.locking import LOCK_FILE, ProjectLock
from zoo.models.stem_head import expects_raw_pixels
from zoo.registry import create_model
from zoo.train.optimizers import make_optimizer
from zoo.train.recipes import get_recipe


@dataclass
class RunResult:
    """``test_*``: the test split, measured once after training. ``val_*``: the last epoch on
    the part held out of the training split (None without validation). ``status``: "trained",
    "resumed", "extended" or "finished already" (a resumed finished run: nothing was done)."""

    model: keras.Model
    history: dict
    test_loss: float
    test_accuracy: float
    seconds: float
    run_dir: Path | None
    val_loss: float | None = None
    val_accuracy: float | None = None
    status: str = "trained"


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


# the settings a resumed run must share with the run in its folder (epochs apart: see below)
RESUME_KEYS = ("model", "model_config", "dataset", "train_examples", "recipe", "seed",
               "mixed_precision", "augment", "validation")


def _flatten(value, prefix=""):
    if isinstance(value, dict) and value:
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def _differences(old: dict, new: dict) -> list[str]:
    """``["seed: 0 -> 1", "recipe.learning_rate: 0.1 -> 0.01"]``: every setting of ``new``
    that differs from ``old`` (epochs apart), with both values."""
    as_json = json.loads(json.dumps({k: new.get(k) for k in RESUME_KEYS}))
    a = _flatten({k: old.get(k) for k in RESUME_KEYS})
    b = _flatten(as_json)
    a.pop("recipe.epochs", None)
    b.pop("recipe.epochs", None)
    return [f"{k}: {json.dumps(a.get(k))} -> {json.dumps(b.get(k))}"
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _finished_epochs(run_dir: Path):
    """Epochs a finished run trained (its results.json), None for an unfinished run."""
    if not (run_dir / "results.json").is_file():
        return None
    return int(read_json(run_dir / "results.json")["epochs"])


def _prepare_run_dir(run_dir: Path, config: dict, *, resume: bool, overwrite: bool) -> str:
    """Refuse to mix two runs in one folder: an existing run is continued (``resume``, same
    settings), replaced (``overwrite``), or left alone with one clear error. Returns what to
    do: "new", "resume" (an interrupted run), "extend" (a finished run, more epochs) or
    "finished" (a finished run, the same epochs: nothing to do)."""
    existing = sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_FILE) \
        if run_dir.is_dir() else []
    if existing and not (resume or overwrite):
        raise ValueError(f"{run_dir} already holds a run ({', '.join(existing[:4])}); "
                         "pass --resume to continue it or --overwrite to replace it")
    mode = "new"
    if resume and not existing:
        raise ValueError(f"nothing to resume in {run_dir}: it holds no run; drop --resume to "
                         "start one there")
    if resume and existing:
        if not (run_dir / "config.json").is_file():
            raise ValueError(
                f"{run_dir} holds {', '.join(existing[:4])} but no config.json, so the "
                "settings it was trained with are unknown and --resume could continue it with "
                "another learning rate, seed or epoch count; pass --overwrite to start again")
        old = read_json(run_dir / "config.json")
        changed = _differences(old, config)
        old_epochs = old.get("recipe", {}).get("epochs")
        new_epochs = config["recipe"]["epochs"]
        done = _finished_epochs(run_dir)
        if done is None and old_epochs != new_epochs:
            changed.append(f"epochs: {old_epochs} -> {new_epochs} (finish the run with its own "
                           "epochs first; a finished run can then be extended)")
        if done is not None and new_epochs < done:
            changed.append(f"epochs: {done} -> {new_epochs} (a finished run cannot be "
                           "shortened)")
        if changed:
            raise ValueError(f"{run_dir} holds a run with other settings ({'; '.join(changed)})"
                             "; resume it with its own, or pass --overwrite")
        if done is None:
            mode = "resume"
        elif new_epochs == done:
            mode = "finished"
        else:
            if not (run_dir / "model.keras").is_file():
                raise ValueError(f"{run_dir} is finished but has no model.keras to extend; "
                                 "pass --overwrite to train it again")
            mode = "extend"
        _add_seconds_column(run_dir / "metrics.csv")
    if overwrite:
        for name in RUN_FILES:
            path = run_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    return mode


class RunLock(ProjectLock):
    """``<run folder>/.lock`` while ``fit`` trains in it (see :class:`zoo.locking.ProjectLock`):
    a second process on the same folder -- ``--overwrite`` included -- is refused."""

    def _refuse(self, pid):
        who = f"process {pid}" if pid else "another process"
        return ValueError(f"{self.path.parent} is in use: {who} is training in it; wait for "
                          "it to end, or stop it first")


def _drop_rows_from(csv_path: Path, first_epoch: int) -> None:
    """Keep only the rows of epochs before ``first_epoch`` (0-based), so that epochs trained
    again after a resume are not listed (and timed) twice."""
    if not csv_path.is_file():
        return
    lines = csv_path.read_text().splitlines()
    if not lines:
        return
    kept = [lines[0]] + [line for line in lines[1:]
                         if line.split(",")[0].isdigit() and int(line.split(",")[0]) < first_epoch]
    if len(kept) != len(lines):
        write_atomic(csv_path, "".join(line + "\r\n" for line in kept))


def _checkpoint_epoch(run_dir: Path) -> int:
    """The epoch an interrupted run's checkpoint continues from (0 without one)."""
    meta = run_dir / CHECKPOINT_DIR / "training_metadata.json"
    try:
        return int(json.loads(meta.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _read_history(csv_path: Path) -> dict:
    import csv

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [float(r[k]) if r[k] not in ("", None) else None for r in rows] for k in keys}


def _copy_training_state(model, saved) -> None:
    """Weights and optimizer state (step, moments) of a finished run's saved model into a
    freshly compiled one, whose optimizer carries the extended schedule."""
    model.set_weights(saved.get_weights())
    if saved.optimizer is None or not saved.optimizer.variables:
        raise ValueError("the finished run's model.keras has no optimizer state to extend from")
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    mine, theirs = model.optimizer.variables, saved.optimizer.variables
    if [tuple(v.shape) for v in mine] != [tuple(v.shape) for v in theirs]:
        raise ValueError("the finished run's optimizer state does not match its recipe's "
                         "optimizer; pass --overwrite to train it again")
    for a, b in zip(mine, theirs):
        a.assign(b)


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
    validation_fraction=VALIDATION_FRACTION,
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
    ``resume`` (same settings) or ``overwrite`` says what to do with it. Resuming a finished
    run with the same settings does nothing (``status`` "finished already"); with a larger
    ``epochs`` it trains on from its last epoch (the optimizer's state carried over, the
    schedule of the new length); any other difference is refused, naming each field
    (``seed: 0 -> 1``). A loss that turns NaN stops training (``TerminateOnNaN``) and raises;
    nothing is saved as if it were fine.

    Validation: ``validation_fraction`` (default ``zoo.data.VALIDATION_FRACTION``, 0.1) of the
    training examples (after ``subset``) is held out -- seeded by ``seed``, stratified by
    class (``zoo.data.holdout``) -- and gives the per-epoch ``val_*`` numbers; the model trains
    on the rest. ``validate=False`` (or ``validation_fraction=0``) trains on all of them and
    measures no validation. The test split is used only for the final ``test_*`` report.

    ``augment``: the training split's augmentation, "default" (the papers': pad-4 crop and
    flip for CIFAR, crop for SVHN, none for MNIST-like data), "crop_flip", "crop" or None.
    """
    for key in ("input_shape", "num_classes"):
        if key in model_kwargs:
            raise ValueError(f"{key}= comes from the dataset ({dataset}); drop it from fit()")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other")
    if resume and epochs is None and out_dir is not None and \
            (Path(out_dir) / "config.json").is_file():
        # --resume alone continues the run as it was set up (or, finished, leaves it be):
        # not to the recipe's default length
        previous = read_json(Path(out_dir) / "config.json").get("recipe", {}).get("epochs")
        epochs = _finished_epochs(Path(out_dir)) or previous
    recipe = get_recipe(recipe).with_overrides(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate
    )
    check.positive_int("epochs", recipe.epochs)
    check.positive_int("batch_size", recipe.batch_size)
    info = dataset_info(dataset)
    if not validate or validation_fraction in (0, None):
        validation_fraction = None
    elif isinstance(validation_fraction, bool) or not isinstance(validation_fraction,
                                                                  (int, float)) \
            or not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be a number in (0, 1) (0 or None: no "
                         f"validation), got {validation_fraction!r}")
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder")
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
    x, y = load(dataset, "train", data_dir=data_dir, subset=subset, seed=seed,
                normalize=normalize)
    x_val = y_val = None
    if validation_fraction:
        (x, y), (x_val, y_val) = holdout(x, y, validation_fraction, seed=seed)
    if augment == "default":
        augment = info.augment
    check.choice("augment", augment, AUGMENTATIONS)
    train = _pipeline(x, y, recipe.batch_size, True, augment, seed)
    x_test, y_test = load(dataset, "test", data_dir=data_dir, subset=test_subset, seed=seed,
                          normalize=normalize)
    n_train = len(y)
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
    validation = None if validation_fraction is None else {
        "split": "train", "fraction": validation_fraction, "examples": int(len(y_val)),
        "seed": seed, "method": "held out of the training split, seeded and stratified by "
                                "class (zoo.data.holdout); the model never trains on it"}
    config = {
        "model": model_name,
        "model_config": model_kwargs,
        "params": int(model.count_params()),
        "dataset": dataset,
        "train_examples": int(n_train),
        "validation": validation,
        "test_examples": int(len(y_test)),
        "test_split": "test (the final report only; never used for validation)",
        "recipe": recipe.to_dict(),
        "seed": seed,
        "mixed_precision": bool(mixed_precision),
        "augment": augment,
        "environment": environment(),
    }
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    data = (train, (x_val, y_val) if validation else None, (x_test, y_test))
    if out_dir is None:
        return _train(model, recipe, data, seed, None, "new", verbose, tensorboard)
    run_dir = Path(out_dir)
    with RunLock(run_dir):
        mode = _prepare_run_dir(run_dir, config, resume=resume, overwrite=overwrite)
        if mode == "finished":
            return _finished_result(run_dir, verbose)
        if mode == "extend":
            history = read_json(run_dir / "config.json").get("extended", [])
            step = {"from_epochs": _finished_epochs(run_dir), "to_epochs": recipe.epochs}
            config["extended"] = history if step in history else [*history, step]
        write_json(run_dir / "config.json", config)
        return _train(model, recipe, data, seed, run_dir, mode, verbose, tensorboard)


def _finished_result(run_dir, verbose) -> RunResult:
    """A finished run resumed with its own settings: read, not trained again."""
    results = read_json(run_dir / "results.json")
    if verbose:
        print(f"{run_dir} already finished its {results['epochs']} epochs with these "
              "settings; nothing to train (a larger epochs extends it)", flush=True)
    from zoo.saving import load_model  # every .keras load is checked there

    model = load_model(run_dir / "model.keras")
    history = _read_history(run_dir / "metrics.csv") if (run_dir / "metrics.csv").is_file() \
        else {}
    return RunResult(model, history, results["test_loss"], results["test_accuracy"], 0.0,
                     run_dir, results.get("val_loss"), results.get("val_accuracy"),
                     "finished already")


def _train(model, recipe, data, seed, run_dir, mode, verbose, tensorboard) -> RunResult:
    train, validation_data, (x_test, y_test) = data
    callbacks = [EpochSeconds()]  # first, so that the CSV logger below records its column
    projection = None
    if projected_layers(model):
        projection = NormPreservingProjection(recipe.projection_probability, seed=seed)
        callbacks.append(projection)
    initial_epoch = 0
    if run_dir is not None:
        if mode == "extend":
            initial_epoch = _finished_epochs(run_dir)
            from zoo.saving import load_model  # every .keras load is checked there

            _copy_training_state(model, load_model(run_dir / "model.keras"))
        # an interrupted run continues from its checkpoint's epoch: rows of later epochs
        # (written before a kill, not checkpointed) are dropped, so no epoch is listed twice
        initial_epoch = max(initial_epoch, _checkpoint_epoch(run_dir))
        _drop_rows_from(run_dir / "metrics.csv", initial_epoch)
        # the log first, then the checkpoint: a kill between them repeats an epoch whose row
        # the line above drops, never loses one
        callbacks.append(keras.callbacks.CSVLogger(str(run_dir / "metrics.csv"),
                                                   append=mode != "new"))
        # every epoch: weights, optimizer and epoch, so that --resume continues exactly
        callbacks.append(keras.callbacks.BackupAndRestore(str(run_dir / CHECKPOINT_DIR),
                                                          delete_checkpoint=False))
        if tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    callbacks.append(keras.callbacks.TerminateOnNaN())

    start = time.perf_counter()
    # shuffle=False: the tf.data pipeline already reshuffles every epoch, seeded.
    # Validation: the part held out of the training split; the test split only at the end.
    history = model.fit(train, epochs=recipe.epochs, initial_epoch=initial_epoch,
                        shuffle=False, validation_data=validation_data,
                        callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    losses = history.history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise TrainingDiverged(
            f"training diverged: the loss became {losses[-1]} in epoch {len(losses)} "
            f"(learning rate {recipe.learning_rate:g}); nothing was saved as a result")
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    val_loss = history.history.get("val_loss", [None])[-1] if validation_data else None
    val_accuracy = history.history.get("val_accuracy", [None])[-1] if validation_data else None
    status = {"new": "trained", "resume": "resumed", "extend": "extended"}[mode]
    result = RunResult(model, history.history, float(test_loss), float(test_accuracy),
                       seconds, run_dir, val_loss, val_accuracy, status)
    if run_dir is not None:
        save_model_atomic(model, run_dir / "model.keras")
        summary = {
            "test_loss": result.test_loss,
            "test_accuracy": result.test_accuracy,
            "test_split": "test",
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "validation_split": "held out of the training split" if validation_data else None,
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
