"""ensemble_view (formerly ``seed002``): residual networks behave like ensembles of shallow
paths (Veit, Wilber, Belongie, NeurIPS 2016).

Design: per dataset, train Veit's network -- a pre-activation ResNet with basic units (110
layers: 54 units, two of them transitions) -- and a plain network without skips, once each,
then measure on a fixed seeded subset of the test split, with nothing retrained:

- ``single``: every unit deleted on its own (a residual unit keeps its skip; a plain layer
  becomes the identity where the shape allows);
- ``branches``: per unit of the ResNet, the norm of its branch's output over its skip's,
  ``|f(x_i)| / |s(x_i)|`` (median and quartiles over the images): what a deletion removes;
- ``random``: k random non-transition units deleted, ``random_samples`` draws per k;
- ``reorder``: s random swaps of same-stage units, ``reorder_samples`` draws per s, with
  Kendall's tau of the order that results;
- ``gradient``: Veit's path sampling on training images: one forward pass per batch, then per
  path length k the gradient routed through k random units' branches and every other unit's
  skip (a transition's skip is its projection); its norm at the input. As in Veit et al.,
  paths run over all 54 units, transitions included, so k = 0..54.

Every measurement is appended to ``<out>/<dataset>/records.jsonl`` as it is made, under a key
drawn from a per-item seed, so a killed run resumes at the next unmeasured item with the same
draws. The trained models are ordinary ``zoo.train.fit`` run folders beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.studies import base

NAME = "ensemble_view"
TITLE = "Residual networks behave like ensembles of shallow paths (Veit et al., NeurIPS 2016)"
NOTEBOOK = "04_ensemble_view.ipynb"  # explains the committed cpu results
CLAIM = ("Deleting or reordering units of a trained pre-activation ResNet at test time degrades "
         "it smoothly while a plain net breaks; the gradient comes from short paths.")
# Veit et al.'s numbers (CIFAR-10, pre-activation ResNet-110, 54 units)
PAPER = {
    "units": 54,
    "path_range_95": (19, 35),  # >95% of the 2^54 paths have 19-35 units
    "effective_range": (5, 17),  # the path lengths that carry almost all of the gradient
    "effective_share_of_paths": 0.0045,  # ... which are 0.45% of all paths
    "single": "no noticeable change except at downsampling units; a plain net drops to chance",
    "random": "error grows smoothly with the number of deleted units",
    "reorder": "error grows smoothly as Kendall's tau falls",
}
MODELS = ("resnet", "plain")


@dataclass(frozen=True)
class LesionBudget(base.Budget):
    """One trained ResNet and one plain net per dataset, and the lesions measured on them."""

    datasets: tuple
    resnet: str  # a registered ResNet, trained with preactivation=True (Veit's units)
    plain: str  # a registered plain network (no skips)
    recipe: str
    epochs: int
    test_examples: int | None  # the seeded test subset every lesion is measured on
    random_ks: tuple
    random_samples: int
    swaps: tuple
    reorder_samples: int
    gradient_batches: int  # batches of training images, one forward pass each
    gradient_batch_size: int
    gradient_samples: int  # routes per path length, over all batches
    seed: int = 0

    def describe(self) -> str:
        test = "the whole test split" if self.test_examples is None else \
            f"{self.test_examples:,} test images"
        return (f"{'/'.join(self.datasets)}: pre-activation {self.resnet} and {self.plain}, "
                f"{self.recipe} recipe x {self.epochs} epochs; lesions on {test} "
                f"(k = {min(self.random_ks)}..{max(self.random_ks)} x {self.random_samples}, "
                f"{len(self.swaps)} swap amounts x {self.reorder_samples}); "
                f"{self.gradient_samples} gradient samples per path length")


BUDGETS = {
    # CI: 20-layer nets on the embedded digits, a few draws of everything (under a minute)
    "smoke": LesionBudget(("digits",), "resnet20", "plain20", "quick", 2, 200, (1, 2, 3), 2,
                          (1, 2, 4), 2, 1, 16, 2),
    # 2 CPU cores: Veit's 54-unit net, 3 epochs of the full train split (about an hour per
    # dataset with the plain net),
    # every lesion on 5,000 test images, 100 gradient samples per path length
    "cpu": LesionBudget(("fashion_mnist", "mnist"), "resnet110", "plain20", "he2016", 3, 5000,
                        tuple(range(1, 21)), 10, (1, 2, 4, 8, 16, 32, 64), 10, 5, 32, 100),
    # one H100/H200 (JAX), in stages: longer training, the whole test split, Veit's 1,000
    # gradient samples per length
    "gpu": LesionBudget(("fashion_mnist", "mnist"), "resnet110", "plain20", "he2016", 30, None,
                        tuple(range(1, 21)), 20, (1, 2, 4, 8, 16, 32, 64), 20, 20, 32, 1000),
}


# ---------------------------------------------------------------------------------------
# running


def _run_dir(out: Path, dataset, which, budget) -> Path:
    name = budget.resnet.replace("resnet", "preresnet") if which == "resnet" else budget.plain
    return out / dataset / name


# The cpu budget's four trained nets are published (saved_models/, cards beside them) and
# committed there only: their run folders keep config, curves and results, and a rerun loads
# the published copy (after checking its card against the run) instead of the 15 MB file.
PUBLISHED = {"resnet": "preresnet110.{dataset}", "plain": "plain20.seed002_{dataset}"}


def _train(out: Path, dataset, which, budget: LesionBudget, stream):
    from zoo.studies import runs

    extra = {"preactivation": True} if which == "resnet" else {}
    published = PUBLISHED[which].format(dataset=dataset) if budget == BUDGETS["cpu"] else None
    return runs.train(_run_dir(out, dataset, which, budget),
                      budget.resnet if which == "resnet" else budget.plain, dataset,
                      recipe=budget.recipe, epochs=budget.epochs, seed=budget.seed,
                      stream=stream, published=published, **extra)


def _rng(budget, *key):
    return np.random.default_rng([budget.seed, *key])


def _items(budget: LesionBudget, units: dict):
    """Every measurement of one dataset, as (key, kind, model, arguments), in running order.
    ``units`` maps model -> its residual units."""
    from zoo.analysis.lesion import random_order

    for which in MODELS:
        yield f"baseline/{which}", "baseline", which, {}
    for which in MODELS:
        for i in range(len(units[which])):
            yield f"single/{which}/{i}", "single", which, {"unit": i}
    # what each unit's branch adds beside its skip (explains which single lesions hurt)
    yield "branches/resnet", "branches", "resnet", {}
    deletable = {w: [i for i, u in enumerate(units[w]) if not u.is_transition] for w in MODELS}
    for which in MODELS:
        for k in budget.random_ks:
            if k > len(deletable[which]):
                continue
            for s in range(budget.random_samples):
                delete = sorted(_rng(budget, 1, k, s).choice(deletable[which], k, replace=False)
                                .tolist())
                yield f"random/{which}/{k}/{s}", "random", which, {"k": k, "sample": s,
                                                                    "deleted": delete}
    for swaps in budget.swaps:
        for s in range(budget.reorder_samples):
            order = random_order(units["resnet"], swaps, _rng(budget, 2, swaps, s))
            yield f"reorder/{swaps}/{s}", "reorder", "resnet", {"swaps": swaps, "sample": s,
                                                                 "order": order}
    n = len(units["resnet"])  # Veit's 2^54 paths: transitions are units of a path too
    per_batch = -(-budget.gradient_samples // budget.gradient_batches)
    for b in range(budget.gradient_batches):
        for k in range(n + 1):
            yield f"gradient/{b}/{k}", "gradient", "resnet", {"batch": b, "k": k,
                                                               "samples": per_batch}


def count_items(budget: LesionBudget, units: dict) -> int:
    return sum(1 for _ in _items(budget, units))


def _measure(kind, model, args, x, y, paths, units, budget):
    from functools import partial

    from zoo.analysis import branch_ratios, kendall_tau, lesion
    from zoo.analysis.gradients import path_routes
    from zoo.analysis.lesion import accuracy

    # big batches: 14% faster than 256 for ResNet-110 on 2 cores, same predictions
    accuracy = partial(accuracy, batch_size=1000)

    if kind == "baseline":
        return {"accuracy": accuracy(model, x, y)}
    if kind == "single":
        u = units[args["unit"]]
        try:
            acc = accuracy(lesion(model, delete=[args["unit"]]), x, y)
        except ValueError:  # a plain transition changes the shape: it cannot be deleted
            acc = float("nan")
        return {"name": u.name, "transition": bool(u.is_transition), "accuracy": acc}
    if kind == "branches":
        rows = branch_ratios(model, x)
        return {key: [r[key] for r in rows] for key in ("median", "q25", "q75")}
    if kind == "random":
        return {"accuracy": accuracy(lesion(model, delete=args["deleted"]), x, y)}
    if kind == "reorder":
        return {"kendall_tau": kendall_tau(args["order"]),
                "accuracy": accuracy(lesion(model, order=args["order"]), x, y)}
    if kind == "gradient":
        rng = _rng(budget, 3, args["batch"], args["k"])
        norms = [float(np.mean(paths.input_gradient_norm(path_routes(units, args["k"], rng))))
                 for _ in range(args["samples"])]
        return {"norms": norms}
    raise ValueError(f"unknown measurement {kind!r}")


def _dataset_units(budget: LesionBudget, dataset):
    """The residual units of both models, built untrained: the plan needs only the layout."""
    from zoo.data import dataset_info
    from zoo.models.units import residual_units
    from zoo.registry import create_model

    info = dataset_info(dataset)
    shape = dict(input_shape=info.shape, num_classes=info.num_classes)
    return {"resnet": residual_units(create_model(budget.resnet, preactivation=True, **shape)),
            "plain": residual_units(create_model(budget.plain, **shape))}


def run(budget: LesionBudget, out: Path, *, time_limit=None, stream=None) -> bool:
    """Train, then measure every item of every dataset; False if the time limit stopped it."""
    from zoo.data import load
    from zoo.models.units import residual_units
    from zoo.progress import Progress
    from zoo.studies import runs
    from zoo.studies.records import Records

    deadline = base.Deadline(time_limit)
    layouts = {d: _dataset_units(budget, d) for d in budget.datasets}
    records = {d: Records(out / d / "records.jsonl") for d in budget.datasets}
    trained = {d: sum(runs.finished(_run_dir(out, d, w, budget)) for w in MODELS)
               for d in budget.datasets}
    total = sum(2 + count_items(budget, layouts[d]) for d in budget.datasets)
    done = sum(trained[d] + len(records[d]) for d in budget.datasets)
    progress = Progress(total, done=done, label="items", stream=stream)

    try:
        for dataset in budget.datasets:
            log = records[dataset]
            todo = [item for item in _items(budget, layouts[dataset]) if item[0] not in log]
            if not todo and trained[dataset] == 2:
                continue
            models = {}
            for which in MODELS:
                if deadline.passed():
                    return False
                already = runs.finished(_run_dir(out, dataset, which, budget))
                models[which] = _train(out, dataset, which, budget, stream)
                if not already:
                    progress.update(detail=f"{dataset}: trained {which}")
            progress.restart_clock()  # the measurements' pace, not the training's
            units = {w: residual_units(models[w]) for w in MODELS}
            x, y = load(dataset, "test", normalize=None, subset=budget.test_examples,
                        seed=budget.seed)
            paths = {}
            for key, kind, which, args in todo:
                if deadline.passed():
                    return False
                if kind == "gradient" and args["batch"] not in paths:
                    paths.clear()  # one forward pass (and its tapes) in memory at a time
                    paths[args["batch"]] = _forward(models["resnet"], dataset, args["batch"],
                                                    budget)
                values = _measure(kind, models[which], args, x, y, paths.get(args.get("batch")),
                                  units[which], budget)
                log.add(key, kind=kind, model=which, **args, **values)
                progress.update(detail=f"{dataset}: {key}")
    finally:
        progress.close()
    return True


def _forward(model, dataset, batch, budget):
    from zoo.analysis.gradients import PathGradients
    from zoo.data import load

    n = budget.gradient_batch_size
    x, y = load(dataset, "train", normalize=None, subset=n * budget.gradient_batches,
                seed=budget.seed + 1)
    return PathGradients(model, x[batch * n:(batch + 1) * n], y[batch * n:(batch + 1) * n])


# ---------------------------------------------------------------------------------------
# reporting


def _frames(out: Path, budget: LesionBudget) -> dict:
    from zoo.studies import runs
    from zoo.studies.records import Records

    tables = {k: [] for k in ("models", "single", "branches", "random", "reorder", "gradient")}
    for dataset in budget.datasets:
        log = Records(out / dataset / "records.jsonl")
        baseline = {r["model"]: r["accuracy"] for r in log.of("baseline")}
        for which in MODELS:
            folder = _run_dir(out, dataset, which, budget)
            if not runs.finished(folder):
                continue
            r = runs.read(folder)
            tables["models"].append({
                "dataset": dataset, "model": which, "architecture": folder.name,
                "params": r["params"], "epochs": r["epochs"],
                "train_examples": r["train_examples"],
                "test_accuracy": r["test_accuracy"], "test_loss": r["test_loss"],
                "train_seconds": r["seconds_per_epoch"] * r["epochs"],
                "lesion_examples": budget.test_examples or r["test_examples"],
                "lesion_baseline": baseline.get(which)})
        for r in log.of("single"):
            tables["single"].append({"dataset": dataset, "model": r["model"], "unit": r["unit"],
                                     "name": r["name"], "transition": r["transition"],
                                     "accuracy": r["accuracy"], "baseline": baseline.get(r["model"])})
        for r in log.of("branches"):
            for unit, values in enumerate(zip(r["median"], r["q25"], r["q75"])):
                tables["branches"].append({"dataset": dataset, "model": r["model"],
                                           "unit": unit, **dict(zip(("median", "q25", "q75"),
                                                                    values))})
        for r in log.of("random"):
            tables["random"].append({"dataset": dataset, "model": r["model"], "k": r["k"],
                                     "sample": r["sample"], "accuracy": r["accuracy"],
                                     "deleted": " ".join(map(str, r["deleted"]))})
        for r in log.of("reorder"):
            tables["reorder"].append({"dataset": dataset, "model": r["model"],
                                      "swaps": r["swaps"], "sample": r["sample"],
                                      "kendall_tau": r["kendall_tau"],
                                      "accuracy": r["accuracy"]})
        for r in log.of("gradient"):
            for s, norm in enumerate(r["norms"]):
                tables["gradient"].append({"dataset": dataset, "batch": r["batch"], "k": r["k"],
                                           "sample": s, "norm": norm})
    columns = {
        "models": ["dataset", "model", "architecture", "params", "epochs", "train_examples",
                   "test_accuracy", "test_loss", "train_seconds", "lesion_examples",
                   "lesion_baseline"],
        "single": ["dataset", "model", "unit", "name", "transition", "accuracy", "baseline"],
        "branches": ["dataset", "model", "unit", "median", "q25", "q75"],
        "random": ["dataset", "model", "k", "sample", "accuracy", "deleted"],
        "reorder": ["dataset", "model", "swaps", "sample", "kendall_tau", "accuracy"],
        "gradient": ["dataset", "batch", "k", "sample", "norm"],
    }
    frames = {k: pd.DataFrame(v, columns=columns[k]) for k, v in tables.items()}
    if not frames["single"].empty:
        frames["single"]["drop"] = frames["single"]["baseline"] - frames["single"]["accuracy"]
    return frames


def gradient_summary(gradient: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and path length: mean norm, its standard error, the number of paths of
    that length and the share of the whole (Binomial-weighted) gradient it carries."""
    rows = []
    for dataset, g in gradient.groupby("dataset", sort=False):
        n = int(g["k"].max())
        stats = g.groupby("k")["norm"].agg(["mean", "sem", "count"]).reset_index()
        weighted = stats["mean"] * [comb(n, int(k)) for k in stats["k"]]
        for (_, r), w in zip(stats.iterrows(), weighted):
            rows.append({"dataset": dataset, "k": int(r["k"]), "mean_norm": r["mean"],
                         "sem": r["sem"], "samples": int(r["count"]), "paths": comb(n, int(r["k"])),
                         "weighted_share": w / weighted.sum()})
    return pd.DataFrame(rows, columns=["dataset", "k", "mean_norm", "sem", "samples", "paths",
                                       "weighted_share"])


