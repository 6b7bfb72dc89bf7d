"""Reading searches back: one row per trial, the paper's Table 2, paired comparisons, plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.atomic import read_json, write_atomic, write_figure, write_json
from zoo.tables import markdown_table
from zoo.tuning.grids import get_grid
from zoo.tuning.search import SEARCH_FILE

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "params", "q", "seconds",
           "train_seconds", "running_loss_last", "running_loss_previous",
           "last_epoch_improvement", "epochs", "worker", "train_examples",
           "validation_examples", "best_epoch", "test_loss", "test_accuracy")
Q_BINS = (0, 1, 3, 10, np.inf)
Q_LABELS = ("Q<1", "1-3", "3-10", ">=10")

def _last(metric: dict):
    observations = metric.get("observations") or []
    return observations[-1]["value"][0] if observations else np.nan


def _trial_point(trial, trial_file, settings, n_points):
    """The grid point a KerasTuner ``trial.json`` trained (None: a trial of no point), checked:
    a file that is not a trial of this search is one ValueError naming it."""
    try:
        values = trial["hyperparameters"]["values"]
        ok = isinstance(values, dict) and isinstance(trial["trial_id"], str) \
            and isinstance(trial["status"], str) and isinstance(trial.get("metrics", {}), dict)
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise ValueError(f"{trial_file} is not a KerasTuner trial (it needs trial_id, status "
                         "and hyperparameters.values)")
    point = values.get("point")
    if point is not None and (isinstance(point, bool) or not isinstance(point, int)
                              or not 0 <= point < n_points):
        raise ValueError(f"{trial_file}: point {point!r} is not one of the {n_points} points "
                         f"of grid {settings['grid']!r} on {settings['dataset']!r}")
    return point


def results(project_dir) -> pd.DataFrame:
    """One row per trial of every search under ``project_dir`` (shards included): the
    point's settings, status, metrics and KerasTuner's failure message."""
    rows = []
    for search_file in sorted(Path(project_dir).rglob(SEARCH_FILE)):
        folder = search_file.parent
        settings = read_json(search_file)
        points = get_grid(settings["grid"]).points(settings["dataset"])
        for trial_file in sorted(folder.glob("trial_*/trial.json")):
            trial = read_json(trial_file)
            point = _trial_point(trial, trial_file, settings, len(points))
            if point is None:
                continue
            metrics = trial.get("metrics", {}).get("metrics", {})
            rows.append({
                "search": str(folder.relative_to(project_dir)) if folder != Path(project_dir)
                else ".",
                "trial_id": trial["trial_id"],
                "grid": settings["grid"],
                "point": int(point),
                **points[int(point)],
                "status": trial["status"],
                **{m: _last(metrics[m]) if m in metrics else np.nan for m in METRICS},
                "message": (trial.get("message") or "").strip().splitlines()[-1:] or [""],
            })
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["message"] = frame["message"].str[0]
        frame = frame.sort_values(["grid", "dataset", "point", "trial_id"]).reset_index(drop=True)
    return frame


def completed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "COMPLETED"]


_NOT_SETTINGS = {*METRICS, "search", "trial_id", "grid", "point", "status", "message",
                 "dataset", "model"}


def settings_of(frame: pd.DataFrame) -> list[str]:
    """The columns of ``results()`` that are a grid point's settings (its hyperparameters
    by name)."""
    return [c for c in frame.columns if c not in _NOT_SETTINGS]


def best_trials(frame: pd.DataFrame, n=10, objective="val_loss") -> pd.DataFrame:
    """The ``n`` completed trials with the lowest ``objective``, best first."""
    done = completed(frame)
    if done.empty or objective not in done:
        return done.head(0)
    return done.sort_values([objective, "point"]).head(n)


def describe_trial(row, best=False, objective="val_loss") -> str:
    """One line: a trial's id, point, objective and its settings by name."""
    settings = ", ".join(f"{k}={row[k]}" for k in row.index
                         if k not in _NOT_SETTINGS and not (isinstance(row[k], float)
                                                            and np.isnan(row[k])))
    return (f"{'best: ' if best else ''}trial {row['trial_id']}, point {row['point']}: "
            f"{objective} {row[objective]:.4g}, val_accuracy {row['val_accuracy']:.4f} "
            f"({settings})")


