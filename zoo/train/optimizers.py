"""Optimizers with the papers' (coupled) L2 weight decay, on every backend."""

from __future__ import annotations

import keras
from keras import ops

from zoo import compat


class _CoupledL2:
    """Adds ``l2 * w`` to each gradient before the wrapped optimizer's update."""

    def __init__(self, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l2 = float(l2)

    def apply(self, grads, trainable_variables=None):
        variables = (compat.optimizer_variables_in_use(self) if trainable_variables is None
                     else list(trainable_variables))
        if self.l2 and variables:
            grads = [g if g is None else ops.add(g, ops.multiply(self.l2, v))
                     for g, v in zip(grads, variables)]
        return super().apply(grads, trainable_variables)

    def get_config(self):
        return {**super().get_config(), "l2": self.l2}


@keras.saving.register_keras_serializable(package="zoo")
class L2SGD(_CoupledL2, keras.optimizers.SGD):
    """SGD (optionally Nesterov) with coupled L2 weight decay, as ``torch.optim.SGD``."""


@keras.saving.register_keras_serializable(package="zoo")
class L2Adam(_CoupledL2, keras.optimizers.Adam):
    """Adam with coupled L2 weight decay, as ``torch.optim.Adam``."""


def make_optimizer(recipe, steps_per_epoch, epochs):
    """The recipe's optimizer with its piecewise-constant learning-rate schedule."""
    lr = recipe.learning_rate
    if recipe.milestones:
        total = steps_per_epoch * epochs
        boundaries = sorted({max(1, int(round(f * total))) for f in recipe.milestones})
        values = [lr * recipe.gamma**i for i in range(len(boundaries) + 1)]
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if recipe.optimizer == "sgd":
        return L2SGD(l2=recipe.weight_decay, learning_rate=lr, momentum=recipe.momentum,
                     nesterov=recipe.nesterov)
    return L2Adam(l2=recipe.weight_decay, learning_rate=lr)