def random_summary(random: pd.DataFrame) -> pd.DataFrame:
    if random.empty:
        return pd.DataFrame(columns=["dataset", "model", "k", "mean_accuracy", "std_accuracy",
                                     "min_accuracy", "max_accuracy", "samples"])
    return (random.groupby(["dataset", "model", "k"])["accuracy"]
            .agg(mean_accuracy="mean", std_accuracy="std", min_accuracy="min",
                 max_accuracy="max", samples="count").reset_index())


def reorder_summary(reorder: pd.DataFrame) -> pd.DataFrame:
    if reorder.empty:
        return pd.DataFrame(columns=["dataset", "swaps", "mean_tau", "mean_accuracy",
                                     "std_accuracy", "samples"])
    return (reorder.groupby(["dataset", "swaps"])
            .agg(mean_tau=("kendall_tau", "mean"), mean_accuracy=("accuracy", "mean"),
                 std_accuracy=("accuracy", "std"), samples=("accuracy", "count"))
            .reset_index())


def _smooth(x, accuracy) -> dict:
    """How smoothly accuracy falls along ``x`` (more lesion): Spearman's rho of x against
    the mean error, and the largest step of the mean error as a share of its whole rise."""
    from scipy.stats import spearmanr

    error = 1 - np.asarray(accuracy, dtype=float)
    if len(error) < 3:
        return {"rho": None, "largest_step_share": None}
    rise = error[-1] - error[0]
    steps = np.diff(error)
    return {"rho": float(spearmanr(x, error).statistic),
            "largest_step_share": float(steps.max() / rise) if rise > 0 else None}


