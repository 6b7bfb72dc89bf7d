"""merge_and_run (formerly ``seed001``): Zhao, Wang et al., *Deep Convolutional Neural
Networks with Merge-and-Run Mappings*, IJCAI 2018.

Design: four networks trained with one recipe and one budget, each from the same seeds:
DMRNet (two streams, merge-and-run), a ResNet with parameters within 5% of it (the paper's
comparison at equal parameters: DMRNet-56 against ResNet-110), and the paper's two
ablations of the block -- two independent streams (``identity``) and one stream with two
branches (``inception_like``). Every (model, seed) is one ``zoo.train.fit`` run folder under
``<out>/<dataset>/<model>/seed-<s>/``; a killed run resumes from its last finished epoch, a
finished one is never trained again. Test loss and accuracy come from an evaluation pass over
the whole test split after training. Runs with the same seed share data order and
initialization seed, so differences are paired by seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.studies import base

NAME = "merge_and_run"
TITLE = "Merge-and-run mappings (Zhao, Wang et al., IJCAI 2018)"
NOTEBOOK = "03_merge_and_run.ipynb"  # explains the committed cpu results
CLAIM = ("At equal parameters DMRNet is more accurate than a ResNet; merge-and-run beats both "
         "of its ablations (independent streams, inception-like).")
# CIFAR-10 test error (%), the paper's table: DMRNet-56 and ResNet-110 have 1.7M parameters each
PAPER = {"dmrnet56_error": 4.94, "resnet110_error": 6.43, "dataset": "cifar10"}
COLUMNS = ["dataset", "model", "seed", "params", "test_accuracy", "test_loss",
           "seconds_per_epoch", "epochs", "train_examples"]


@dataclass(frozen=True)
class SeedsBudget(base.Budget):
    """Every model of the study trained from the same seeds, with one recipe."""

    datasets: tuple
    dmrnet_depth: int  # DMRNet depth 6b+2
    resnet_depth: int  # the ResNet whose parameters are within 5% of the DMRNet's
    recipe: str
    epochs: int
    train_examples: int | None
    seeds: tuple

    def describe(self) -> str:
        n = "all" if self.train_examples is None else f"{self.train_examples:,}"
        return (f"{'/'.join(self.datasets)}: DMRNet-{self.dmrnet_depth} and its two ablations "
                f"vs ResNet-{self.resnet_depth}, {self.recipe} recipe, {n} train images x "
                f"{self.epochs} epochs, seeds {', '.join(map(str, self.seeds))}")

    def models(self) -> dict:
        """name -> (registered model, builder overrides)."""
        d = self.dmrnet_depth
        return {"dmrnet": ("dmrnet20", {"depth": d, "name": f"dmrnet{d}"}),
                f"resnet{self.resnet_depth}": ("resnet20", {"depth": self.resnet_depth,
                                                            "name": f"resnet{self.resnet_depth}"}),
                "identity": ("dmrnet20", {"depth": d, "mode": "identity",
                                          "name": f"dmrnet{d}_identity"}),
                "inception_like": ("dmrnet20", {"depth": d, "mode": "inception_like",
                                                "name": f"dmrnet{d}_inception_like"})}


BUDGETS = {
    # CI: small nets on the embedded digits, 2 seeds, 1 epoch (under a minute)
    "smoke": SeedsBudget(("digits",), 8, 14, "quick", 1, None, (0, 1)),
    # 2 CPU cores: DMRNet-20 (546,650 parameters on 28x28x1) against ResNet-38 (566,746,
    # +3.7%), the paper's recipe (Nesterov SGD, batch 64, lr /10 at 1/2, 3/4, 7/8) shortened to
    # 4 epochs of 20,000 Fashion-MNIST images, 5 seeds: 4-12 minutes per run, 2.6 h in all
    "cpu": SeedsBudget(("fashion_mnist",), 20, 38, "dmrnet", 4, 20_000, (0, 1, 2, 3, 4)),
    # one H100/H200 (JAX), in stages: the paper's sizes (DMRNet-56 vs ResNet-110), the whole
    # train split, 5 seeds
    "gpu": SeedsBudget(("fashion_mnist", "mnist"), 56, 110, "dmrnet", 60, None, (0, 1, 2, 3, 4)),
}


def _run_dir(out: Path, dataset, model, seed) -> Path:
    return Path(out) / dataset / model / f"seed-{seed}"


def runs(budget: SeedsBudget):
    """Every (dataset, model, seed) of the study, in running order: seed by seed, so that a
    study cut short has complete pairs first."""
    for dataset in budget.datasets:
        for seed in budget.seeds:
            for model in budget.models():
                yield dataset, model, seed


def run(budget: SeedsBudget, out: Path, *, time_limit=None, stream=None) -> bool:
    """Train every run not yet finished; False if the time limit stopped it."""
    from zoo.progress import Progress
    from zoo.studies import runs as trained

    total = sum(1 for _ in runs(budget))
    done = sum(trained.finished(_run_dir(out, *r)) for r in runs(budget))
    progress = Progress(total, done=done, label="runs", stream=stream)
    models = budget.models()
    jobs = ((f"{dataset} {model} seed {seed}", _run_dir(out, dataset, model, seed),
             models[model][0], dataset,
             {"recipe": budget.recipe, "epochs": budget.epochs, "seed": seed,
              "subset": budget.train_examples, **models[model][1]})
            for dataset, model, seed in runs(budget))
    try:
        return trained.train_each(jobs, deadline=base.Deadline(time_limit), progress=progress,
                                  stream=stream)
    finally:
        progress.close()


def results(out: Path, budget: SeedsBudget) -> pd.DataFrame:
    from zoo.studies import runs as trained

    return trained.frame(
        (({"dataset": dataset, "model": model, "seed": seed}, _run_dir(out, dataset, model, seed))
         for dataset, model, seed in runs(budget)), COLUMNS)


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds, per dataset and model."""
    table = (frame.groupby(["dataset", "model"], sort=False)
             .agg(params=("params", "first"), seeds=("seed", "count"),
                  accuracy_mean=("test_accuracy", "mean"), accuracy_std=("test_accuracy", "std"),
                  loss_mean=("test_loss", "mean"), loss_std=("test_loss", "std"),
                  seconds_per_epoch=("seconds_per_epoch", "mean"))
             .reset_index())
    dmr = table[table["model"] == "dmrnet"].set_index("dataset")["params"]
    table.insert(3, "params_vs_dmrnet", table["params"] / table["dataset"].map(dmr))
    return table


