"""``zoo.train.fit``: train a zoo model on a dataset with a named recipe, reproducibly.

A run folder (:class:`zoo.run_folder.RunFolder`, which owns its files) records everything
needed to trust or repeat the run: ``config.json`` (the resolved recipe, model, dataset, seed,
validation hold-out and library versions), ``metrics.csv`` (one row per epoch, with its
seconds; ``loss``/``accuracy`` are the running means on the training stream, ``val_*`` come
from the part held out of the training split), ``results.json`` (test loss/accuracy on the
test split, the last validation numbers, time) and ``model.keras``. Files are written to a
temporary name and renamed, so an interrupted run never leaves a half-written file behind. A
folder in use is locked (``.lock``, the kernel's ``flock``): a second process is refused in
one line naming the owner.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras

from zoo import quiet
from zoo import validation as check
from zoo.data import VALIDATION_FRACTION, dataset_info, holdout, load
from zoo.data.batches import ArrayBatches, EpochSync
from zoo.data.datasets import AUGMENTATIONS, _pipeline
from zoo.environment import environment, has_gpu
from zoo.layers import NormPreservingProjection, projected_layers
from zoo.layers.activations import is_softmax
from zoo.models.complexity import parameter_counts
from zoo.models.stem_head import expects_raw_pixels
from zoo.registry import create_model
from zoo.run_folder import RunFolder, save_model_atomic
from zoo.train.losses import ProbabilityCrossentropy
from zoo.train.optimizers import make_optimizer
from zoo.train.recipes import Recipe, get_recipe


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


class TrainingDiverged(ValueError):
    """The training loss became NaN or infinite."""


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
    """Each epoch's wall-clock seconds, kept in ``times`` (the epochs of this ``model.fit``).
    ``into_logs`` also puts them into the epoch's logs as ``seconds`` (rounded to ms), first
    in the callbacks, so that ``metrics.csv`` times every epoch and a run resumed in a later
    session still adds up its whole time. The tuner's trials leave the logs as Keras wrote
    them (``into_logs=False``): KerasTuner and the search's callbacks see those logs."""

    def __init__(self, into_logs=True):
        super().__init__()
        self.into_logs = into_logs
        self.times = []

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.times.append(seconds)
        if self.into_logs and logs is not None:
            logs["seconds"] = round(seconds, 3)


