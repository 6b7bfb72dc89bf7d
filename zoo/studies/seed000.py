"""seed000: sequential deep vs parallel shallow at equal parameters (Bermeitinger et al.,
*Make Deep Networks Shallow Again*, KDIR 2023; section 1 of the papers' notes).

Design (the ``cpu`` budget since 2026-12; the earlier design, which computed Q on a
10,000-image subset and so confounded the high-Q bins with the pooling head, is gone: its
results are in the git history before this file changed).

- Data: every training image of the dataset, less a seeded, stratified 10% held out for
  validation (early stopping and the validation loss); the test split gives only the final
  test loss. Q = training images actually trained on x classes / trainable parameters.
- Pairs: a *setting* is a point of the seed-000 grid without its layout (1,728 per dataset);
  each chosen setting is trained as both layouts, so both nets of a pair have the same
  parameters, data, seed and optimizer.
- Cells: settings are stratified by the paper's Q bins [0,1), [1,3), [3,10), [10,inf) *and*
  by head (global average pool or flatten), so every populated (bin, head) cell has its own
  paired comparison; the report gives each cell, each head over bins and all pairs pooled.
- In every cell a seeded random order of the eligible settings is walked until the cell holds
  ``pairs`` complete pairs: a pair with a failed (diverged) trial is counted as a failure
  and replaced by the next setting of its cell in a new round. The pairs of a round are
  interleaved across cells, so a run stopped early has every cell about equally filled.
- Eligible: forward pass at most ``max_forward_flops`` per image (the report gives, per
  cell, the share this leaves out). The Q < 1 cells (the paper's big nets) are run after the
  others with their own cap and a time budget per dataset (``big_hours``): one pair per Q < 1
  cell per round, until the time is spent.

Each round is one KerasTuner grid search (``<out>/<dataset>/round-<r>/``, ``big-<r>/`` for the
Q < 1 rounds), so a killed run resumes inside a round and the next round is recomputed from
the finished ones exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.studies.runner import markdown

TITLE = "Sequential deep vs parallel shallow (Bermeitinger et al., KDIR 2023)"
CLAIM = ("At equal parameters sequential and parallel residual stacks reach similar losses; "
         "deep slightly lower training loss, shallow slightly lower validation loss.")
Q_BINS = (0, 1, 3, 10, np.inf)
Q_LABELS = ("Q<1", "1-3", "3-10", ">=10")
HEADS = ("gap", "flatten")
SETTING_AXES = ("layers", "filters", "kernel_size", "activation", "batch_norm", "downsample",
                "head", "learning_rate", "batch_size")
# Fashion-MNIST stands in for CIFAR-10 (not available here): the paper's CIFAR-10 row is the
# one printed beside it, as the harder of its two data sets.
PAPER_DATASET = {"mnist": "mnist", "fashion_mnist": "cifar10", "cifar10": "cifar10",
                 "digits": "mnist"}


def cell_of(q_bin, head) -> str:
    return f"{q_bin}/{head}"


@dataclass(frozen=True)
class Budget:
    datasets: tuple
    pairs: dict  # dataset -> complete pairs wanted in each (Q bin, head) cell of ``bins``
    epochs: int  # at most; early stopping on the validation loss may stop sooner
    bins: tuple = ("1-3", "3-10", ">=10")
    max_forward_flops: float | None = None  # the cost cap per setting in ``bins``
    big_hours: float = 0.0  # per dataset, for the Q < 1 cells after the others; 0: none
    big_max_forward_flops: float | None = None
    train_examples: int | None = None  # a seeded subset of the train split; None: all
    validation_fraction: float = 0.1  # held out of the training examples
    early_stopping: int | None = 1  # patience in epochs
    max_rounds: int = 4
    seed: int = 0

    def describe(self) -> str:
        data = "/".join(self.datasets)
        n = "all" if self.train_examples is None else f"{self.train_examples:,}"
        pairs = ", ".join(f"{self.pairs[d]} pairs per (Q bin, head) cell on {d}"
                          for d in self.datasets)
        cap = "" if self.max_forward_flops is None else \
            f", forward pass <= {self.max_forward_flops / 1e6:g} MFLOP"
        big = "" if not self.big_hours else \
            f"; Q<1 cells: {self.big_hours:g} h per dataset" + (
                "" if self.big_max_forward_flops is None else
                f" (<= {self.big_max_forward_flops / 1e6:g} MFLOP)")
        stop = "" if self.early_stopping is None else \
            f", early stopping (patience {self.early_stopping})"
        return (f"{data}: bins {', '.join(self.bins)} x heads gap/flatten: {pairs}; {n} train "
                f"images less {self.validation_fraction:.0%} held out for validation, at most "
                f"{self.epochs} epochs{stop}{cap}{big}")


BUDGETS = {
    # CI: one pair per head of tiny nets on the embedded digits (under a minute)
    "smoke": Budget(("digits",), {"digits": 1}, 3, bins=("1-3",), max_forward_flops=0.4e6,
                    max_rounds=2),
    # 2 CPU cores, many sessions (about 25 hours with the other studies): MNIST 12 and
    # Fashion-MNIST 8 pairs in each Q >= 1 cell at <= 120 MFLOP (60 leaves the (1-3, gap) cell
    # empty on MNIST), then 3 hours of the Q < 1 nets per dataset
    "cpu": Budget(("mnist", "fashion_mnist"), {"mnist": 12, "fashion_mnist": 8}, 4,
                  max_forward_flops=120e6, big_hours=3.0, big_max_forward_flops=500e6),
    # one H100/H200 on JAX, in stages (--time-limit): the whole grid on every image
    "gpu": Budget(("mnist", "fashion_mnist"), {"mnist": None, "fashion_mnist": None}, 10,
                  bins=Q_LABELS, early_stopping=2),
}


# ---------------------------------------------------------------------------------------
# planning


def training_examples(dataset, budget: Budget) -> int:
    """The number of images a trial trains on: the train split (or its subset) less the
    held-out validation part, exactly as the tuner splits it."""
    from zoo.data import dataset_info, holdout, load_raw

    info = dataset_info(dataset)
    _, y, _ = load_raw(info.name, "train")
    n = len(y)
    if budget.train_examples is not None and budget.train_examples < n:
        idx = np.sort(np.random.default_rng(budget.seed).choice(n, budget.train_examples,
                                                                replace=False))
        y = y[idx]
    (_, y_train), _ = holdout(np.zeros(len(y)), y, budget.validation_fraction, seed=budget.seed)
    return len(y_train)


def plan(dataset, budget: Budget) -> pd.DataFrame:
    """Every setting of the grid for ``dataset``: its two points, parameters, FLOPs, Q, bin,
    head cell, eligibility, phase ("main" or "big") and rank (the seeded order in which its
    cell draws settings)."""
    from zoo.data import dataset_info
    from zoo.models.shallow import shallow_stack_flops, shallow_stack_params
    from zoo.tuning.grids import GRIDS

    info = dataset_info(dataset)
    n = training_examples(dataset, budget)
    points = pd.DataFrame(GRIDS["seed000"].points(info.name))
    points["point"] = np.arange(len(points))
    seq = points[points["layout"] == "sequential"].drop(columns="layout")
    par = points[points["layout"] == "parallel"][[*SETTING_AXES, "point"]]
    frame = seq.merge(par, on=list(SETTING_AXES), suffixes=("_seq", "_par"))
    frame = frame.sort_values("point_seq").reset_index(drop=True)
    frame.insert(0, "pair", np.arange(len(frame)))
    shape = dict(input_shape=info.shape, num_classes=info.num_classes)
    settings = frame[list(SETTING_AXES)].to_dict("records")
    frame["params"] = [shallow_stack_params(**s, **shape) for s in settings]
    frame["flops"] = [shallow_stack_flops(**s, **shape) for s in settings]
    frame["train_examples"] = n
    frame["q"] = n * info.num_classes / frame["params"]
    frame["q_bin"] = pd.cut(frame["q"], Q_BINS, labels=Q_LABELS, right=False).astype(str)
    frame["cell"] = [cell_of(b, h) for b, h in zip(frame["q_bin"], frame["head"])]
    main = frame["q_bin"].isin(budget.bins)
    big = (frame["q_bin"] == "Q<1") & (budget.big_hours > 0) & ~main

    def capped(cap):
        return True if cap is None else frame["flops"] <= cap

    frame["phase"] = np.where(main, "main", np.where(big, "big", ""))
    frame["eligible"] = (main & capped(budget.max_forward_flops)) | (
        big & capped(budget.big_max_forward_flops))
    frame["rank"] = -1
    for i, label in enumerate(Q_LABELS):
        for j, head in enumerate(HEADS):
            members = frame.index[(frame["cell"] == cell_of(label, head)) & frame["eligible"]]
            rng = np.random.default_rng([budget.seed, i, j, _dataset_key(dataset)])
            frame.loc[members, "rank"] = rng.permutation(len(members))
    return frame


def _dataset_key(name) -> int:
    return sum(ord(c) for c in name)  # stable across processes, unlike hash()


def _cells(frame, phase) -> list[str]:
    return [cell_of(b, h) for b in Q_LABELS for h in HEADS
            if ((frame["cell"] == cell_of(b, h)) & (frame["phase"] == phase)).any()]


def next_round(frame: pd.DataFrame, status: dict, budget: Budget, dataset=None,
               phase="main", per_cell=None) -> list[int]:
    """Pairs to add in the next round, given ``status`` (point -> KerasTuner status) of every
    trial run so far: in each cell of the phase, enough untried settings (by rank) to reach
    the wanted number of complete pairs (``per_cell``; default the budget's), counting pairs
    still unfinished as if they will complete. The pairs are interleaved across cells (the
    first of every cell, then the second, ...)."""
    wanted = budget.pairs.get(dataset) if per_cell is None else per_cell
    if dataset is None and per_cell is None:
        wanted = next(iter(budget.pairs.values()))
    per_cell_lists = []
    for cell in _cells(frame, phase):
        members = frame[(frame["cell"] == cell) & frame["eligible"]
                        & (frame["phase"] == phase)].sort_values("rank")
        if wanted is None:
            tried = members["point_seq"].isin(status.keys())
            per_cell_lists.append(members.loc[~tried, "pair"].tolist())
            continue
        ok, untried = 0, []
        for row in members.itertuples():
            s, p = status.get(row.point_seq), status.get(row.point_par)
            if s is None and p is None:
                untried.append(row.pair)
            elif "FAILED" not in (s, p):
                ok += 1
        per_cell_lists.append(untried[:max(0, wanted - ok)])
    chosen = []
    for k in range(max((len(c) for c in per_cell_lists), default=0)):
        chosen += [c[k] for c in per_cell_lists if k < len(c)]
    return chosen


# ---------------------------------------------------------------------------------------
# running


def _statuses(folder: Path) -> dict:
    from zoo.tuning.report import results

    if not folder.is_dir():
        return {}
    frame = results(folder)
    return {} if frame.empty else dict(zip(frame["point"], frame["status"]))


def _big_seconds(folder: Path) -> float:
    """Seconds spent so far on the Q < 1 rounds of one dataset (finished trials)."""
    from zoo.tuning.report import results

    if not folder.is_dir():
        return 0.0
    frame = results(folder)
    if frame.empty:
        return 0.0
    big = frame[frame["search"].str.startswith("big-")]
    return float(big["seconds"].fillna(0).sum())


def _wanted(frame, budget, dataset) -> int:
    per = budget.pairs.get(dataset)
    main = frame[(frame["phase"] == "main") & frame["eligible"]]
    if per is None:
        return 2 * len(main)
    return 2 * sum(min(per, int((main["cell"] == c).sum())) for c in _cells(frame, "main"))


def run(budget: Budget, out: Path, *, time_limit=None, stream=None) -> bool:
    """Run or resume every round of every dataset; False if the time limit stopped it."""
    import logging
    import time

    from zoo.atomic import read_json
    from zoo.progress import Progress
    from zoo.tuning.oracle import StopSearch
    from zoo.tuning.search import SEARCH_FILE, make_tuner

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes: one per trial
    started = time.monotonic()
    plans = {d: plan(d, budget) for d in budget.datasets}
    statuses = {d: _statuses(out / d) for d in budget.datasets}
    wanted = sum(_wanted(plans[d], budget, d) for d in budget.datasets)
    done = sum(len(s) for s in statuses.values())
    failed = sum(v == "FAILED" for s in statuses.values() for v in s.values())
    progress = Progress(max(wanted, done), done=done, failed=failed, stream=stream)

    def ended(trial):
        status = trial.status
        values = trial.hyperparameters.values
        metrics = trial.metrics.metrics
        detail = f"point {values.get('point')} {status.lower()}"
        if "val_loss" in metrics:
            detail += f", val_loss {trial.metrics.get_last_value('val_loss'):.4f}"
        progress.update(failed=status == "FAILED", detail=detail)

    def search(dataset, round_dir, indices):
        remaining = None if time_limit is None else time_limit - (time.monotonic() - started)
        if remaining is not None and remaining <= 0:
            raise StopSearch
        tuner = make_tuner(
            "seed000", dataset, project_dir=round_dir, epochs=budget.epochs,
            seed=budget.seed, subset=budget.train_examples,
            validation_fraction=budget.validation_fraction, evaluate_test=True,
            early_stopping=budget.early_stopping, indices=indices, on_trial=ended,
            time_limit=remaining, fail_at_chance=True)
        tuner.search(verbose=0)

    def indices_of(frame, pairs):
        rows = frame.set_index("pair").loc[pairs]
        return [int(i) for pair in rows.itertuples() for i in (pair.point_seq, pair.point_par)]

    try:
        for dataset in budget.datasets:
            folder = out / dataset
            frame = plans[dataset]
            for r in range(1, budget.max_rounds + 1):
                round_dir = folder / f"round-{r}"
                if (round_dir / SEARCH_FILE).is_file():  # started before: resume it as it was
                    indices = read_json(round_dir / SEARCH_FILE)["indices"]
                else:
                    pairs = next_round(frame, _statuses(folder), budget, dataset)
                    if not pairs:
                        break
                    indices = indices_of(frame, pairs)
                    if r > 1:
                        progress.grow(progress.total + len(indices))
                search(dataset, round_dir, indices)
            if not budget.big_hours:
                continue
            r = 0
            while True:  # the Q < 1 cells: a pair per cell per round while time is left
                r += 1
                round_dir = folder / f"big-{r}"
                if (round_dir / SEARCH_FILE).is_file():
                    indices = read_json(round_dir / SEARCH_FILE)["indices"]
                else:
                    if _big_seconds(folder) >= budget.big_hours * 3600:
                        break
                    ok = sum(1 for p in frame[frame["phase"] == "big"].itertuples()
                             if statuses_ok(_statuses(folder), p))
                    cells = len(_cells(frame, "big"))
                    pairs = next_round(frame, _statuses(folder), budget, dataset,
                                       phase="big", per_cell=ok // max(cells, 1) + 1)
                    if not pairs:
                        break
                    indices = indices_of(frame, pairs)
                    progress.grow(progress.total + len(indices))
                search(dataset, round_dir, indices)
    except StopSearch:
        return False
    finally:
        progress.close()
    return True


def statuses_ok(status: dict, row) -> bool:
    """Both trials of a planned pair finished without failing."""
    return status.get(row.point_seq) == "COMPLETED" and status.get(row.point_par) == "COMPLETED"


# ---------------------------------------------------------------------------------------
# reporting


def trials(out: Path, budget: Budget) -> pd.DataFrame:
    """One row per trial with its pair, Q bin (from the plan, so failed trials have one too)
    and the round that ran it."""
    from zoo.tuning.report import results

    frames = []
    for dataset in budget.datasets:
        folder = out / dataset
        if not folder.is_dir():
            continue
        found = results(folder)
        if found.empty:
            continue
        found["round"] = found["search"].str.extract(r"round-(\d+)", expand=False).astype(int)
        p = plan(dataset, budget)
        long = pd.concat([
            p.rename(columns={"point_seq": "point"}).drop(columns="point_par")
             .assign(layout="sequential"),
            p.rename(columns={"point_par": "point"}).drop(columns="point_seq")
             .assign(layout="parallel")])
        keep = ["point", "pair", "params", "flops", "train_examples", "q", "q_bin"]
        found = found.drop(columns=["params", "q"]).merge(long[keep], on="point", how="left")
        frames.append(found)
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    first = ["dataset", "layout", "pair", "round", "point", "status", "params", "flops",
             "train_examples", "q", "q_bin", "loss", "val_loss", "accuracy", "val_accuracy",
             "seconds", "train_seconds", "epochs", "last_epoch_improvement"]
    rest = [c for c in frame.columns if c not in first and c not in ("search", "grid", "model")]
    return frame[first + rest].sort_values(["dataset", "pair", "layout"]).reset_index(drop=True)


def pairs_of(frame: pd.DataFrame) -> pd.DataFrame:
    """Complete pairs (both layouts COMPLETED), one row each, parallel minus sequential."""
    done = frame[frame["status"] == "COMPLETED"]
    seq = done[done["layout"] == "sequential"].set_index(["dataset", "pair"])
    par = done[done["layout"] == "parallel"].set_index(["dataset", "pair"])
    both = seq.join(par, how="inner", lsuffix="_seq", rsuffix="_par")
    out = pd.DataFrame({"q_bin": both["q_bin_seq"], "q": both["q_seq"],
                        "params": both["params_seq"]})
    for m in ("loss", "val_loss", "accuracy", "val_accuracy", "seconds", "train_seconds"):
        out[f"{m}_seq"], out[f"{m}_par"] = both[f"{m}_seq"], both[f"{m}_par"]
    out["seconds_ratio"] = out["train_seconds_par"] / out["train_seconds_seq"]
    return out.reset_index()


def table2(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and median losses per dataset x layout x Q bin over completed trials, failures
    counted, the paper's Table 2 beside."""
    from zoo.tuning.report import PAPER_TABLE2

    rows = []
    for (dataset, layout, label), part in frame.groupby(["dataset", "layout", "q_bin"]):
        ok = part[part["status"] == "COMPLETED"]
        paper = PAPER_TABLE2.get((PAPER_DATASET.get(dataset, dataset), layout))
        t, v = paper[Q_LABELS.index(label)] if paper else (np.nan, np.nan)
        rows.append({"dataset": dataset, "layout": layout, "q_bin": label,
                     "trials": len(part), "failed": int((part["status"] == "FAILED").sum()),
                     "loss_mean": ok["loss"].mean(), "loss_median": ok["loss"].median(),
                     "val_loss_mean": ok["val_loss"].mean(),
                     "val_loss_median": ok["val_loss"].median(),
                     "val_accuracy_mean": ok["val_accuracy"].mean(),
                     "paper_dataset": PAPER_DATASET.get(dataset, dataset),
                     "paper_loss": t, "paper_val_loss": v})
    out = pd.DataFrame(rows)
    if not out.empty:
        out["q_order"] = out["q_bin"].map(Q_LABELS.index)
        out = out.sort_values(["dataset", "q_order", "layout"]).drop(columns="q_order")
    return out.reset_index(drop=True)


def paired_statistics(pairs: pd.DataFrame, *, seed=0) -> pd.DataFrame:
    """Per dataset and Q bin (and over all bins): parallel minus sequential, for validation
    and training loss, with Wilcoxon p, bootstrap 95% interval, share of pairs in which
    parallel is lower, and the median parallel/sequential training-time ratio."""
    from zoo.studies.stats import paired_difference

    rows = []
    for dataset, part in pairs.groupby("dataset"):
        groups = [(label, part[part["q_bin"] == label]) for label in Q_LABELS] + [("all", part)]
        for label, g in groups:
            if g.empty:
                continue
            row = {"dataset": dataset, "q_bin": label, "pairs": len(g)}
            for metric in ("val_loss", "loss"):
                s = paired_difference(g[f"{metric}_seq"], g[f"{metric}_par"], seed=seed)
                row.update({f"{metric}_{k}": v for k, v in s.items() if k != "n"})
            row["time_ratio_median"] = float(g["seconds_ratio"].median())
            rows.append(row)
    return pd.DataFrame(rows)


def flattening(frame: pd.DataFrame) -> pd.DataFrame:
    """Has training flattened? Per dataset x layout x bin: the median relative improvement of
    the running training loss over the last epoch and the share of trials under 10%."""
    ok = frame[frame["status"] == "COMPLETED"]
    g = ok.groupby(["dataset", "layout", "q_bin"])["last_epoch_improvement"]
    return pd.DataFrame({"trials": g.size(), "median_last_epoch_improvement": g.median(),
                         "share_under_10pct": g.apply(lambda s: float((s < 0.10).mean()))}
                        ).reset_index()


def exclusions(budget: Budget) -> pd.DataFrame:
    """Per dataset and bin: settings in the bin and the share the cost cap leaves out."""
    rows = []
    for dataset in budget.datasets:
        p = plan(dataset, budget)
        for label in budget.bins:
            members = p[p["q_bin"] == label]
            rows.append({"dataset": dataset, "q_bin": label, "settings": len(members),
                         "eligible": int(members["eligible"].sum()),
                         "excluded_share": float(1 - members["eligible"].mean())
                         if len(members) else np.nan})
    return pd.DataFrame(rows)


def cost(frame: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Seconds per trial and the share that is not steady training steps (building,
    tracing, evaluation; and, over the whole study, process start and bookkeeping)."""
    import json

    ok = frame[frame["status"] == "COMPLETED"]
    rows = []
    for (dataset, label), g in ok.groupby(["dataset", "q_bin"]):
        rows.append({"dataset": dataset, "q_bin": label, "trials": len(g),
                     "seconds_median": g["seconds"].median(),
                     "train_seconds_median": g["train_seconds"].median(),
                     "overhead_share": 1 - g["train_seconds"].sum() / g["seconds"].sum()})
    wall = 0.0
    sessions = out / "sessions.jsonl"
    if sessions.is_file():
        wall = sum(json.loads(line)["wall_seconds"] for line in sessions.read_text().splitlines()
                   if line.strip())
    total = frame["seconds"].sum()
    rows.append({"dataset": "all", "q_bin": "all", "trials": len(ok),
                 "seconds_median": ok["seconds"].median(),
                 "train_seconds_median": ok["train_seconds"].median(),
                 "overhead_share": 1 - ok["train_seconds"].sum() / ok["seconds"].sum()
                 if len(ok) else np.nan,
                 "study_wall_seconds": wall,
                 "overhead_share_with_process": 1 - ok["train_seconds"].sum() / wall
                 if wall >= total > 0 else np.nan})
    return pd.DataFrame(rows)


def conclusion(stats: pd.DataFrame, alpha=0.05) -> list[str]:
    """Sentences generated from the paired statistics, one per dataset."""
    lines = []
    for row in stats[stats["q_bin"] == "all"].itertuples():
        def word(p, diff):
            if not np.isfinite(p):
                return "undecided (too few pairs)"
            if p >= alpha:
                return f"no significant difference (Wilcoxon p = {p:.2g})"
            side = "parallel" if diff < 0 else "sequential"
            return f"{side} lower (Wilcoxon p = {p:.2g})"
        lines.append(
            f"{row.dataset}, {row.pairs} pairs: validation loss: "
            f"{word(row.val_loss_wilcoxon_p, row.val_loss_median_diff)}, parallel lower in "
            f"{row.val_loss_share_b_lower:.0%} of pairs, mean difference (parallel - sequential) "
            f"{row.val_loss_mean_diff:+.4f} [95% CI {row.val_loss_ci_low:+.4f}, "
            f"{row.val_loss_ci_high:+.4f}]; training loss: "
            f"{word(row.loss_wilcoxon_p, row.loss_median_diff)}, mean difference "
            f"{row.loss_mean_diff:+.4f} [{row.loss_ci_low:+.4f}, {row.loss_ci_high:+.4f}]; "
            f"parallel/sequential training time {row.time_ratio_median:.2f}x (median).")
    return lines


def plot(frame: pd.DataFrame, pairs: pd.DataFrame, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.tuning.report import plot_loss_vs_q

    datasets = list(dict.fromkeys(frame["dataset"]))
    fig, axes = plt.subplots(2, len(datasets), figsize=(5.5 * len(datasets), 9), squeeze=False)
    for j, dataset in enumerate(datasets):
        ax = plot_loss_vs_q(frame[frame["dataset"] == dataset], axes[0, j])
        ax.set(title=f"{dataset}: loss (evaluation pass) against Q")
        ax = axes[1, j]
        part = pairs[pairs["dataset"] == dataset]
        for label in Q_LABELS:
            g = part[part["q_bin"] == label]
            ax.loglog(g["val_loss_seq"], g["val_loss_par"], "o", ms=4, label=label)
        if not part.empty:
            lo = float(part[["val_loss_seq", "val_loss_par"]].min().min())
            hi = float(part[["val_loss_seq", "val_loss_par"]].max().max())
            ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set(title=f"{dataset}: paired validation loss", xlabel="sequential",
               ylabel="parallel")
        ax.legend(fontsize=7, title="Q bin")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(out: Path, *, budget="cpu") -> dict:
    """trials.csv, table2.csv, paired.csv, stats.csv, flattening.csv, exclusions.csv,
    trial_cost.csv, summary.json, report.md and plots.png in ``out``."""
    from zoo.atomic import write_atomic, write_json

    out = Path(out)
    spec = BUDGETS[budget] if isinstance(budget, str) else budget
    frame = trials(out, spec)
    if frame.empty:
        raise ValueError(f"no trials under {out}: run the study first")
    pairs = pairs_of(frame)
    stats = paired_statistics(pairs, seed=spec.seed)
    t2, flat, excl, costs = table2(frame), flattening(frame), exclusions(spec), cost(frame, out)
    for name, table in (("trials", frame), ("table2", t2), ("paired", pairs), ("stats", stats),
                        ("flattening", flat), ("exclusions", excl), ("trial_cost", costs)):
        write_atomic(out / f"{name}.csv", table.to_csv(index=False))
    complete = pairs.groupby(["dataset", "q_bin"]).size()
    summary = {
        "study": "seed000", "budget": budget if isinstance(budget, str) else "custom",
        "settings": asdict(spec),
        "trials": int(len(frame)),
        "status": {k: int(v) for k, v in frame["status"].value_counts().items()},
        "complete_pairs": {f"{d}/{b}": int(n) for (d, b), n in complete.items()},
        "failed_by_layout_and_bin": {
            f"{d}/{layout}/{b}": int(n) for (d, layout, b), n in
            frame[frame["status"] == "FAILED"].groupby(["dataset", "layout", "q_bin"]).size()
            .items()},
        "paired": {f"{r['dataset']}/{r['q_bin']}": {k: v for k, v in r.items()
                                                     if k not in ("dataset", "q_bin")}
                   for r in stats.to_dict("records")},
        "median_last_epoch_improvement": float(
            frame.loc[frame["status"] == "COMPLETED", "last_epoch_improvement"].median()),
        "overhead_share": float(costs.iloc[-1]["overhead_share"]),
        "conclusion": conclusion(stats) if not stats.empty else [],
    }
    write_json(out / "summary.json", summary)
    plot(frame, pairs, out / "plots.png")
    lines = [
        f"# seed000 ({summary['budget']}): {TITLE}", "",
        f"Budget: {spec.describe()}.", "",
        f"{len(frame)} trials: " + ", ".join(f"{v} {k}" for k, v in summary["status"].items()),
        "", "## Conclusion (generated from the statistics below)", "",
        *[f"- {line}" for line in summary["conclusion"]], "",
        "## Table 2: losses by Q bin, evaluation pass after training (paper beside)", "",
        markdown(t2), "",
        "## Paired differences, parallel minus sequential", "", markdown(stats), "",
        "## Has training flattened? (relative improvement of the last epoch)", "",
        markdown(flat), "",
        "## Settings the cost cap leaves out", "", markdown(excl), "",
        "## Seconds per trial", "", markdown(costs), "",
    ]
    failed = frame[frame["status"] == "FAILED"]
    if not failed.empty:
        lines += ["## Failed trials", "",
                  markdown(failed[["dataset", "layout", "pair", "q_bin", "message"]]), ""]
    write_atomic(out / "report.md", "\n".join(lines))
    return summary