def paired(frame: pd.DataFrame) -> pd.DataFrame:
    """DMRNet minus each other model, paired by seed: mean and spread of the test accuracy
    difference and the seeds DMRNet wins (descriptive; the verdicts come from
    :func:`claims` and :func:`zoo.studies.claims.judge`)."""
    rows = []
    for dataset, part in frame.groupby("dataset", sort=False):
        wide = part.pivot(index="seed", columns="model", values="test_accuracy")
        if "dmrnet" not in wide:
            continue
        for other in [c for c in wide.columns if c != "dmrnet"]:
            both = wide[["dmrnet", other]].dropna()
            diff = both["dmrnet"] - both[other]
            rows.append({"dataset": dataset, "against": other, "seeds": len(diff),
                         "accuracy_difference": float(diff.mean()) if len(diff) else np.nan,
                         "difference_std": float(diff.std()) if len(diff) > 1 else np.nan,
                         "dmrnet_wins": int((diff > 0).sum())})
    return pd.DataFrame(rows, columns=["dataset", "against", "seeds", "accuracy_difference",
                                       "difference_std", "dmrnet_wins"])


def claims(budget: SeedsBudget) -> list:
    """The paper's claims, declared before the runs: per dataset, DMRNet more accurate than
    the ResNet of (about) its parameters, and than each of its two ablations. Measure: test
    accuracy difference DMRNet - other, in points, paired by seed."""
    from zoo.studies.claims import Claim

    out = []
    for d in budget.datasets:
        common = dict(kind="difference", measure="test accuracy, DMRNet - other (points)",
                      direction=+1, group=d)
        out += [
            Claim(f"{d}/dmrnet-vs-resnet", source="Table (CIFAR-10)",
                  statement=f"DMRNet-{budget.dmrnet_depth} more accurate than "
                            f"ResNet-{budget.resnet_depth} at about equal parameters",
                  paper="DMRNet-56 4.94% vs ResNet-110 6.43% error (1.7M parameters each)",
                  paper_effect=6.43 - 4.94, **common),
            Claim(f"{d}/dmrnet-vs-identity", source="ablation (section 4)",
                  statement="merge-and-run beats two independent streams (identity ablation)",
                  paper="merge-and-run ahead (direction; its numbers are not in our notes)",
                  **common),
            Claim(f"{d}/dmrnet-vs-inception", source="ablation (section 4)",
                  statement="merge-and-run beats one stream with two branches "
                            "(inception-like ablation)",
                  paper="merge-and-run ahead (direction; its numbers are not in our notes)",
                  **common),
        ]
    return out


