"""Model families, one module each; importing them registers their named variants."""

# ruff: noqa: E402
from zoo.quiet import import_keras_quietly

import_keras_quietly()  # before Keras is imported: TensorFlow's start-up lines stay off stderr

from zoo.models.dmrnet import dmrnet
from zoo.models.procresnet import procresnet
from zoo.models.resnet import parallel_resnet, plain, preresnet, resnet
from zoo.models.shallow import shallow_stack
from zoo.models.units import residual_units

__all__ = [
    "dmrnet",
    "parallel_resnet",
    "plain",
    "preresnet",
    "procresnet",
    "residual_units",
    "resnet",
    "shallow_stack",
]

import zoo as _zoo  # noqa: E402

_zoo._part_ready(__name__)  # registers the other Keras parts too (zoo/__init__.py)