def compile_for_training(model, optimizer) -> None:
    """Compile ``model`` as every zoo training does -- ``optimizer``, sparse categorical
    cross-entropy (:class:`~zoo.train.losses.ProbabilityCrossentropy`: the same gradient on
    every backend), accuracy -- and build its training state now (:func:`build_training_state`)."""
    model.compile(optimizer=optimizer, loss=ProbabilityCrossentropy(), metrics=["accuracy"])
    build_training_state(model)


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
    _refuse_conflicting(dataset, model_kwargs, resume=resume, overwrite=overwrite)
    run = None if out_dir is None else RunFolder(out_dir)
    if resume and epochs is None and run is not None:
        epochs = run.resumed_epochs()  # --resume alone: the run as it was set up
    recipe = _recipe(recipe, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    info = dataset_info(dataset)
    validation_fraction = _validation_fraction(validate, validation_fraction)
    if run is not None and run.path.exists() and not run.path.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder")
    quiet.set_random_seed(seed)
    # Data first: a missing dataset should fail before minutes of model building.
    data = _data(dataset, _input_normalization(model, model_kwargs, dataset), recipe,
                 seed=seed, subset=subset, test_subset=test_subset, data_dir=data_dir,
                 validation_fraction=validation_fraction, augment=augment)
    model_name = model if isinstance(model, str) else model.name
    model = _model(model, info, mixed_precision, model_kwargs)
    _check_fits(model, info, dataset)
    compile_for_training(model, make_optimizer(recipe, data.steps_per_epoch, recipe.epochs))
    config = _config(model_name, model_kwargs, model, dataset, data, recipe, seed,
                     mixed_precision)
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    if run is None:
        return _train(model, recipe, data, seed, None, "new", verbose, tensorboard)
    with run.lock():
        mode = run.prepare(config, resume=resume, overwrite=overwrite)
        if mode == "finished":
            return _finished_result(run, verbose)
        run.start(config, extending=mode == "extend")
        return _train(model, recipe, data, seed, run, mode, verbose, tensorboard)


# ---- the steps of fit, in order ------------------------------------------------------------


def _refuse_conflicting(dataset, model_kwargs, *, resume, overwrite) -> None:
    for key in ("input_shape", "num_classes"):
        if key in model_kwargs:
            raise ValueError(f"{key}= comes from the dataset ({dataset}); drop it from fit()")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other")


def _recipe(recipe, **overrides) -> Recipe:
    """The named recipe with the arguments given (None: the recipe's own), checked."""
    recipe = get_recipe(recipe).with_overrides(**overrides)
    check.positive_int("epochs", recipe.epochs)
    check.positive_int("batch_size", recipe.batch_size)
    return recipe


def _validation_fraction(validate, fraction):
    """The fraction of the training examples to hold out, or None for no validation."""
    if not validate or fraction in (0, None):
        return None
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
            or not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be a number in (0, 1) (0 or None: no "
                         f"validation), got {fraction!r}")
    return fraction


def _input_normalization(model, model_kwargs, dataset):
    """How to load the images: None (raw 0-255 pixels) for a model that normalizes them
    itself, "standardize" otherwise. Models built here normalize inside themselves (a saved
    model needs no preprocessing code: ``input_normalization`` defaults to the dataset); a
    built model gets what it expects."""
    if isinstance(model, str):
        model_kwargs.setdefault("input_normalization", dataset)
        raw = model_kwargs["input_normalization"] is not None
    else:
        raw = expects_raw_pixels(model)
    return None if raw else "standardize"


@dataclass
class _Data:
    train: object  # the batched, seeded, reshuffled (and augmented) batches
    train_examples: int
    steps_per_epoch: int
    validation: tuple | None  # (x, y) held out of the training split
    validation_fraction: float | None
    test: tuple  # (x, y): the final report only
    augment: str | None  # the augmentation, "default" resolved


def _data(dataset, normalize, recipe, *, seed, subset, test_subset, data_dir,
          validation_fraction, augment) -> _Data:
    x, y = load(dataset, "train", data_dir=data_dir, subset=subset, seed=seed,
                normalize=normalize)
    if subset is not None and subset > len(y):  # else all of them, without a word
        raise ValueError(f"subset {subset:,} is more than the {len(y):,} training images of "
                         f"{dataset}")
    validation = None
    if validation_fraction:
        (x, y), (x_val, y_val) = holdout(x, y, validation_fraction, seed=seed)
        validation = (x_val, y_val)
    if augment == "default":
        augment = dataset_info(dataset).augment
    check.choice("augment", augment, AUGMENTATIONS)
    train = _pipeline(x, y, recipe.batch_size, True, augment, seed)
    x_test, y_test = load(dataset, "test", data_dir=data_dir, subset=test_subset, seed=seed,
                          normalize=normalize)
    steps = int(train.cardinality()) if hasattr(train, "cardinality") else len(train)
    return _Data(train, len(y), steps, validation, validation_fraction, (x_test, y_test),
                 augment)


def _model(model, info, mixed_precision, model_kwargs) -> keras.Model:
    """A registered name built for the dataset (under the mixed precision policy if asked:
    it applies when layers are built), or the built model given."""
    previous_policy = keras.config.dtype_policy()
    if isinstance(model, str):
        if mixed_precision:
            keras.config.set_dtype_policy(
                "mixed_float16" if has_gpu() else "mixed_bfloat16")
        try:
            return create_model(model, input_shape=info.shape, num_classes=info.num_classes,
                                **model_kwargs)
        finally:
            keras.config.set_dtype_policy(previous_policy)
    if mixed_precision:
        raise ValueError("mixed_precision=True needs a model name, not a built model")
    return model


def _config(model_name, model_kwargs, model, dataset, data, recipe, seed,
            mixed_precision) -> dict:
    """The run's config.json: everything needed to trust or repeat it."""
    validation = None if data.validation is None else {
        "split": "train", "fraction": data.validation_fraction,
        "examples": int(len(data.validation[1])), "seed": seed,
        "method": "held out of the training split, seeded and stratified by class "
                  "(zoo.data.holdout); the model never trains on it"}
    return {
        "model": model_name,
        "model_config": model_kwargs,
        "params": parameter_counts(model)["total"],
        "dataset": dataset,
        "train_examples": int(data.train_examples),
        "validation": validation,
        "test_examples": int(len(data.test[1])),
        "test_split": "test (the final report only; never used for validation)",
        "recipe": recipe.to_dict(),
        "seed": seed,
        "mixed_precision": bool(mixed_precision),
        "augment": data.augment,
        "data_pipeline": "numpy" if isinstance(data.train, ArrayBatches) else "tf.data",
        "environment": environment(),
    }


def _finished_result(run: RunFolder, verbose) -> RunResult:
    """A finished run resumed with its own settings: read, not trained again."""
    results = run.results()
    if verbose:
        print(f"{run.path} already finished its {results['epochs']} epochs with these "
              "settings; nothing to train (a larger epochs extends it)", flush=True)
    return RunResult(run.load_model(), run.history(), results["test_loss"],
                     results["test_accuracy"], 0.0, run.path, results.get("val_loss"),
                     results.get("val_accuracy"), "finished already")


def _train(model, recipe, data, seed, run, mode, verbose, tensorboard) -> RunResult:
    callbacks = [EpochSeconds()]  # first, so that the CSV logger below records its column
    if isinstance(data.train, ArrayBatches):  # NumPy batches follow Keras's epoch: a resumed
        callbacks.append(EpochSync(data.train))  # run sees an uninterrupted run's batches
    projection = None
    if projected_layers(model):
        projection = NormPreservingProjection(recipe.projection_probability, seed=seed)
        callbacks.append(projection)
    initial_epoch = 0
    if run is not None:
        initial_epoch = _continue_run(run, model, mode, recipe.epochs)
        callbacks += _run_callbacks(run, mode, tensorboard)
    callbacks.append(keras.callbacks.TerminateOnNaN())

    start = time.perf_counter()
    # shuffle=False: the batches are already reshuffled every epoch, seeded.
    # Validation: the part held out of the training split; the test split only at the end.
    history = model.fit(data.train, epochs=recipe.epochs, initial_epoch=initial_epoch,
                        shuffle=False, validation_data=data.validation,
                        callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    losses = history.history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise TrainingDiverged(
            f"training diverged: the loss became {losses[-1]} in epoch {len(losses)} "
            f"(learning rate {recipe.learning_rate:g}); nothing was saved as a result")
    test_loss, test_accuracy = model.evaluate(*data.test, batch_size=256, verbose=0)
    validated = data.validation is not None
    val_loss = history.history.get("val_loss", [None])[-1] if validated else None
    val_accuracy = history.history.get("val_accuracy", [None])[-1] if validated else None
    status = {"new": "trained", "resume": "resumed", "extend": "extended"}[mode]
    result = RunResult(model, history.history, float(test_loss), float(test_accuracy),
                       seconds, None if run is None else run.path, val_loss, val_accuracy,
                       status)
    if run is not None:
        _finish_run(run, result, recipe, projection, validated)
    return result


def _continue_run(run: RunFolder, model, mode, epochs: int) -> int:
    """The epoch to train from: a finished run's last (its weights and optimizer state copied
    into ``model``), or an interrupted run's checkpoint epoch. The metrics.csv rows of later
    epochs (written before a kill, not checkpointed) are dropped, so no epoch is listed twice."""
    initial_epoch = 0
    if mode == "extend":
        initial_epoch = run.finished_epochs()
        _copy_training_state(model, run.load_model())
    initial_epoch = max(initial_epoch, run.checkpoint_epoch(epochs))
    run.drop_epochs_from(initial_epoch)
    return initial_epoch


def _run_callbacks(run: RunFolder, mode, tensorboard) -> list:
    # the log first, then the checkpoint: a kill between them repeats an epoch whose row
    # _continue_run drops, never loses one
    callbacks = [keras.callbacks.CSVLogger(str(run.metrics_file), append=mode != "new"),
                 # every epoch: weights, optimizer and epoch, so that --resume continues from
                 # there (the NumPy batches exactly; tf.data's shuffle stream starts again)
                 keras.callbacks.BackupAndRestore(str(run.checkpoint_dir),
                                                  delete_checkpoint=False)]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run.tensorboard_dir)))
    return callbacks


