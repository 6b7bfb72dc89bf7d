"""The KerasTuner hypermodel behind every grid search.

The search space is one hyperparameter, ``point``: the index of a grid point. GridSearch
walks its values in order, so sampling, sharding and resuming are exact lists of indices,
and every trial's full setting is recoverable from (grid, dataset, point).
"""

from __future__ import annotations

import math
import os
import time

import keras
import keras_tuner
import numpy as np

import zoo.models  # noqa: F401  (each family registers its builder)
from zoo import compat, quiet
from zoo.registry import get_builder
from zoo.train import EpochSeconds, compile_for_training
from zoo.tuning.grids import BUILDER_AXES


def build_point(point: dict, input_shape, num_classes) -> keras.Model:
    """The model of one grid point (raw pixels in: it normalizes its input itself), built by
    the registry's builder that the grid names."""
    kwargs = {k: v for k, v in point.items() if k not in BUILDER_AXES and k != "model"}
    kwargs.update(input_shape=input_shape, num_classes=num_classes,
                  input_normalization=point["dataset"])
    builder = point["model"]
    if builder == "resnet_layout":  # the layout axis picks the sequential net or its twin
        builder = "resnet" if kwargs.pop("layout") == "sequential" else "parallel_resnet"
    return get_builder(builder)(**kwargs)


def point_flops(point: dict, input_shape, num_classes) -> int:
    """Forward FLOPs per image of a grid point's net: counted from the architecture for the
    shallow stacks (no model is built: a 3,456-point grid is priced in milliseconds),
    measured on the built model for the other families."""
    if point["model"] == "shallow_stack":
        from zoo.models.shallow import shallow_stack_flops

        settings = {"layers": 4, "filters": 32, "kernel_size": 3, "downsample": "maxpool",
                    "head": "flatten", **point}  # shallow_stack's own defaults
        return shallow_stack_flops(**settings, input_shape=input_shape,
                                   num_classes=num_classes)
    from zoo.models.complexity import flops

    return flops(build_point(point, input_shape, num_classes))


def trainable_params(model) -> int:
    """The trainable parameters a trial records (``parameter_counts``'s, one counter)."""
    from zoo.models.complexity import parameter_counts

    return parameter_counts(model)["trainable"]