def headline(frames: dict, budget: LesionBudget) -> dict:
    """The numbers behind each claim, per dataset, with a verdict for each (thresholds are
    stated in ``VERDICT_RULES``)."""
    from zoo.analysis.gradients import effective_range
    from zoo.analysis.paths import central_range

    out = {}
    grad = gradient_summary(frames["gradient"])
    rnd, reo = random_summary(frames["random"]), reorder_summary(frames["reorder"])
    for dataset in budget.datasets:
        h = {}
        models = frames["models"][frames["models"]["dataset"] == dataset].set_index("model")
        for which in MODELS:
            if which in models.index:
                h[f"{which}_test_accuracy"] = float(models.loc[which, "test_accuracy"])
                h[f"{which}_lesion_baseline"] = models.loc[which, "lesion_baseline"]
        single = frames["single"][frames["single"]["dataset"] == dataset]
        res = single[(single["model"] == "resnet") & ~single["transition"].astype(bool)]
        res_t = single[(single["model"] == "resnet") & single["transition"].astype(bool)]
        pla = single[(single["model"] == "plain") & single["accuracy"].notna()]
        if not res.empty and not pla.empty:
            h["single"] = {
                "resnet_units": int(len(res)),
                "resnet_median_drop": float(res["drop"].median()),
                "resnet_max_drop": float(res["drop"].max()),
                "resnet_units_dropping_over_1pt": int((res["drop"] > 0.01).sum()),
                "resnet_transition_drops": [float(v) for v in res_t["drop"]],
                "plain_layers": int(len(pla)),
                "plain_median_accuracy": float(pla["accuracy"].median()),
                "plain_max_accuracy": float(pla["accuracy"].max()),
            }
            s = h["single"]
            s.update(_drop_vs_branch(res, frames["branches"]))
        r = rnd[(rnd["dataset"] == dataset) & (rnd["model"] == "resnet")]
        if len(r) >= 3:
            h["random"] = {"k": r["k"].tolist(), "mean_accuracy": r["mean_accuracy"].tolist(),
                           "std_accuracy": r["std_accuracy"].tolist(),
                           **_smooth(r["k"], r["mean_accuracy"])}
            p = rnd[(rnd["dataset"] == dataset) & (rnd["model"] == "plain")]
            h["random"]["plain_mean_accuracy_k1"] = \
                float(p.loc[p["k"] == 1, "mean_accuracy"].iloc[0]) if (p["k"] == 1).any() else None
        o = reo[reo["dataset"] == dataset]
        if len(o) >= 3:
            h["reorder"] = {"swaps": o["swaps"].tolist(), "mean_tau": o["mean_tau"].tolist(),
                            "mean_accuracy": o["mean_accuracy"].tolist(),
                            **_smooth(-o["mean_tau"].to_numpy(), o["mean_accuracy"])}
        g = grad[grad["dataset"] == dataset]
        if len(g) >= 2:
            n = int(g["k"].max())
            lo, hi = effective_range(g["k"].tolist(), (g["weighted_share"]).tolist())
            # a norm of exactly 0 is float32 underflow, not a measurement (results taken
            # before PathGradients scaled its backward pass read 0 from 28 units on): fit
            # the decay where the norms are measurable, and say from where they are not
            positive = g[g["mean_norm"] > 0]
            slope = float(np.polyfit(positive["k"], np.log(positive["mean_norm"]), 1)[0])
            zero = g.loc[g["mean_norm"] == 0, "k"]
            h["gradient"] = {
                "units": n, "path_range_95": list(central_range(n, 0.95)),
                "effective_range": [lo, hi],
                "effective_share_of_paths": sum(comb(n, k) for k in range(lo, hi + 1)) / 2 ** n,
                "norm_decay_per_unit": float(np.exp(slope)),
                "underflow_from_length": int(zero.min()) if len(zero) else None,
                "samples_per_length": int(g["samples"].min()),
            }
        out[dataset] = h
    return out