def _finish_run(run: RunFolder, result: RunResult, recipe, projection, validated) -> None:
    """model.keras, then results.json: the run is finished (its checkpoint goes)."""
    save_model_atomic(result.model, run.model_file)
    run.finish({
        "test_loss": result.test_loss,
        "test_accuracy": result.test_accuracy,
        "test_split": "test",
        "val_loss": result.val_loss,
        "val_accuracy": result.val_accuracy,
        "validation_split": "held out of the training split" if validated else None,
        # all epochs, also those of earlier sessions of a resumed run
        "train_seconds": round(run.train_seconds(fallback=result.seconds), 2),
        "epochs": recipe.epochs,
        "projections_applied": projection.applied if projection else 0,
    })


def _check_fits(model, info, dataset) -> None:
    """One clear line where a built model cannot take ``dataset``: its image shape, or one
    probability per class (a label past the last class is NaN or silently another class on
    JAX and PyTorch; TensorFlow stops deep inside the loss)."""
    if tuple(model.input_shape[1:]) != info.shape:
        raise ValueError(
            f"model expects inputs of shape {tuple(model.input_shape[1:])}, but {dataset} "
            f"images are {info.shape}"
        )
    outputs = model.output_shape
    if not (isinstance(outputs, tuple) and len(outputs) == 2 and outputs[1] == info.num_classes):
        raise ValueError(f"model outputs shape {outputs}, but {dataset} has {info.num_classes} "
                         f"classes: it needs one output of shape (None, {info.num_classes})")
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if activation is not None and not is_softmax(activation):
        name = getattr(activation, "__name__", repr(activation))
        raise ValueError(f"model's output layer {last.name!r} ends in {name!r}, but the zoo's "
                         "loss takes class probabilities: build it with "
                         "classifier_activation='softmax'")


