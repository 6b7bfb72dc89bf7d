"""Keras layers of residual-zoo: every one registered for safe `.keras` serialization."""

# ruff: noqa: E402
from zoo.quiet import import_keras_quietly

import_keras_quietly()  # before Keras is imported: TensorFlow's start-up lines stay off stderr

from zoo.layers.activations import softmax
from zoo.layers.merge_and_run import MODES, MergeAndRunBlock, merge_matrix
from zoo.layers.norm_preserving import (
    NormPreservingConv2D,
    NormPreservingProjection,
    clip_kernel,
    operator_singular_values,
    project_kernel,
    projected_layers,
    transfer_matrices,
)
from zoo.layers.parallel import BranchConv2D, ParallelResidualStage, TiledBatchNormalization
from zoo.layers.pixels import PixelStandardization
from zoo.layers.residual import ResidualBlock, ResidualUnit

__all__ = [
    "MODES",
    "BranchConv2D",
    "MergeAndRunBlock",
    "NormPreservingConv2D",
    "NormPreservingProjection",
    "ParallelResidualStage",
    "PixelStandardization",
    "ResidualBlock",
    "ResidualUnit",
    "TiledBatchNormalization",
    "clip_kernel",
    "merge_matrix",
    "operator_singular_values",
    "project_kernel",
    "projected_layers",
    "softmax",
    "transfer_matrices",
]

import zoo as _zoo  # noqa: E402

_zoo._part_ready(__name__)  # registers the other Keras parts too (zoo/__init__.py)