def _drop_vs_branch(single: pd.DataFrame, branches: pd.DataFrame) -> dict:
    """Spearman's rho between a non-transition unit's lesion drop and its branch ratio
    |f(x)| / |x| (median over the lesion images): does what a unit adds predict what its
    deletion costs?"""
    from scipy.stats import spearmanr

    if branches.empty:
        return {}
    b = branches[branches["model"] == "resnet"][["dataset", "unit", "median"]]
    both = single.merge(b, on=["dataset", "unit"])
    if len(both) < 3:
        return {}
    rho = spearmanr(both["median"], both["drop"])
    worst = both.loc[both["drop"].idxmax()]
    return {"drop_vs_branch_ratio_rho": float(rho.statistic),
            "drop_vs_branch_ratio_p": float(rho.pvalue),
            "largest_drop_unit": int(worst["unit"]),
            "largest_drop_unit_branch_ratio": float(worst["median"]),
            "median_branch_ratio": float(both["median"].median())}


# Veit et al. say "no noticeable change" for a single deleted non-downsampling unit and give
# no number in our notes; 1 point of accuracy is our operational reading of it, declared here.
# Lenient where the error is small (MNIST's 0.56% may nearly triple within it); the README and
# notebook 04 say so beside the verdicts.
SINGLE_MARGIN = 1.0
CHANCE_BAND = 20.0  # "drops to chance" (10% for ten classes): at most 20% accuracy