def evaluate(model, dataset, *, split="test", subset=None, seed=0, data_dir=None,
             batch_size=256, jit_compile="auto") -> dict:
    """Loss and accuracy of ``model`` (a ``keras.Model`` or a ``.keras`` path) on a split.

    ``jit_compile="auto"``: always compiled on JAX (its only fast path), never on PyTorch,
    and on TensorFlow through XLA only when a GPU is present. Measured on 2 CPU cores
    (``benchmarks/results/evaluate_xla_cpu.csv``, the fastest of 3 fresh processes, the 10,000
    MNIST test images, compilation included): XLA made no model faster for a single pass
    (ProcResNet-22 6.7 s vs 6.6 s) and three slower (ResNet-20 7.1 vs 5.0 s, DMRNet-20 13.6 vs
    9.8 s, PreResNet-110 38.6 vs 32.5 s), with the same accuracy. The GPU and JAX choices are
    not measured here: they assume the compilation pays where the computation dominates.
    """
    if jit_compile == "auto":
        backend = keras.backend.backend()
        jit_compile = backend == "jax" or (backend == "tensorflow" and has_gpu())
    elif not isinstance(jit_compile, bool):
        raise ValueError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}")
    if not isinstance(model, keras.Model):
        from zoo.saving import load_model

        model = load_model(model)
    info = dataset_info(dataset)
    _check_fits(model, info, dataset)
    x, y = load(dataset, split, data_dir=data_dir, subset=subset, seed=seed,
                normalize=None if expects_raw_pixels(model) else "standardize")
    model.compile(loss=ProbabilityCrossentropy(), metrics=["accuracy"], jit_compile=jit_compile)
    loss, accuracy = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy), "examples": int(len(y))}
