"""Analysis of residual networks: Taylor expansion (§1), merge-and-run paths (§2), the
ensemble view's lesions, paths and gradients (§3), norm preservation (§4)."""

# ruff: noqa: E402
from zoo.quiet import import_keras_quietly

import_keras_quietly()  # before Keras is imported: TensorFlow's start-up lines stay off stderr

from zoo.analysis.gradients import (
    backward_through_units,
    gradient_by_path_length,
    norm_ratios,
    vjp,
)
from zoo.analysis.lesion import (
    branch_ratios,
    kendall_tau,
    lesion,
    random_lesions,
    reorder_lesions,
    single_unit_lesions,
)
from zoo.analysis.norms import block_norm_ratios, compare_norm_preservation, norm_summary
from zoo.analysis.paths import (
    average_path_length,
    block_path_lengths,
    central_range,
    enumerate_paths,
    path_length_distribution,
)
from zoo.analysis.taylor import expansion_by_order, residual_product, truncation_errors
from zoo.analysis.truncation import max_stage_units, truncate, truncation_accuracy
from zoo.layers.merge_and_run import merge_matrix

__all__ = ["backward_through_units", "gradient_by_path_length", "norm_ratios", "vjp",
           "branch_ratios", "kendall_tau", "lesion", "random_lesions", "reorder_lesions", "single_unit_lesions",
           "average_path_length", "block_path_lengths", "central_range", "enumerate_paths",
           "expansion_by_order", "merge_matrix", "path_length_distribution",
           "residual_product", "truncation_errors", "max_stage_units", "truncate",
           "truncation_accuracy", "block_norm_ratios", "compare_norm_preservation",
           "norm_summary"]
