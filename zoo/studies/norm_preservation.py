"""norm_preservation (formerly ``seed003``): norm preservation and the Procrustes ResNet
(Zaeemzadeh, Rahnavard, Shah, TPAMI 2021).

Design, three parts on one dataset:

- ``ratios``: for each family -- pre-activation bottleneck ResNet (``zoo.preresnet``, depth
  9n+2: the paper's ResNet-164 at n = 18), plain (no skips, basic units, 6n+2), ProcResNet with
  and without the projection (9n+4), and the PreResNet without its skips (``skip=False``: the
  same units, added after a review) -- at four depths (the paper's 164/166-layer scale and
  three shallower), the gradient-norm ratio ``||dE/dx_in|| / ||dE/dx_out||`` of every block between
  the first and the last unit (:func:`zoo.analysis.norms.block_norm_ratios`), on a fixed
  seeded set of test images, at initialization and again after one epoch of training from
  that same initialization. A block with ratio 1 preserves the norm; ``|log ratio|`` is how
  far it is from that, set against the paper's ``delta ~ log(2L)/L``. Batch normalization
  uses the measured batch's statistics, as in the training step where the paper measures
  (an untrained net's moving averages would make every deep ResNet's gradient exactly 0).
- ``compare`` (the paper's headline): ProcResNet against the pre-activation bottleneck ResNet
  of the same depth and widths (ProcResNet-(9n+4) vs PreResNet-(9n+2): the same n units per
  stage), one recipe, the same seeds; test accuracy by an evaluation pass, paired by seed.
- ``accuracy`` (an ablation, not the headline): ProcResNet with and without the projection,
  trained the same way.

They run in the order compare, ratios, accuracy, so that a budget cut short (the ``gpu``
budget's 10-minute device calls) has the headline first. Every ratio measurement is appended
to ``<out>/<dataset>/records.jsonl`` under its key; every training run is a
``zoo.train.fit`` run folder. A killed run resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import log
from pathlib import Path

import numpy as np
import pandas as pd

from zoo import quiet
from zoo.studies import base

NAME = "norm_preservation"
TITLE = "Norm preservation and the Procrustes ResNet (Zaeemzadeh et al., TPAMI 2021)"
NOTEBOOK = "05_norm_preservation.ipynb"  # explains the committed cpu results
CLAIM = ("Identity skips keep the gradient norm nearly constant through a unit (delta shrinking "
         "like log(2L)/L), transitions break it, and projecting the transitions onto "
         "norm-preserving operators (ProcResNet) makes the network more accurate.")
# CIFAR-10 test error (%), the paper's table
PAPER = {"resnet164_error": 5.46, "procresnet166_error": 4.75, "resnet272_error": 4.73,
         "procresnet274_error": 4.20, "delta": "c * log(2L) / L"}
FAMILIES = ("preresnet", "plain", "procresnet", "procresnet_noproj", "preresnet_noskip")
# the paper's CIFAR-10 parameters of the nets the study measures at their full depth
PAPER_PARAMS = {"preresnet164": 1.71e6, "procresnet166": 1.72e6, "preresnet272": 2.82e6,
                "procresnet274": 2.83e6}


@dataclass(frozen=True)
class NormBudget(base.Budget):
    """Gradient-norm ratios at several depths, ProcResNet vs PreResNet, and the ablation."""

    datasets: tuple
    units_per_stage: dict = field(hash=False)  # family -> units per stage, one per depth
    ratio_examples: int = 256  # test images the ratios are measured on
    ratio_recipe: str = "procresnet"
    ratio_train_examples: int | None = None  # the one epoch of training before "trained"
    accuracy_model: str = "procresnet22"  # and its _noproj twin
    accuracy_recipe: str = "procresnet"
    accuracy_epochs: int = 4
    accuracy_train_examples: int | None = None
    seeds: tuple = (0, 1, 2)
    # ProcResNet vs PreResNet: (units per stage n, seeds) per pair, trained like ``accuracy``
    comparisons: tuple = ()
    seed: int = 0

    def describe(self) -> str:
        depths = ", ".join(f"{f} {'/'.join(map(str, depths_of(f, self)))}"
                           for f in self.units_per_stage)
        n = "all" if self.ratio_train_examples is None else f"{self.ratio_train_examples:,}"
        m = "all" if self.accuracy_train_examples is None else \
            f"{self.accuracy_train_examples:,}"
        compare = "; ".join(f"ProcResNet-{9 * k + 4} vs PreResNet-{9 * k + 2}, seeds "
                            f"{', '.join(map(str, seeds))}" for k, seeds in self.comparisons)
        return (f"{'/'.join(self.datasets)}: ratios of {depths} on {self.ratio_examples} test "
                f"images, at initialization and after 1 epoch of {n} images; "
                + (f"{compare}; " if compare else "")
                + f"ablation {self.accuracy_model} with vs without projection; every run "
                f"{m} images x {self.accuracy_epochs} epochs, ablation seeds "
                f"{', '.join(map(str, self.seeds))}")

    def settings(self) -> dict:
        return {**super().settings(),
                "ratio_batch_normalization": "statistics of the measured images (training mode)"}


def depth_of(family, n) -> int:
    """Depth of a family's net with n units per stage: bottleneck units are 3 layers."""
    if family.startswith("procresnet"):
        return 9 * n + 4  # stem, two standalone transitions, dense
    return 9 * n + 2 if family.startswith("preresnet") else 6 * n + 2


