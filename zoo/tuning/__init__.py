"""KerasTuner grid searches over the zoo's architecture grids (Bermeitinger et al.'s grid and the other papers' families)."""

# ruff: noqa: E402
from zoo.quiet import import_keras_quietly

import_keras_quietly()  # before Keras is imported: TensorFlow's start-up lines stay off stderr

from zoo.tuning.grids import GRIDS, Grid, get_grid, select
from zoo.tuning.hypermodel import GridHyperModel, build_point
from zoo.tuning.report import (
    best_trials,
    describe_trial,
    paired,
    paired_summary,
    plot_loss_vs_q,
    plot_paired,
    results,
    table2,
    write_report,
)
from zoo.tuning.search import ProjectLock, check_search, launch, make_tuner, search_dir, tune

__all__ = [
    "GRIDS", "Grid", "GridHyperModel", "ProjectLock", "best_trials", "build_point",
    "check_search", "describe_trial",
    "get_grid", "launch", "make_tuner",
    "paired", "paired_summary", "plot_loss_vs_q", "plot_paired", "results", "search_dir",
    "select", "table2", "tune", "write_report",
]
