"""Matplotlib figures for the analyses; each returns the ``Figure`` (save it or show it).

Each panel has a title, axes of counts (units, k, path lengths, orders) are ticked at integers,
every legend entry names what it draws, and error bars stop at the range of their quantity
(an accuracy's at 0 and 100%)."""

from __future__ import annotations

import numpy as np


def _axes(ax, figsize=(5, 3.5)):
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def _integer_x(ax):
    import matplotlib.ticker

    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def _clipped_errors(mean, spread, low=0.0, high=100.0):
    """``yerr`` for ``errorbar``: mean ± spread, cut at the quantity's range."""
    mean, spread = np.asarray(mean, float), np.asarray(spread, float)
    return np.vstack([mean - np.maximum(mean - spread, low), np.minimum(mean + spread, high) - mean])


def plot_single_lesions(rows, baseline=None, ax=None, label=None, transitions=True):
    """Test accuracy after deleting each unit on its own, one point per unit (rows: ``unit``,
    ``accuracy``, ``transition``); transition units crossed, ``baseline`` (nothing deleted)
    dashed. Call once per network with ``label`` to compare networks on one ``ax``."""
    fig, ax = _axes(ax)
    points, = ax.plot([r["unit"] for r in rows], [100 * r["accuracy"] for r in rows], "o", ms=4,
                      label=f"{label}: one unit deleted" if label else "one unit deleted")
    crossed = [r for r in rows if r["transition"]]
    if transitions and crossed:
        ax.plot([r["unit"] for r in crossed], [100 * r["accuracy"] for r in crossed], "rx",
                ms=9, label=f"{label}: transitions" if label else "transitions")
    if baseline is not None:
        ax.axhline(100 * baseline, color=points.get_color(), ls="--", lw=0.8,
                   label=f"{label}: nothing deleted" if label else "nothing deleted")
    ax.set(xlabel="deleted unit (index in its network)", ylabel="test accuracy (%)", ylim=(0, 102),
           title="Single-unit lesions")
    _integer_x(ax)
    ax.legend(fontsize=8)  # "best": the place that hides the fewest points
    return fig


def plot_random_lesions(rows, ax=None, label=None):
    """Mean test accuracy after deleting k random units, ± the standard deviation over the
    draws, the bars cut at 0 and 100% (rows: ``k``, ``mean_accuracy``, ``std_accuracy``)."""
    fig, ax = _axes(ax)
    k = [r["k"] for r in rows]
    mean = [100 * r["mean_accuracy"] for r in rows]
    ax.errorbar(k, mean, yerr=_clipped_errors(mean, [100 * r["std_accuracy"] for r in rows]),
                marker="o", ms=3, capsize=2,
                label=label or "mean ± std over draws (within 0-100%)")
    ax.set(xlabel="number of deleted units k", ylabel="test accuracy (%)", ylim=(0, 102),
           title="Deleting k random units")
    _integer_x(ax)
    ax.legend(fontsize=8)
    return fig


def plot_reorder_lesions(rows, ax=None, means=None):
    """Test accuracy of each reordered network against the Kendall tau of its unit order
    (rows: ``kendall_tau``, ``accuracy``), tau falling to the right; ``means`` (rows:
    ``mean_tau``, ``mean_accuracy``) joins the means per amount of reordering."""
    fig, ax = _axes(ax)
    ax.plot([r["kendall_tau"] for r in rows], [100 * r["accuracy"] for r in rows], ".",
            alpha=0.5, label="one reordering")
    if means is not None:
        ax.plot([r["mean_tau"] for r in means], [100 * r["mean_accuracy"] for r in means],
                "o-", color="k", ms=4, label="mean per number of swaps")
    ax.set(xlabel="Kendall tau to the trained order", ylabel="test accuracy (%)",
           ylim=(0, 102), title="Reordering units")
    if not ax.xaxis_inverted():
        ax.invert_xaxis()
    ax.legend(fontsize=8)
    return fig


def plot_path_lengths(distribution, ax=None):
    fig, ax = _axes(ax)
    ax.bar(distribution["length"], distribution["probability"])
    ax.set(xlabel="path length (units on the branch)", ylabel="fraction of paths",
           title=f"Path lengths of {len(distribution['length']) - 1} units")
    _integer_x(ax)
    return fig


def plot_gradient_by_path_length(result, ax=None):
    """Mean gradient norm per path length, and its total contribution (x path count)."""
    fig, ax = _axes(ax, figsize=(6, 3.5))
    k = result["lengths"]
    ax.semilogy(k, result["mean_norm"], "o-", label="gradient norm of one path")
    ax.set(xlabel="path length k", ylabel="gradient norm at the input")
    twin = ax.twinx()
    weighted = np.asarray(result["weighted"])
    twin.bar(k, weighted / weighted.sum(), alpha=0.3, color="C1",
             label="share of total gradient")
    twin.set_ylabel("share of total gradient (paths x norm)")
    ax.set_zorder(twin.get_zorder() + 1)  # the norm line in front of the bars
    ax.patch.set_visible(False)
    ax.set_title("Gradient by path length")
    _integer_x(ax)
    lines, labels = ax.get_legend_handles_labels()
    bars, bar_labels = twin.get_legend_handles_labels()
    ax.legend(lines + bars, labels + bar_labels, fontsize=8)  # one legend for both axes
    return fig


def plot_truncation(errors_or_rows, ax=None, label=None):
    """Truncation error per order (a list of floats) or accuracy per order (rows)."""
    fig, ax = _axes(ax)
    if errors_or_rows and isinstance(errors_or_rows[0], dict):
        ax.plot([r["order"] for r in errors_or_rows],
                [100 * r["accuracy"] for r in errors_or_rows], "o-", label=label)
        ax.set(xlabel="truncation order k", ylabel="test accuracy (%)",
               title="Accuracy of order-k truncations")
    else:
        errors = np.maximum(np.asarray(errors_or_rows, dtype=float), 1e-300)
        ax.semilogy(range(len(errors)), errors, "o-", label=label)
        ax.set(xlabel="truncation order k", ylabel="||product - partial sum||_F",
               title="Truncation error of the expansion")
    _integer_x(ax)
    if label:
        ax.legend()
    return fig