def depths_of(family, budget) -> list[int]:
    return [depth_of(family, n) for n in budget.units_per_stage[family]]


BUDGETS = {
    # CI: two small depths of each family on the embedded digits (under a minute)
    "smoke": NormBudget(("digits",), {"preresnet": (1, 2), "plain": (1, 2), "procresnet": (1,),
                                       "procresnet_noproj": (1,), "preresnet_noskip": (1, 2)},
                        ratio_examples=64, ratio_recipe="quick", accuracy_model="procresnet22",
                        accuracy_recipe="quick", accuracy_epochs=1, seeds=(0, 1),
                        comparisons=((1, (0, 1)),)),
    # 2 CPU cores: depths 20/56/110/164 (PreResNet, plain) and 22/58/112/166 (ProcResNet);
    # one epoch of 10,000 Fashion-MNIST images between the two measurements; ProcResNet-22 vs
    # PreResNet-20 (5 seeds) and ProcResNet-58 vs PreResNet-56 (3 seeds), the projection
    # ablation at 22 layers (3 seeds), every run 20,000 images x 4 epochs (~5 min at 22
    # layers, ~13 at 58: about 2.5 hours for the comparisons)
    "cpu": NormBudget(("fashion_mnist",), {"preresnet": (2, 6, 12, 18), "plain": (3, 9, 18, 27),
                                            "procresnet": (2, 6, 12, 18),
                                            "procresnet_noproj": (2, 6, 12, 18),
                                            "preresnet_noskip": (2, 6, 12, 18)},
                      ratio_train_examples=10_000, accuracy_train_examples=20_000,
                      comparisons=((2, (0, 1, 2, 3, 4)), (6, (0, 1, 2)))),
    # one H100/H200 (JAX), in stages: the full train split, ProcResNet-166 vs PreResNet-164
    # (the paper's pair), 5 seeds
    "gpu": NormBudget(("fashion_mnist",), {"preresnet": (2, 6, 12, 18), "plain": (3, 9, 18, 27),
                                            "procresnet": (2, 6, 12, 18),
                                            "procresnet_noproj": (2, 6, 12, 18),
                                            "preresnet_noskip": (2, 6, 12, 18)},
                      ratio_examples=1024, accuracy_model="procresnet166", accuracy_epochs=30,
                      seeds=(0, 1, 2, 3, 4), comparisons=((18, (0, 1, 2, 3, 4)),)),
}