def claims(budget: LesionBudget) -> list:
    """Veit et al.'s claims, declared before the numbers. Each is judged on one trained
    network per dataset (n counts units, draws or path lengths of that one network)."""
    from zoo.studies.claims import Claim

    out = []
    for d in budget.datasets:
        net = dict(group=d)
        out += [
            Claim(f"{d}/single-resnet", source="Fig. 3", statement="deleting one "
                  "non-transition unit of the ResNet changes accuracy by less than 1 point "
                  "(mean over units)", paper=PAPER["single"], kind="equivalence",
                  measure="accuracy drop (points), one value per unit", margin=SINGLE_MARGIN,
                  margin_reason="our reading of 'no noticeable change' (no number in our "
                                "notes)", **net),
            Claim(f"{d}/single-resnet-without-unit-0", source="Fig. 3", statement="(post "
                  "hoc, declared after unit 0 was seen) the same, leaving out unit 0, which "
                  "widens nothing but behaves like a transition", paper=PAPER["single"],
                  kind="equivalence",
                  measure="accuracy drop (points), one value per unit", margin=SINGLE_MARGIN,
                  margin_reason="as above", **net),
            Claim(f"{d}/single-plain", source="Fig. 3", statement="deleting one layer of the "
                  "plain net leaves it near chance (accuracy <= 20%)", paper=PAPER["single"],
                  kind="range", measure="accuracy (%) after the deletion, one value per layer",
                  low=0.0, high=CHANCE_BAND, **net),
            Claim(f"{d}/random-smooth", source="Fig. 5a", statement="accuracy falls smoothly "
                  "as more random units are deleted (monotone: no significant rise between "
                  "neighbouring k)",
                  paper=PAPER["random"], kind="monotone",
                  measure="mean accuracy over draws, by k", direction=-1, **net),
            Claim(f"{d}/random-smooth-without-unit-0", source="Fig. 5a", statement="(post "
                  "hoc, declared after unit 0 was seen) the same, over the draws that spare "
                  "unit 0", paper=PAPER["random"], kind="monotone",
                  measure="mean accuracy over draws, by k", direction=-1, **net),
            Claim(f"{d}/reorder-smooth", source="Fig. 5b", statement="accuracy falls smoothly "
                  "as more units are swapped (monotone: no significant rise between swap "
                  "counts)",
                  paper=PAPER["reorder"], kind="monotone",
                  measure="mean accuracy over draws, by swaps", direction=-1, **net),
            Claim(f"{d}/gradient-decays", source="Fig. 6b", statement="the gradient norm "
                  "falls with the path length (monotone: no significant rise between lengths)",
                  paper="magnitude decays exponentially in k", kind="monotone",
                  measure="mean input-gradient norm, by path length", direction=-1, **net),
        ]
    return out


