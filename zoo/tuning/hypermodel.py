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

import zoo
from zoo.train import build_training_state
from zoo.tuning.grids import BUILDER_AXES


def build_point(point: dict, input_shape, num_classes) -> keras.Model:
    """The model of one grid point (raw pixels in: it normalizes its input itself)."""
    kwargs = {k: v for k, v in point.items() if k not in BUILDER_AXES and k != "model"}
    kwargs.update(input_shape=input_shape, num_classes=num_classes,
                  input_normalization=point["dataset"])
    model = point["model"]
    if model == "resnet_layout":
        layout = kwargs.pop("layout")
        return (zoo.resnet if layout == "sequential" else zoo.parallel_resnet)(**kwargs)
    builders = {"shallow_stack": zoo.shallow_stack, "dmrnet": zoo.dmrnet,
                "procresnet": zoo.procresnet}
    return builders[model](**kwargs)


def trainable_params(model) -> int:
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))


def worker_number() -> int:
    """This process's KerasTuner worker: N for ``tuner<N>``, -1 for a single-process search."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
    return int(tuner_id[5:]) if tuner_id.startswith("tuner") and tuner_id[5:].isdigit() else -1


class GridHyperModel(keras_tuner.HyperModel):
    """Trains grid point ``hp["point"]`` with Adam at the point's learning rate and batch size.

    Each trial reports train/validation loss and accuracy (last epoch), trainable
    parameters, the determination ratio Q = training examples x outputs / parameters, wall
    seconds, epochs and the worker that ran it. A loss that turns NaN or infinite fails the
    trial (KerasTuner records it as FAILED and the search goes on).
    """

    def __init__(self, points, indices, data, *, epochs, seed=0):
        super().__init__(name="grid")
        self.points, self.indices = points, list(indices)
        self.x, self.y, self.x_val, self.y_val = data
        self.epochs, self.seed = epochs, seed
        self.num_classes = int(max(self.y.max(), self.y_val.max())) + 1

    def point(self, hp) -> dict:
        return self.points[hp.Choice("point", self.indices, ordered=False)]

    def build(self, hp):
        point = self.point(hp)
        keras.utils.set_random_seed(self.seed + hp["point"])  # the same point, the same run
        model = build_point(point, self.x.shape[1:], self.num_classes)
        model.compile(optimizer=keras.optimizers.Adam(point["learning_rate"]),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        build_training_state(model)
        return model

    def fit(self, hp, model, *args, **kwargs):
        point = self.point(hp)
        start = time.perf_counter()
        history = model.fit(self.x, self.y, batch_size=point["batch_size"], epochs=self.epochs,
                            validation_data=(self.x_val, self.y_val),
                            shuffle=True, verbose=0)
        # KerasTuner's own callbacks (kwargs["callbacks"]) only checkpoint weights, which a
        # grid study never reloads: leaving them out keeps a 3,456-trial project small.
        seconds = time.perf_counter() - start
        h = {k: v[-1] for k, v in history.history.items()}
        if not all(np.isfinite(h[k]) for k in ("loss", "val_loss")):
            raise keras_tuner.errors.FailedTrialError(
                f"point {hp['point']} diverged: loss {h['loss']}, val_loss {h['val_loss']}"
            )
        params = trainable_params(model)
        return {
            "loss": float(h["loss"]),
            "accuracy": float(h["accuracy"]),
            "val_loss": float(h["val_loss"]),
            "val_accuracy": float(h["val_accuracy"]),
            "params": params,
            "q": len(self.y) * self.num_classes / params,
            "seconds": seconds,
            "epochs": len(history.history["loss"]),
            "worker": worker_number(),
        }