# Each family is a registered model at another depth (with overrides); the registry builds it.
# preresnet_noskip is the PreResNet without its skips (added after a review: the basic-unit
# plain net differs from the bottleneck PreResNet in more than its skips).
FAMILY_MODELS = {"preresnet": ("preresnet164", {}), "plain": ("plain20", {}),
                 "procresnet": ("procresnet166", {}),
                 "procresnet_noproj": ("procresnet166_noproj", {}),
                 "preresnet_noskip": ("preresnet164", {"skip": False})}


def _build(family, n, dataset, seed):
    from zoo.data import dataset_info
    from zoo.registry import create_model

    info = dataset_info(dataset)
    quiet.set_random_seed(seed)
    depth = depth_of(family, n)
    model, overrides = FAMILY_MODELS[family]
    return depth, create_model(model, depth=depth, name=f"{family}{depth}", **overrides,
                               input_shape=info.shape, num_classes=info.num_classes,
                               input_normalization=dataset)


def _ratio_items(budget: NormBudget):
    for family, ns in budget.units_per_stage.items():
        for n in ns:
            for phase in ("init", "trained"):
                yield f"ratios/{family}/{n}/{phase}", family, n, phase


def _accuracy_runs(budget: NormBudget):
    for seed in budget.seeds:
        for projection in (True, False):
            yield seed, budget.accuracy_model + ("" if projection else "_noproj")


def _compare_runs(budget: NormBudget):
    """(seed, folder part, run name, registered model, builder overrides) of the ProcResNet
    vs PreResNet comparisons, seed by seed so that a study cut short has complete pairs
    first. A ProcResNet that the projection ablation trains anyway (its model and one of its
    seeds, the same recipe, epochs and data) is that run, in the ablation's folder, not a
    second identical training."""
    for n, seeds in budget.comparisons:
        for seed in seeds:
            proc, pre = depth_of("procresnet", n), depth_of("preresnet", n)
            if f"procresnet{proc}" == budget.accuracy_model:
                part = "accuracy" if seed in budget.seeds else "compare"
                yield seed, part, budget.accuracy_model, budget.accuracy_model, {}
            else:
                yield seed, "compare", f"procresnet{proc}", "procresnet22", {
                    "depth": proc, "name": f"procresnet{proc}"}
            yield seed, "compare", f"preresnet{pre}", "preresnet164", {
                "depth": pre, "name": f"preresnet{pre}"}


def run(budget: NormBudget, out: Path, *, time_limit=None, stream=None) -> bool:
    from zoo.analysis.norms import block_norm_ratios
    from zoo.data import load
    from zoo.progress import Progress
    from zoo.studies import runs
    from zoo.studies.records import Records
    from zoo.train import TrainingDiverged

    deadline = base.Deadline(time_limit)
    logs = {d: Records(out / d / "records.jsonl") for d in budget.datasets}
    items = [(d, *item) for d in budget.datasets for item in _ratio_items(budget)]
    # the paper's headline (ProcResNet vs PreResNet) first: on a GPU, in 10-minute calls, it
    # is what the first calls should buy; then the ratios, then the projection ablation
    compare = [(d, part, seed, *r) for d in budget.datasets
               for seed, part, *r in _compare_runs(budget)]
    ablation = [(d, "accuracy", s, m, m, {}) for d in budget.datasets
                for s, m in _accuracy_runs(budget)]
    folders = {out / d / part / m / f"seed-{s}" for d, part, s, m, _, _ in compare + ablation}
    done = sum(item[1] in logs[item[0]] for item in items) + sum(map(runs.finished, folders))
    progress = Progress(len(items) + len(folders), done=done, label="items", stream=stream)

    def train_runs(which) -> bool:
        return runs.train_each(
            ((f"{dataset}: {name} seed {seed}", out / dataset / part / name / f"seed-{seed}",
              model, dataset, {"recipe": budget.accuracy_recipe, "epochs": budget.accuracy_epochs,
                               "seed": seed, "subset": budget.accuracy_train_examples,
                               **overrides})
             for dataset, part, seed, name, model, overrides in which),
            deadline=deadline, progress=progress, stream=stream)

    try:
        if not train_runs(compare):
            return False
        for dataset, key, family, n, phase in items:
            log_ = logs[dataset]
            if key in log_:
                continue
            if deadline.passed():
                return False
            x, y = load(dataset, "test", normalize=None, subset=budget.ratio_examples,
                        seed=budget.seed)
            depth, model = _build(family, n, dataset, budget.seed)
            values = {"family": family, "n": n, "depth": depth, "phase": phase}
            if phase == "trained":
                try:
                    model = runs.train(out / dataset / "ratios" / f"{family}-{depth}", model,
                                       dataset,
                                       recipe=budget.ratio_recipe, epochs=1, seed=budget.seed,
                                       subset=budget.ratio_train_examples, stream=stream)
                except TrainingDiverged as e:
                    log_.add(key, kind="ratios", **values, diverged=str(e), blocks=[])
                    progress.update(failed=True, detail=f"{dataset}: {key} diverged")
                    continue
            log_.add(key, kind="ratios", **values, diverged=None,
                     blocks=block_norm_ratios(model, x, y))
            progress.update(detail=f"{dataset}: {key}")
        return train_runs(ablation)
    finally:
        progress.close()