def _series(frame, by, value="accuracy"):
    g = frame.groupby(by)[value]
    return _series_of(g.mean().tolist(), g.sem().tolist(), list(g.mean().index))


def _series_of(means, ses, index):
    from zoo.studies.claims import Measurement

    if len(means) < 2:
        return Measurement(not_tested="fewer than two points measured so far")
    return Measurement(means=means, ses=ses, note=f"{index[0]}..{index[-1]}")


def measurements(frames: dict, budget: LesionBudget) -> dict:
    from zoo.studies.claims import Measurement

    out = {}
    pending = Measurement(not_tested="not measured yet (the study resumes where it stopped)",
                          pending=True)
    for claim in claims(budget):
        d, what = claim.id.split("/")
        single = frames["single"][frames["single"]["dataset"] == d]
        if what.startswith("single-resnet"):
            res = single[(single["model"] == "resnet") & ~single["transition"].astype(bool)]
            if what.endswith("unit-0"):
                res = res[res["unit"] != 0]
            out[claim.id] = Measurement(values=(100 * res["drop"]).tolist(),
                                        note=f"{len(res)} units, 1 network") \
                if len(res) >= 2 else pending
        elif what == "single-plain":
            pla = single[(single["model"] == "plain") & single["accuracy"].notna()]
            out[claim.id] = Measurement(values=(100 * pla["accuracy"]).tolist(),
                                        note=f"{len(pla)} layers, 1 network") \
                if len(pla) >= 2 else pending
        elif what.startswith("random-smooth"):
            r = frames["random"]
            r = r[(r["dataset"] == d) & (r["model"] == "resnet")]
            if what.endswith("unit-0"):
                r = r[[0 not in map(int, str(v).split()) for v in r["deleted"]]]
            out[claim.id] = _series(r, "k") if not r.empty else pending
        elif what == "reorder-smooth":
            r = frames["reorder"]
            r = r[r["dataset"] == d]
            out[claim.id] = _series(r, "swaps") if not r.empty else pending
        else:
            g = frames["gradient"]
            g = g[g["dataset"] == d]
            out[claim.id] = _series(g, "k", "norm") if not g.empty else pending
    return out


