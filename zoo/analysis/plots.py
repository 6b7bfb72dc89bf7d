"""Matplotlib figures for the analyses; each returns the ``Figure`` (save it or show it)."""

from __future__ import annotations

import numpy as np


def _axes(ax, figsize=(5, 3.5)):
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def plot_single_lesions(rows, baseline=None, ax=None, label=None):
    """Accuracy after deleting each unit; transitions marked."""
    fig, ax = _axes(ax)
    idx = [r["unit"] for r in rows]
    acc = [100 * r["accuracy"] for r in rows]
    ax.plot(idx, acc, "o-", label=label)
    trans = [r["unit"] for r in rows if r["transition"]]
    ax.plot(trans, [100 * r["accuracy"] for r in rows if r["transition"]], "kx", ms=9,
            label="transition")
    if baseline is not None:
        ax.axhline(100 * baseline, color="grey", ls="--", label="no lesion")
    ax.set(xlabel="deleted unit (index)", ylabel="test accuracy (%)", title="Single-unit lesions")
    ax.legend()
    return fig


def plot_random_lesions(rows, ax=None, label=None):
    fig, ax = _axes(ax)
    k = [r["k"] for r in rows]
    ax.errorbar(k, [100 * r["mean_accuracy"] for r in rows],
                yerr=[100 * r["std_accuracy"] for r in rows], marker="o", capsize=3, label=label)
    ax.set(xlabel="number of deleted units k", ylabel="test accuracy (%)",
           title="Deleting k random units")
    return fig


def plot_reorder_lesions(rows, ax=None):
    fig, ax = _axes(ax)
    ax.plot([r["kendall_tau"] for r in rows], [100 * r["accuracy"] for r in rows], "o")
    ax.invert_xaxis()
    ax.set(xlabel="Kendall tau to the trained order", ylabel="test accuracy (%)",
           title="Reordering units")
    return fig


def plot_path_lengths(distribution, ax=None):
    fig, ax = _axes(ax)
    ax.bar(distribution["length"], distribution["probability"])
    ax.set(xlabel="path length (units on the branch)", ylabel="fraction of paths",
           title=f"Path lengths of {len(distribution['length']) - 1} units")
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
    return fig


def plot_norm_ratios(rows, ax=None, label=None):
    fig, ax = _axes(ax)
    ax.plot([r["unit"] for r in rows], [r["ratio"] for r in rows], "o-", label=label)
    trans = [r for r in rows if r["transition"]]
    ax.plot([r["unit"] for r in trans], [r["ratio"] for r in trans], "kx", ms=9)
    ax.axhline(1.0, color="grey", ls="--")
    ax.set(xlabel="unit (index)", ylabel="||dE/dx_l|| / ||dE/dx_{l+1}||",
           title="Gradient norm ratio per unit (x: transitions)")
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
    return fig
