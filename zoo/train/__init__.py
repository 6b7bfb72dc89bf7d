"""Training: named recipes, the papers' weight decay, and ``fit``/``evaluate``."""

# ruff: noqa: E402
from zoo.quiet import import_keras_quietly

import_keras_quietly()  # before Keras is imported: TensorFlow's start-up lines stay off stderr

from zoo.train.fit import (
    EpochSeconds,
    RunResult,
    TrainingDiverged,
    build_training_state,
    compile_for_training,
    environment,
    evaluate,
    fit,
)
from zoo.train.losses import ProbabilityCrossentropy
from zoo.train.optimizers import L2SGD, L2Adam, make_optimizer
from zoo.train.recipes import RECIPES, Recipe, get_recipe

__all__ = ["L2SGD", "RECIPES", "EpochSeconds", "L2Adam", "ProbabilityCrossentropy", "Recipe",
           "RunResult", "TrainingDiverged", "build_training_state", "compile_for_training",
           "environment", "evaluate", "fit", "get_recipe", "make_optimizer"]

import zoo as _zoo  # noqa: E402

_zoo._part_ready(__name__)  # registers the other Keras parts too (zoo/__init__.py)