def conclusion(heads: dict) -> list[str]:
    """Descriptive sentences (numbers only; the verdicts are in the claims table)."""
    lines = []
    for dataset, h in heads.items():
        if not h.get("complete", True):
            lines.append(f"{dataset}: partial, {h['measured']} of {h['planned']} measurements "
                         "so far; its numbers can still change.")
        if "single" in h:
            s = h["single"]
            lines.append(
                f"{dataset}: deleting one of {s['resnet_units']} non-transition units costs the "
                f"ResNet a median {100 * s['resnet_median_drop']:.2f} points (worst "
                f"{100 * s['resnet_max_drop']:.2f}); deleting one layer of the plain net leaves "
                f"a median accuracy of {100 * s['plain_median_accuracy']:.1f}%.")
        if "random" in h:
            r = h["random"]
            lines.append(
                f"{dataset}: deleting k = {r['k'][0]}..{r['k'][-1]} random units takes the "
                f"ResNet from {100 * r['mean_accuracy'][0]:.1f}% to "
                f"{100 * r['mean_accuracy'][-1]:.1f}% (mean over draws).")
        if "reorder" in h:
            r = h["reorder"]
            lines.append(
                f"{dataset}: reordering down to Kendall tau {r['mean_tau'][-1]:.2f} takes it "
                f"from {100 * r['mean_accuracy'][0]:.1f}% to {100 * r['mean_accuracy'][-1]:.1f}%.")
        if "gradient" in h:
            g = h["gradient"]
            lines.append(
                f"{dataset}: 90% of the Binomial-weighted gradient comes from paths of "
                f"{g['effective_range'][0]}-{g['effective_range'][1]} units "
                f"({100 * g['effective_share_of_paths']:.2f}% of the paths; Veit: 5-17, 0.45%), "
                f"while 95% of paths have {g['path_range_95'][0]}-{g['path_range_95'][1]} units; "
                f"each unit on the path multiplies the gradient norm by "
                f"{g['norm_decay_per_unit']:.2f}"
                + (f" (from {g['underflow_from_length']} units on, it underflows float32 to 0)"
                   if g.get("underflow_from_length") is not None else "") + ".")
    return lines


def _pct(v):
    return "n/a" if v is None else f"{100 * v:.0f}%"