def measurements(frame: pd.DataFrame, budget: SeedsBudget, finished=False) -> dict:
    """Each claim's accuracies (%) per seed, paired; a claim short of the budget's seeds
    waits (pending) until they are all in or the run has ``finished``."""
    """Claim id -> Measurement (a = the other model, b = DMRNet, in points, by seed)."""
    from zoo.studies.claims import Measurement

    others = {"dmrnet-vs-resnet": f"resnet{budget.resnet_depth}",
              "dmrnet-vs-identity": "identity", "dmrnet-vs-inception": "inception_like"}
    out = {}
    for claim in claims(budget):
        d, what = claim.id.split("/")
        part = frame[frame["dataset"] == d]
        wide = part.pivot(index="seed", columns="model", values="test_accuracy") \
            if not part.empty else pd.DataFrame()
        other = others[what]
        if "dmrnet" not in wide or other not in wide:
            out[claim.id] = Measurement(not_tested=f"no finished {other} / dmrnet runs yet",
                                        pending=True)
            continue
        both = wide[["dmrnet", other]].dropna()
        if len(both) < len(budget.seeds) and not finished:
            out[claim.id] = Measurement(pending=True, not_tested=base.interim(
                f"{len(both)} of {len(budget.seeds)} seeds",
                float((100 * (both["dmrnet"] - both[other])).mean())))
            continue
        out[claim.id] = Measurement(a=(100 * both[other]).tolist(),
                                    b=(100 * both["dmrnet"]).tolist(),
                                    note=f"{len(both)} of {len(budget.seeds)} seeds")
    return out


def judged(out: Path, budget="cpu") -> list[dict]:
    """The verdict rows the rule gives on the finished runs in ``out``, without writing."""
    from zoo.studies import claims as verdicts

    _, spec = base.resolve(BUDGETS, budget)
    return verdicts.judge(claims(spec), measurements(results(Path(out), spec), spec,
                                                     base.run_finished(out, budget)))


def report(out: Path, *, budget="cpu") -> dict:
    """runs.csv, summary.csv, paired.csv, summary.json and report.md in ``out``."""
    out = Path(out)
    budget, spec = base.resolve(BUDGETS, budget)
    frame = results(out, spec)
    if frame.empty:
        raise ValueError(f"no finished runs under {out}: run the study first")
    from zoo.studies import claims as verdicts

    table, pairs = summary_table(frame), paired(frame)
    rows = verdicts.judge(claims(spec), measurements(frame, spec,
                                                     base.run_finished(out, budget)))
    summary = base.summary_head(
        NAME, budget, spec, rows=rows, paper=PAPER,
        splits={"test_accuracy": "the whole test split, one evaluation pass after "
                                 "training; no validation (fixed recipe, no selection)"},
        runs=int(len(frame)),
        models={f"{r['dataset']}/{r['model']}": {k: v for k, v in r.items()
                                                 if k not in ("dataset", "model")}
                for r in table.to_dict("records")},
        paired={f"{r['dataset']}/dmrnet-{r['against']}": {
            k: v for k, v in r.items() if k not in ("dataset", "against")}
            for r in pairs.to_dict("records")})
    lines = [*base.report_head(NAME, TITLE, budget, spec),
             "## Verdicts (computed by zoo.studies.claims: paired t over seeds, Holm over "
             f"the study's {rows[0]['tests_in_family']} tests)", "",
             verdicts.markdown(rows), "",
             f"Paper (CIFAR-10, 1.7M parameters each): DMRNet-56 {PAPER['dmrnet56_error']}% "
             f"error, ResNet-110 {PAPER['resnet110_error']}%.", "",
             "## Mean and standard deviation over seeds", "", base.markdown(table), "",
             "## DMRNet minus each other model, paired by seed", "", base.markdown(pairs), ""]
    return base.write_report(out, {"runs": frame, "summary": table, "paired": pairs}, summary,
                             lines)