def table2(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean train and validation loss by dataset x layout x Q bin (as the paper reports), with
    medians (robust to a few diverged trials), trial counts and the paper's values beside."""
    done = completed(frame).copy()
    if "layout" not in done or "q" not in done:  # a grid without layouts (dmrnet, procresnet)
        return pd.DataFrame(columns=["dataset", "layout", "q_bin", "trials", "loss", "val_loss"])
    done["q_bin"] = pd.cut(done["q"], Q_BINS, labels=Q_LABELS, right=False)
    ours = (done.groupby(["dataset", "layout", "q_bin"], observed=False)
            .agg(trials=("loss", "size"), loss=("loss", "mean"), val_loss=("val_loss", "mean"),
                median_loss=("loss", "median"), median_val_loss=("val_loss", "median"))
            .reset_index())
    paper = [  # the paper's numbers, for a grid that reconstructs a paper's table
        {"dataset": d, "layout": layout, "q_bin": label, "paper_loss": t, "paper_val_loss": v}
        for grid in done["grid"].unique()
        for (d, layout), cells in get_grid(grid).reference.items()
        for label, (t, v) in zip(Q_LABELS, cells)
    ]
    paper = pd.DataFrame(paper, columns=["dataset", "layout", "q_bin", "paper_loss",
                                         "paper_val_loss"])
    out = ours.merge(paper, how="left", on=["dataset", "layout", "q_bin"])
    return out[out["dataset"].isin(done["dataset"].unique())].reset_index(drop=True)


def paired(frame: pd.DataFrame) -> pd.DataFrame:
    """Sequential vs parallel at identical other settings: one row per pair that both
    finished, with parallel-minus-sequential differences."""
    done = completed(frame)
    if "layout" not in done:  # nothing to pair
        return pd.DataFrame()
    axes = [c for c in done.columns if c not in (*METRICS, "search", "trial_id", "point",
                                                  "status", "message", "layout")]
    seq = done[done["layout"] == "sequential"]
    par = done[done["layout"] == "parallel"]
    pairs = seq.merge(par, on=axes, suffixes=("_seq", "_par"))
    for m in ("loss", "val_loss", "val_accuracy", "seconds"):
        pairs[f"{m}_diff"] = pairs[f"{m}_par"] - pairs[f"{m}_seq"]
    return pairs[axes + [f"{m}_{s}" for m in ("loss", "val_loss", "val_accuracy", "seconds",
                                               "params") for s in ("seq", "par")]
                 + [f"{m}_diff" for m in ("loss", "val_loss", "val_accuracy", "seconds")]]


def paired_summary(pairs: pd.DataFrame) -> dict:
    if pairs.empty:
        return {"pairs": 0}
    return {
        "pairs": int(len(pairs)),
        "equal_params": bool((pairs["params_seq"] == pairs["params_par"]).all()),
        "mean_train_loss_seq": float(pairs["loss_seq"].mean()),
        "mean_train_loss_par": float(pairs["loss_par"].mean()),
        "mean_val_loss_seq": float(pairs["val_loss_seq"].mean()),
        "mean_val_loss_par": float(pairs["val_loss_par"].mean()),
        "median_val_loss_seq": float(pairs["val_loss_seq"].median()),
        "median_val_loss_par": float(pairs["val_loss_par"].median()),
        "parallel_lower_val_loss": float((pairs["val_loss_diff"] < 0).mean()),
        "median_seconds_ratio_par_over_seq": float(
            (pairs["seconds_par"] / pairs["seconds_seq"]).median()),
    }


def plot_paired(pairs: pd.DataFrame, ax=None):
    """Validation loss of each parallel net against its sequential twin (log-log)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    ax.loglog(pairs["val_loss_seq"], pairs["val_loss_par"], "o", alpha=0.6, ms=4)
    lo = float(np.nanmin(pairs[["val_loss_seq", "val_loss_par"]].to_numpy()))
    hi = float(np.nanmax(pairs[["val_loss_seq", "val_loss_par"]].to_numpy()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="equal")
    ax.set_xlabel("sequential: validation loss (cross-entropy)")
    ax.set_ylabel("parallel: validation loss (cross-entropy)")
    ax.set_title(f"Paired grid points (n = {len(pairs)})")
    ax.legend()
    return ax


def plot_loss_vs_q(frame: pd.DataFrame, ax=None):
    """Train and validation loss against the determination ratio Q, by layout."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    done = completed(frame)
    for layout, marker in (("sequential", "o"), ("parallel", "s")):
        part = done[done["layout"] == layout]
        ax.loglog(part["q"], part["val_loss"], marker, alpha=0.5, ms=4,
                  label=f"{layout}: validation")
        ax.loglog(part["q"], part["loss"], marker, alpha=0.5, ms=4, mfc="none",
                  label=f"{layout}: train")
    for edge in Q_BINS[1:-1]:
        ax.axvline(edge, color="grey", lw=0.5)
    ax.set_xlabel("determination ratio Q = examples x outputs / parameters")
    ax.set_ylabel("loss (cross-entropy)")
    ax.legend(fontsize=8)
    return ax


def write_report(project_dir, out_dir=None) -> Path:
    """trials.csv, table2.csv, paired.csv, summary.json, report.md and plots in ``out_dir``
    (default: the project directory)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not Path(project_dir).is_dir():
        raise ValueError(f"no search found: {project_dir} is not a folder")
    frame = results(project_dir)
    if frame.empty:
        raise ValueError(f"no trials found under {project_dir}")
    out = Path(out_dir or project_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "trials.csv", frame.to_csv(index=False))
    t2 = table2(frame)
    write_atomic(out / "table2.csv", t2.to_csv(index=False))
    pairs = paired(frame)
    write_atomic(out / "paired.csv", pairs.to_csv(index=False))
    counts = frame["status"].value_counts().to_dict()
    done = completed(frame)
    best = best_trials(frame, 10)
    summary = {"trials": int(len(frame)), "status": {k: int(v) for k, v in counts.items()},
               "median_seconds_per_trial": float(done["seconds"].median())
               if not done.empty else None,
               "best_trial": None if best.empty else {
                   "trial_id": str(best.iloc[0]["trial_id"]),
                   "point": int(best.iloc[0]["point"]),
                   **{m: float(best.iloc[0][m]) for m in ("val_loss", "val_accuracy", "loss")},
                   "settings": {k: best.iloc[0][k].item() if hasattr(best.iloc[0][k], "item")
                                else best.iloc[0][k] for k in settings_of(best)}},
               "paired": paired_summary(pairs)}
    write_json(out / "summary.json", summary)  # strict JSON: no NaN
    (out / "plots.png").unlink(missing_ok=True)  # an old one would outlive its data
    if "layout" in frame and not done.empty:
        panels = 1 if pairs.empty else 2  # no empty panel
        fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4.5), squeeze=False)
        plot_loss_vs_q(frame, axes[0, 0])
        if not pairs.empty:
            plot_paired(pairs, axes[0, 1])
        fig.tight_layout()
        write_figure(out / "plots.png", fig, dpi=120)
        plt.close(fig)
    lines = [f"# Grid search report: {project_dir}", "",
             f"{summary['trials']} trials: " + ", ".join(f"{v} {k}" for k, v in counts.items()),
             ""]
    if not best.empty:
        lines += ["## Best trials (lowest validation loss)", "",
                  describe_trial(best.iloc[0], best=True), "",
                  markdown_table(best[["trial_id", "point", "val_loss", "val_accuracy", "loss",
                                       *settings_of(best)]]), ""]
    lines += ["## Table 2: mean losses by Q bin (ours vs Bermeitinger et al.)", "",
              markdown_table(t2), "",
              "## Sequential vs parallel at identical other settings", "",
              "```json", json.dumps(summary["paired"], indent=2), "```", ""]
    failed = frame[frame["status"] != "COMPLETED"]
    if not failed.empty:
        lines += ["## Failed trials", "", markdown_table(failed[["point", "status", "message"]]), ""]
    write_atomic(out / "report.md", "\n".join(lines))
    return out