def plot(frames, heads, path: Path):
    import matplotlib

    from zoo.atomic import write_figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.analysis.plots import plot_random_lesions, plot_reorder_lesions, plot_single_lesions

    datasets = list(heads)
    fig, axes = plt.subplots(len(datasets), 4, figsize=(17, 3.6 * len(datasets)), squeeze=False)
    grad = gradient_summary(frames["gradient"])
    rnd, reo = random_summary(frames["random"]), reorder_summary(frames["reorder"])
    for row, dataset in zip(axes, datasets):
        s = frames["single"][frames["single"]["dataset"] == dataset]
        for which in MODELS:
            m = s[s["model"] == which]
            baseline = m["baseline"].iloc[0] if len(m) else None
            plot_single_lesions(m.to_dict("records"), baseline=baseline, ax=row[0], label=which,
                                transitions=which == "resnet")
            plot_random_lesions(rnd[(rnd["dataset"] == dataset) & (rnd["model"] == which)]
                                .to_dict("records"), ax=row[1], label=which)
        row[0].set(title=f"{dataset}: one unit deleted")
        row[1].set(title="k random units deleted (mean ± std, cut at 0 and 100%)")
        plot_reorder_lesions(frames["reorder"][frames["reorder"]["dataset"] == dataset]
                             .to_dict("records"), ax=row[2],
                             means=reo[reo["dataset"] == dataset].to_dict("records"))
        row[2].set(title="ResNet units reordered")
        g = grad[grad["dataset"] == dataset]
        if not g.empty:
            row[3].semilogy(g["k"], g["mean_norm"], "o-", ms=3, label="gradient norm")
            twin = row[3].twinx()
            twin.plot(g["k"], g["weighted_share"], "r-", label="x number of paths (share)")
            twin.set_ylabel("share of total gradient", color="r")
        row[3].set(title="gradient per path length", xlabel="path length k",
                   ylabel="mean input-gradient norm")
    fig.tight_layout()
    write_figure(path, fig, dpi=100)
    plt.close(fig)


def judged(out: Path, budget="cpu") -> list[dict]:
    """The verdict rows the rule gives on the measurements in ``out``, without writing."""
    from zoo.studies import claims as verdicts

    _, spec = base.resolve(BUDGETS, budget)
    return verdicts.judge(claims(spec), measurements(_frames(Path(out), spec), spec))


def report(out: Path, *, budget="cpu") -> dict:
    """models.csv, single_unit_lesions.csv, branch_ratios.csv, random_lesions.csv (+ _summary),
    reorder_lesions.csv (+ _summary), path_gradients.csv (+ _summary), summary.json,
    report.md and plots.png in ``out``."""
    out = Path(out)
    budget, spec = base.resolve(BUDGETS, budget)
    frames = _frames(out, spec)
    if frames["models"].empty:
        raise ValueError(f"no trained models under {out}: run the study first")
    tables = {
        "models": frames["models"], "single_unit_lesions": frames["single"],
        "branch_ratios": frames["branches"],
        "random_lesions": frames["random"], "random_lesions_summary": random_summary(
            frames["random"]),
        "reorder_lesions": frames["reorder"], "reorder_lesions_summary": reorder_summary(
            frames["reorder"]),
        "path_gradients": frames["gradient"],
        "path_gradients_summary": gradient_summary(frames["gradient"]),
    }
    heads = headline(frames, spec)
    from zoo.studies.records import Records

    for dataset, h in heads.items():  # a study still running: say how far each dataset is
        planned = count_items(spec, _dataset_units(spec, dataset))
        measured = len(Records(out / dataset / "records.jsonl"))
        h.update(measured=measured, planned=planned, complete=measured >= planned)
    from zoo.studies import claims as verdicts

    rows = verdicts.judge(claims(spec), measurements(frames, spec))
    test = "the whole test split" if spec.test_examples is None else \
        f"{spec.test_examples:,} test images (a seeded subset)"
    summary = base.summary_head(
        NAME, budget, spec, rows=rows, paper=PAPER,
        splits={"training": "the whole train split (no validation: a fixed recipe, no "
                            "selection)",
                "lesions": f"{test}, the same for every lesion and both networks",
                "path_gradients": f"{spec.gradient_batches} batches of "
                                  f"{spec.gradient_batch_size} training images (a seeded "
                                  "subset)"},
        networks_per_dataset=1, datasets=heads, numbers=conclusion(heads))
    lines = [*base.report_head(NAME, TITLE, budget, spec),
             "## Verdicts (computed by zoo.studies.claims; one trained network per dataset, n "
             f"counts its units, draws or path lengths; Holm over the study's "
             f"{rows[0]['tests_in_family'] if rows else 0} tests)", "",
             verdicts.markdown(rows), "",
             "## Numbers", "", *[f"- {line}" for line in summary["numbers"]], "",
             "## Trained models", "", base.markdown(frames["models"]), "",
             "## k random units deleted", "", base.markdown(tables["random_lesions_summary"]), "",
             "## Reordering", "", base.markdown(tables["reorder_lesions_summary"]), "",
             "## Gradient per path length", "",
             base.markdown(tables["path_gradients_summary"]), ""]
    return base.write_report(out, tables, summary, lines,
                             plot=lambda path: plot(frames, heads, path))