# ---------------------------------------------------------------------------------------
# reporting


def ratio_frame(out: Path, budget: NormBudget) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per measured block, and one row per (family, depth, phase) that diverged."""
    from zoo.studies.records import Records

    rows, diverged = [], []
    for dataset in budget.datasets:
        for r in Records(out / dataset / "records.jsonl").of("ratios"):
            if r["n"] not in budget.units_per_stage.get(r["family"], ()):
                continue  # a family or depth this budget no longer measures
            head = {"dataset": dataset, "family": r["family"], "depth": r["depth"],
                    "phase": r["phase"]}
            if r.get("diverged"):
                diverged.append({**head, "message": r["diverged"]})
            for position, block in enumerate(r["blocks"]):
                rows.append({**head, "position": position, **block})
    columns = ["dataset", "family", "depth", "phase", "position", "block", "kind",
               "transition", "ratio"]
    return pd.DataFrame(rows, columns=columns), \
        pd.DataFrame(diverged, columns=["dataset", "family", "depth", "phase", "message"])


def ratio_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, family, depth, phase and block type: how far the ratios are from 1
    (mean and max ``|log ratio|``) beside the paper's ``log(2L)/L`` with L the identity
    blocks of that network."""
    cols = ["dataset", "family", "depth", "phase", "blocks", "identity_blocks", "type",
            "mean_ratio", "mean_abs_log_ratio", "se_abs_log_ratio", "max_abs_log_ratio",
            "log2L_over_L"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    frame = frame.assign(dev=np.abs(np.log(frame["ratio"])),
                         type=np.where(frame["transition"], "transition", "identity"))
    identity = (frame[~frame["transition"]].groupby(["dataset", "family", "depth", "phase"])
                .size().rename("identity_blocks"))
    out = (frame.groupby(["dataset", "family", "depth", "phase", "type"])
           .agg(blocks=("ratio", "size"), mean_ratio=("ratio", "mean"),
                mean_abs_log_ratio=("dev", "mean"), se_abs_log_ratio=("dev", "sem"),
                max_abs_log_ratio=("dev", "max"))
           .reset_index().join(identity, on=["dataset", "family", "depth", "phase"]))
    out["identity_blocks"] = out["identity_blocks"].fillna(0).astype(int)
    out["log2L_over_L"] = [log(2 * n) / n if n else np.nan for n in out["identity_blocks"]]
    return out[cols]


def accuracy_frame(out: Path, budget: NormBudget) -> pd.DataFrame:
    from zoo.studies import runs

    return runs.frame(
        (({"dataset": dataset, "model": name, "projection": not name.endswith("_noproj"),
           "seed": seed}, out / dataset / "accuracy" / name / f"seed-{seed}")
         for dataset in budget.datasets for seed, name in _accuracy_runs(budget)),
        ["dataset", "model", "projection", "seed", "params", "test_accuracy", "test_loss",
         "epochs", "seconds_per_epoch", "train_examples", "test_examples"])


def ratio_models_frame(out: Path, budget: NormBudget) -> pd.DataFrame:
    """Test accuracy of each net after its one epoch (did it learn at all?)."""
    from zoo.studies import runs

    return runs.frame(
        (({"dataset": dataset, "family": family, "depth": depth},
          out / dataset / "ratios" / f"{family}-{depth}")
         for dataset in budget.datasets for family in budget.units_per_stage
         for depth in depths_of(family, budget)),
        ["dataset", "family", "depth", "params", "test_accuracy", "test_loss",
         "seconds_per_epoch"])


def compare_frame(out: Path, budget: NormBudget) -> pd.DataFrame:
    """One row per finished ProcResNet / PreResNet comparison run."""
    from zoo.studies import runs

    def labels(dataset, seed, name):
        family = "procresnet" if name.startswith("procresnet") else "preresnet"
        depth = int(name[len(family):])
        n = next(k for k, _ in budget.comparisons if depth_of(family, k) == depth)
        return {"dataset": dataset, "model": name, "family": family, "n": n, "depth": depth,
                "seed": seed}

    return runs.frame(
        ((labels(dataset, seed, name), out / dataset / part / name / f"seed-{seed}")
         for dataset in budget.datasets for seed, part, name, _, _ in _compare_runs(budget)),
        ["dataset", "model", "family", "n", "depth", "seed", "params", "test_accuracy",
         "test_loss", "epochs", "seconds_per_epoch", "train_examples", "test_examples"])


def compare_table(comp: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over seeds per model, with parameters beside the paper's."""
    cols = ["dataset", "model", "depth", "params", "paper_params_cifar10", "seeds",
            "accuracy_mean", "accuracy_std"]
    if comp.empty:
        return pd.DataFrame(columns=cols)
    t = (comp.groupby(["dataset", "model", "depth"], sort=False)
         .agg(params=("params", "first"), seeds=("seed", "count"),
              accuracy_mean=("test_accuracy", "mean"), accuracy_std=("test_accuracy", "std"))
         .reset_index())
    t["paper_params_cifar10"] = t["model"].map(PAPER_PARAMS)
    return t[cols]


def _by_depth(summary, phase, family, kind, column="mean_abs_log_ratio") -> pd.Series:
    s = summary[(summary["phase"] == phase) & (summary["family"] == family)
                & (summary["type"] == kind)]
    return s.set_index("depth")[column].sort_index()


def claims(budget: NormBudget) -> list:
    """The paper's claims, declared before the numbers: three about gradient norms (after the
    one epoch of training, where the paper measures), one about the projection's effect on
    the transitions, the headline ProcResNet vs PreResNet accuracy per compared depth, the
    paper-scale pair where this budget cannot run it, and the projection ablation."""
    from zoo.studies.claims import Claim

    out = []
    for d in budget.datasets:
        norm = dict(source="section 3 (Theorem 1)", group=d)
        out += [
            Claim(f"{d}/skips-keep-norm", statement="identity blocks of a ResNet are closer to "
                  "norm-preserving than the blocks of a plain net (paired by depth)",
                  paper="(1-delta) <= ratio <= (1+delta) with skips; no bound without",
                  kind="difference", measure="mean |log ratio|, PreResNet - plain",
                  direction=-1, **norm),
            Claim(f"{d}/skips-keep-norm-same-units", statement="(post hoc, declared after a "
                  "review found the plain net built of other units) identity blocks of the "
                  "PreResNet are closer to norm-preserving than the same blocks with every skip "
                  "removed (paired by depth)",
                  paper="(1-delta) <= ratio <= (1+delta) with skips; no bound without",
                  kind="difference", measure="mean |log ratio|, PreResNet - PreResNet without "
                  "skips", direction=-1, **norm),
            Claim(f"{d}/transitions-break-it", statement="a ResNet's transition blocks are "
                  "further from norm-preserving than its identity blocks (paired by depth)",
                  paper="transitions break norm preservation", kind="difference",
                  measure="mean |log ratio|, identity - transition", direction=-1, **norm),
            Claim(f"{d}/delta-shrinks", statement="the deviation of a ResNet's identity "
                  "blocks falls as depth grows (monotone: no significant rise between depths)",
                  paper="delta ~ c log(2L)/L", kind="monotone",
                  measure="mean |log ratio| of identity blocks, by depth", direction=-1,
                  **norm),
            Claim(f"{d}/projection-fixes-transitions", statement="the projection makes "
                  "ProcResNet's transitions closer to norm-preserving (paired by depth; a check "
                  "of the implementation: the projection is built to do this)",
                  paper="projected transitions have all singular values equal",
                  kind="difference", measure="mean |log ratio| of transitions, with - "
                  "without projection", direction=-1, source="section 4", group=d),
        ]
        pairs = {"2": ("ProcResNet-166 vs ResNet-164: 4.75% vs 5.46% error", 0.71),
                 "6": ("ProcResNet-274 vs ResNet-272: 4.20% vs 4.73% error", 0.53)}
        for n, _ in budget.comparisons:
            text, effect = pairs.get(str(n), pairs["2"])
            out.append(Claim(
                f"{d}/procresnet{depth_of('procresnet', n)}-vs-preresnet"
                f"{depth_of('preresnet', n)}",
                source="Table (CIFAR-10)", statement=f"ProcResNet-{depth_of('procresnet', n)}"
                f" more accurate than PreResNet-{depth_of('preresnet', n)} (same units, widths,"
                " recipe, seeds)", paper=text, kind="difference",
                measure="test accuracy, ProcResNet - PreResNet (points)", direction=+1,
                paper_effect=effect, group=d))
        if 18 not in [n for n, _ in budget.comparisons]:
            out.append(Claim(
                f"{d}/procresnet166-vs-preresnet164", source="Table (CIFAR-10)",
                statement="ProcResNet-166 more accurate than PreResNet-164 (the paper's pair)",
                paper="4.75% vs 5.46% error", kind="difference",
                measure="test accuracy, ProcResNet - PreResNet (points)", direction=+1,
                paper_effect=0.71, group=d))
        out.append(Claim(
            f"{d}/projection-accuracy", source="ablation", statement=f"{budget.accuracy_model}"
            " with the projection more accurate than without (an ablation, not the headline)",
            paper="the projection is what ProcResNet adds", kind="difference",
            measure="test accuracy, with - without projection (points)", direction=+1,
            group=d))
    return out


# the ratio claims that compare two sides: (family, blocks) of a, then of b, depth by depth
_COMPARED = {
    "skips-keep-norm": (("plain", "identity"), ("preresnet", "identity")),
    "skips-keep-norm-same-units": (("preresnet_noskip", "identity"), ("preresnet", "identity")),
    "transitions-break-it": (("preresnet", "transition"), ("preresnet", "identity")),
    "projection-fixes-transitions": (("procresnet_noproj", "transition"),
                                     ("procresnet", "transition")),
}


def measurements(summary: pd.DataFrame, acc: pd.DataFrame, comp: pd.DataFrame,
                 budget: NormBudget, diverged: pd.DataFrame | None = None,
                 finished=False) -> dict:
    """Each claim's measurement; the seeded comparisons wait (pending) for all their
    planned seeds unless the run has ``finished``."""
    from zoo.studies.claims import Measurement

    out = {}
    for claim in claims(budget):
        d, what = claim.id.split("/")
        s = summary[summary["dataset"] == d] if not summary.empty else summary
        pending = Measurement(not_tested="not measured yet (the study resumes where it "
                                         "stopped)", pending=True)
        if what in ("skips-keep-norm", "skips-keep-norm-same-units", "transitions-break-it",
                    "projection-fixes-transitions", "delta-shrinks"):
            if s.empty:
                out[claim.id] = pending
                continue
            if what in _COMPARED:
                (fam_a, blocks_a), (fam_b, blocks_b) = _COMPARED[what]
                families = tuple(dict.fromkeys((fam_a, fam_b)))
                a = _by_depth(s, "trained", fam_a, blocks_a)
                b = _by_depth(s, "trained", fam_b, blocks_b)
            else:
                m = _by_depth(s, "trained", "preresnet", "identity")
                se = _by_depth(s, "trained", "preresnet", "identity", "se_abs_log_ratio")
                out[claim.id] = Measurement(means=m.tolist(), ses=se.tolist(),
                                            note=f"depths {', '.join(map(str, m.index))}")
                continue
            common = a.index.intersection(b.index)
            if len(common) < 2:
                # a diverged net is recorded without blocks: it is done, but has no rows
                lost = pd.DataFrame(columns=["dataset", "family", "depth", "phase"]) \
                    if diverged is None else diverged
                lost = lost[(lost["dataset"] == d) & (lost["phase"] == "trained")]
                trained = s[s["phase"] == "trained"]
                done = all({depth_of(f, n) for n in budget.units_per_stage.get(f, ())}
                           <= set(trained.loc[trained["family"] == f, "depth"])
                           | set(lost.loc[lost["family"] == f, "depth"]) for f in families)
                # every planned net recorded: the budget's depths are too few (a 3-stage net
                # with one unit per stage has only transitions) or some diverged; the run
                # itself is finished
                gone = sorted({f"{f}-{k}" for f, k in zip(lost["family"], lost["depth"])
                               if f in families})
                out[claim.id] = pending if not done else Measurement(not_tested=(
                    f"this budget's depths give {len(common)} depth(s) with both sides of the "
                    f"comparison measured ({', '.join(map(str, common)) or 'none'})"
                    + (f", {', '.join(gone)} diverged" if gone else "") + "; a test needs two"))
                continue
            out[claim.id] = Measurement(a=a[common].tolist(), b=b[common].tolist(),
                                        note=f"depths {', '.join(map(str, common))}; one "
                                             "network per depth")
            continue
        if what == "projection-accuracy":
            part = acc[acc["dataset"] == d]
            wide = part.pivot_table(index="seed", columns="projection",
                                    values="test_accuracy").dropna() if not part.empty \
                else pd.DataFrame()
            if wide.shape[1] < 2:
                out[claim.id] = pending
                continue
            if len(wide) < len(budget.seeds) and not finished:
                out[claim.id] = Measurement(pending=True, not_tested=base.interim(
                    f"{len(wide)} of {len(budget.seeds)} seeds",
                    float((100 * (wide[True] - wide[False])).mean())))
                continue
            out[claim.id] = Measurement(a=(100 * wide[False]).tolist(),
                                        b=(100 * wide[True]).tolist(),
                                        note=f"{len(wide)} seeds")
            continue
        proc, pre = (int(x) for x in what.replace("procresnet", "").split("-vs-preresnet"))
        if proc == 166 and 18 not in [n for n, _ in budget.comparisons]:
            out[claim.id] = Measurement(not_tested="compute: 166 layers on the full train "
                                                   "split need the gpu budget")
            continue
        part = comp[(comp["dataset"] == d) & comp["depth"].isin([proc, pre])]
        wide = part.pivot_table(index="seed", columns="family", values="test_accuracy"
                                ).dropna() if not part.empty else pd.DataFrame()
        if wide.shape[1] < 2:
            out[claim.id] = pending
            continue
        wanted = dict(budget.comparisons).get((proc - 4) // 9, ())
        if len(wide) < len(wanted) and not finished:
            out[claim.id] = Measurement(pending=True, not_tested=base.interim(
                f"{len(wide)} of {len(wanted)} seeds",
                float((100 * (wide["procresnet"] - wide["preresnet"])).mean())))
            continue
        out[claim.id] = Measurement(a=(100 * wide["preresnet"]).tolist(),
                                    b=(100 * wide["procresnet"]).tolist(),
                                    note=f"{len(wide)} of {len(wanted)} seeds")
    return out


def plot(summary: pd.DataFrame, frame: pd.DataFrame, path: Path):
    import matplotlib

    from zoo.atomic import write_figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = [p for p in ("init", "trained") if (summary["phase"] == p).any()]
    fig, axes = plt.subplots(1, len(phases) + 1, figsize=(5.5 * (len(phases) + 1), 3.8),
                             squeeze=False)
    for ax, phase in zip(axes[0], phases):
        s = summary[(summary["phase"] == phase) & (summary["type"] == "identity")]
        for family, part in s.groupby("family"):
            ax.plot(part["depth"], part["mean_abs_log_ratio"], "o-", label=family)
        ref = s[s["family"] == "resnet"]
        if not ref.empty:
            ax.plot(ref["depth"], ref["log2L_over_L"], "k--", label="log(2L)/L")
        ax.set(xlabel="depth", ylabel="mean |log ratio|, identity blocks", yscale="log",
               title=f"how far from norm-preserving ({phase})")
        ax.legend(fontsize=8)
    ax = axes[0][-1]
    deepest = frame[(frame["phase"] == phases[-1])] if phases else frame
    for family, part in deepest.groupby("family"):
        part = part[part["depth"] == part["depth"].max()]
        ax.plot(part["position"], part["ratio"], ".", label=f"{family}{part['depth'].max()}")
    ax.axhline(1, color="k", lw=0.8)
    ax.set(xlabel="block (input to output)", ylabel="||dE/dx_in|| / ||dE/dx_out||",
           yscale="log", title="every block of the deepest nets")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_figure(path, fig, dpi=100)
    plt.close(fig)


def judged(out: Path, budget="cpu") -> list[dict]:
    """The verdict rows the rule gives on the measurements in ``out``, without writing."""
    from zoo.studies import claims as verdicts

    out = Path(out)
    _, spec = base.resolve(BUDGETS, budget)
    frame, diverged = ratio_frame(out, spec)
    return verdicts.judge(claims(spec), measurements(
        ratio_summary(frame), accuracy_frame(out, spec), compare_frame(out, spec), spec,
        diverged, base.run_finished(out, budget)))


def report(out: Path, *, budget="cpu") -> dict:
    """ratios.csv, ratio_summary.csv, diverged.csv, accuracy.csv, compare.csv, summary.json
    (with the claims and their verdicts), report.md and plots.png in ``out``."""
    from zoo.studies import claims as verdicts

    out = Path(out)
    budget, spec = base.resolve(BUDGETS, budget)
    frame, diverged = ratio_frame(out, spec)
    acc = accuracy_frame(out, spec)
    comp = compare_frame(out, spec)
    if frame.empty and acc.empty and comp.empty:
        raise ValueError(f"no measurements under {out}: run the study first")
    summary_t = ratio_summary(frame)
    one_epoch = ratio_models_frame(out, spec)
    comp_t = compare_table(comp)
    tables = {"ratios": frame, "ratio_summary": summary_t, "diverged": diverged,
              "accuracy": acc, "ratio_models": one_epoch, "compare": comp,
              "compare_summary": comp_t}
    rows = verdicts.judge(claims(spec), measurements(summary_t, acc, comp, spec, diverged,
                                                     base.run_finished(out, budget)))
    summary = base.summary_head(
        NAME, budget, spec, rows=rows, paper=PAPER, paper_params=PAPER_PARAMS,
        diverged=int(len(diverged)),
        splits={"test_accuracy": "the whole test split, one evaluation pass after "
                                 "training; no validation (fixed recipe)",
                "ratios": f"{spec.ratio_examples} test images"})
    lines = [*base.report_head(NAME, TITLE, budget, spec),
             "## Verdicts (computed by zoo.studies.claims; Holm over the study's "
             f"{rows[0]['tests_in_family'] if rows else 0} tests)", "",
             verdicts.markdown(rows), "",
             "## ProcResNet vs PreResNet of the same units per stage (the paper's comparison)",
             "", base.markdown(comp_t), "",
             "## How far each network is from norm-preserving", "", base.markdown(summary_t), "",
             "## Runs that diverged in their one epoch", "", base.markdown(diverged), "",
             "## Test accuracy after the one epoch", "", base.markdown(one_epoch), "",
             "## Ablation: ProcResNet with vs without projection", "", base.markdown(acc), ""]
    return base.write_report(out, tables, summary, lines, plot=None if frame.empty else
                             lambda path: plot(summary_t, frame, path))