def worker_number() -> int:
    """This process's KerasTuner worker: N for ``tuner<N>``, -1 for a single-process search."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
    return int(tuner_id[5:]) if tuner_id.startswith("tuner") and tuner_id[5:].isdigit() else -1


def diverged(loss, num_classes) -> bool:
    """A trained net whose loss is not finite, or no better than guessing uniformly
    (cross-entropy >= ln C), has diverged: its numbers say nothing about its layout."""
    return not np.isfinite(loss) or loss >= math.log(num_classes)


class GridHyperModel(keras_tuner.HyperModel):
    """Trains grid point ``hp["point"]`` with Adam at the point's learning rate and batch size.

    After training, one evaluation pass over the training examples and one over the
    validation examples give the reported losses and accuracies: the trained network's,
    not Keras's running mean over the last epoch (which mixes in the weights of every step
    of it). Each trial also reports trainable parameters, the determination ratio
    Q = training examples x outputs / parameters, wall seconds (building, tracing, training
    and evaluation), the seconds of steady training steps (the median epoch after the first,
    times epochs), the running training loss of the last two epochs (has it flattened?),
    epochs and the worker that ran it. A trial whose loss is not finite fails (KerasTuner
    records it as FAILED and the search goes on); with ``fail_at_chance`` so does one whose
    final training loss is not below ln(classes), as a study counts divergence.
    """

    def __init__(self, points, indices, data, *, epochs, seed=0, eval_batch_size=1024,
                 fail_at_chance=False, test=None, early_stopping=None):
        super().__init__(name="grid")
        self.points, self.indices = points, list(indices)
        self.x, self.y, self.x_val, self.y_val = data
        self.test, self.early_stopping = test, early_stopping
        self.epochs, self.seed = epochs, seed
        self.eval_batch_size, self.fail_at_chance = eval_batch_size, fail_at_chance
        self.num_classes = int(max(self.y.max(), self.y_val.max())) + 1

    def point(self, hp) -> dict:
        return self.points[hp.Choice("point", self.indices, ordered=False)]

    def build(self, hp):
        self._start = time.perf_counter()
        point = self.point(hp)
        quiet.set_random_seed(self.seed + hp["point"])  # the same point, the same run
        model = build_point(point, self.x.shape[1:], self.num_classes)
        # fit's compile (loss, metrics, training state), with the grid's plain Adam
        compile_for_training(model, keras.optimizers.Adam(point["learning_rate"]))
        return model

    def fit(self, hp, model, *args, **kwargs):
        point = self.point(hp)
        start = getattr(self, "_start", time.perf_counter())
        epoch_times = EpochSeconds(into_logs=False)
        # KerasTuner's per-trial checkpoint (SaveBestEpoch) writes a weights file for every
        # trial: left out, it keeps a 3,456-trial project small (the tuner keeps the best
        # trial's weights instead, with keep_best). The others -- the search's own callbacks
        # and KerasTuner's TunerCallback, which calls the tuner's on_epoch_*/on_batch_*
        # hooks (progress, Ctrl-C) -- run; none of them changes the training.
        callbacks = [epoch_times] + [c for c in kwargs.get("callbacks") or []
                                     if not compat.is_checkpoint_callback(c)]
        validation = None
        if self.early_stopping is not None:
            validation = (self.x_val, self.y_val)
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=int(self.early_stopping),
                restore_best_weights=True))
        history = model.fit(self.x, self.y, batch_size=point["batch_size"], epochs=self.epochs,
                            shuffle=True, verbose=0, callbacks=callbacks,
                            validation_data=validation)
        curve = [float(v) for v in history.history["loss"]]
        if not np.isfinite(curve[-1]):
            raise keras_tuner.errors.FailedTrialError(
                f"point {hp['point']} diverged: training loss {curve[-1]} after "
                f"{len(curve)} epochs")
        loss, accuracy = model.evaluate(self.x, self.y, batch_size=self.eval_batch_size,
                                        verbose=0)
        val_loss, val_accuracy = model.evaluate(self.x_val, self.y_val,
                                                batch_size=self.eval_batch_size, verbose=0)
        if not (np.isfinite(loss) and np.isfinite(val_loss)) or (
                self.fail_at_chance and diverged(loss, self.num_classes)):
            raise keras_tuner.errors.FailedTrialError(
                f"point {hp['point']} diverged: training loss {loss:.4g} (chance is "
                f"{math.log(self.num_classes):.4g}), validation loss {val_loss:.4g}")
        extra = {}
        if validation is not None:
            extra["best_epoch"] = int(np.argmin(history.history["val_loss"])) + 1
        if self.test is not None:
            test_loss, test_accuracy = model.evaluate(*self.test, batch_size=self.eval_batch_size,
                                                      verbose=0)
            extra.update(test_loss=float(test_loss), test_accuracy=float(test_accuracy))
        seconds = time.perf_counter() - start
        steady = epoch_times.times[1:] or epoch_times.times
        params = trainable_params(model)
        previous = curve[-2] if len(curve) > 1 else np.nan
        return {
            "loss": float(loss),
            "accuracy": float(accuracy),
            "val_loss": float(val_loss),
            "val_accuracy": float(val_accuracy),
            "params": params,
            "q": len(self.y) * self.num_classes / params,
            "seconds": seconds,
            "train_seconds": float(np.median(steady)) * len(curve),
            "running_loss_last": curve[-1],
            "running_loss_previous": float(previous),
            # relative improvement of the running training loss over the last epoch
            "last_epoch_improvement": float((previous - curve[-1]) / previous),
            "epochs": len(curve),
            "worker": worker_number(),
            "train_examples": len(self.y),
            "validation_examples": len(self.y_val),
            **extra,
        }
